"""python-zaqarclient's own functional test suites (API v2 over HTTP) against a zaqar-tw process.

The client ships its functional tests as mixins (``zaqarclient/tests/queues/*.py``, classes
named ``*FunctionalTest``); upstream runs them by subclassing with ``is_functional = True``,
the HTTP transport, the server's ``url`` and ``version = 2``.  This module does the same.

The tests are synchronous testtools cases that would block an in-process reactor, so the
server is a ``twistd zaqar`` child (REST only, on the shared Redis), started once for the
module.  Upstream's tests use fixed names (project ``my-project``, queues such as
``beijing``); here every test gets a fresh project id, so runs never see each other's data.

Not run: the pool and flavor suites (``QueuesV2PoolFunctionalTest``,
``QueuesV2FlavorFunctionalTest``) need the admin pooling API (``/v2/pools``, ``/v2/flavors``),
which zaqar-tw does not serve yet.  Single upstream tests that cannot pass are skipped below,
each with its reason.
"""

import uuid

import pytest
import pytest_twisted
from zaqarclient.tests import base as client_test_base

# Modules, not classes: pytest collects every TestCase class in this module's namespace, and
# upstream's mixins must only run through the subclasses below.
from zaqarclient.tests.queues import claims, health, queues, subscriptions
from zaqarclient.transport.http import HttpTransport

from tests.processes import ZaqarProcess

REDIS_URI = "redis://127.0.0.1:6379"


@pytest_twisted.async_yield_fixture(scope="module")
async def server(tmp_path_factory):
    """One ``twistd zaqar`` child serving REST on a free port of 127.0.0.1, in admin mode
    (the health suite needs ``GET /v2/health``, served only then: spec 1.1), with a key for
    pre-signed URLs (``test_signed_url``) and a mail command, so that mailto subscribers
    are accepted as Zaqar's test suites expect."""
    process = await ZaqarProcess(
        str(tmp_path_factory.mktemp("zaqar")), REDIS_URI,
        config_text=(
            "[signed_url]\nsecret_key = zaqarclient-suites\n"
            # mailto subscriptions are accepted (a command that discards the mail)
            "[notification]\nsmtp_command = cat\n"
        ),
        extra=["--admin-mode"],
    ).start()
    yield process
    await process.stop()


@pytest.fixture(autouse=True)
def functional(request, server, monkeypatch):
    """Point the upstream suite at the child and switch its functional tests on (upstream
    reads ``ZAQARCLIENT_TEST_FUNCTIONAL`` once, at import, into ``_RUN_FUNCTIONAL``)."""
    monkeypatch.setattr(client_test_base, "_RUN_FUNCTIONAL", True)
    monkeypatch.setattr(request.cls, "url", server.url)


def upstream_skip(test, reason):
    """Upstream's ``test``, skipped here for ``reason`` (a copy: upstream's function keeps no
    mark)."""

    def skipped(self):
        test(self)

    skipped.__name__ = test.__name__
    skipped.__doc__ = test.__doc__
    return pytest.mark.skip(reason=reason)(skipped)


class FreshProject:
    """Gives each test its own project: whenever upstream's ``setUp`` assigns ``self.conf``
    (with its fixed ``my-project``), the project id becomes a fresh uuid."""

    is_functional = True
    transport_cls = HttpTransport
    version = 2

    @property
    def conf(self):
        return self._conf

    @conf.setter
    def conf(self, value):
        value["auth_opts"]["options"]["os_project_id"] = uuid.uuid4().hex
        self._conf = value

    def skipTest(self, reason):
        """Upstream skips itself only when its functional switch is off: here that is a
        failure, never a silent skip."""
        self.fail(f"upstream test skipped itself: {reason}")


class AdminHttpTransport(HttpTransport):
    """The HTTP transport, sending ``X-Roles: admin``: the no-auth way to be the admin that
    upstream's functional runs authenticate as (devstack-admin credentials)."""

    def send(self, request):
        request.headers["X-Roles"] = "admin"
        return super().send(request)


class TestQueues(FreshProject, queues.QueuesV2QueueFunctionalTest):
    upstream = queues.QueuesV2QueueFunctionalTest

    # Stale upstream tests that fail against Zaqar 23.0.1 as well; zaqar-tw answers as it does.
    test_queue_exists_functional = upstream_skip(
        upstream.test_queue_exists_functional,
        "stale upstream test: it expects InvalidOperation, which client 4.7's Queue.exists "
        "never raises (it sends HEAD /v2/queues/{name}, which answers 405 as on Zaqar 23.0.1, "
        "spec 0.1, and the client takes a 405 for True)",
    )
    test_queue_metadata_functional = upstream_skip(
        upstream.test_queue_metadata_functional,
        "stale upstream test: it expects queue metadata without the reserved "
        "_enable_encrypt_messages default, which Zaqar 23.0.1 returns too (spec 1.2, 9.1)",
    )
    test_queue_metadata_reload_functional = upstream_skip(
        upstream.test_queue_metadata_reload_functional,
        "stale upstream test: it expects queue metadata without the reserved "
        "_enable_encrypt_messages default, which Zaqar 23.0.1 returns too (spec 1.2, 9.1)",
    )


class TestClaims(FreshProject, claims.QueuesV2ClaimFunctionalTest):
    pass


class TestSubscriptions(FreshProject, subscriptions.QueuesV2SubscriptionFunctionalTest):
    pass


class TestHealth(FreshProject, health.QueuesV2HealthFunctionalTest):
    transport_cls = AdminHttpTransport  # GET /v2/health is admin-only ("health:get")
