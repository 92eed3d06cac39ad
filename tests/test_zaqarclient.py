"""python-zaqarclient 4.7 (API v2, HTTP transport) against the real in-process service.

The client is synchronous (requests), so each scenario runs in a thread while the reactor
keeps serving the service.
"""

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread


def make_client(api):
    from zaqarclient.queues import client

    return client.Client(
        api.url,
        version=2,
        conf={"auth_opts": {"backend": "noauth", "options": {"os_project_id": api.project}}},
    )


def in_thread(function, *args):
    return deferToThread(function, *args)


@pytest_twisted.ensureDeferred
async def test_queues(api):
    """Create, metadata get and update, stats, list with pagination, delete."""

    def scenario():
        zaqar = make_client(api)
        queue = zaqar.queue("jobs", force_create=True)
        assert queue.exists()
        assert queue.metadata(force_reload=True)["_default_message_ttl"] == 3600
        queue.metadata(new_meta={"color": "red", "_default_message_ttl": 600})
        metadata = queue.metadata(force_reload=True)
        assert metadata["color"] == "red"
        assert metadata["_default_message_ttl"] == 600
        queue.metadata(new_meta={"size": 2})
        metadata = queue.metadata(force_reload=True)
        assert "color" not in metadata
        assert metadata["size"] == 2
        assert metadata["_default_message_ttl"] == 3600
        queue.post([{"body": index} for index in range(3)])
        stats = queue.stats["messages"]
        assert (stats["free"], stats["claimed"], stats["total"]) == (3, 0, 3)
        for index in range(4):
            zaqar.queue(f"extra-{index}", force_create=True)
        queues, count = zaqar.queues(limit=2)
        assert count is None
        names = [q.name for q in queues.stream()]
        assert names == ["extra-0", "extra-1", "extra-2", "extra-3", "jobs"]
        detailed = list(zaqar.queues(detailed=True)[0])
        assert detailed[-1].metadata()["size"] == 2
        assert zaqar.queues(with_count=True)[1] == 5
        queue.delete()
        assert [q.name for q in zaqar.queues()[0]] == [f"extra-{index}" for index in range(4)]
        assert queue.stats["messages"]["total"] == 0

    await in_thread(scenario)


@pytest_twisted.ensureDeferred
async def test_messages(api):
    """Post, list with pagination, get, bulk get, delete, bulk delete, pop."""

    def scenario():
        zaqar = make_client(api)
        queue = zaqar.queue("work")
        result = queue.post([{"body": {"n": index}, "ttl": 300} for index in range(5)])
        ids = [href.rsplit("/", 1)[1] for href in result["resources"]]
        assert len(ids) == 5
        listed = list(queue.messages(echo=True, limit=2).stream())
        assert [message.id for message in listed] == ids
        assert [message.body for message in listed] == [{"n": index} for index in range(5)]
        assert listed[0].ttl == 300
        one = queue.message(ids[0])
        assert (one.id, one.body, one.age) == (ids[0], {"n": 0}, 0)
        bulk = list(queue.messages(ids[1], ids[2]))
        assert sorted(message.body["n"] for message in bulk) == [1, 2]
        one.delete()
        queue.delete_messages(ids[1], ids[2])
        assert [message.id for message in queue.messages(echo=True)] == ids[3:]
        popped = list(queue.pop(1))
        assert [message.id for message in popped] == [ids[3]]
        assert popped[0].body == {"n": 3}
        assert [message.id for message in queue.messages(echo=True)] == [ids[4]]

    await in_thread(scenario)


@pytest_twisted.ensureDeferred
async def test_claims(api):
    """Claim (with and without ttl/grace), get as age grows, update, delete with claim, release."""

    def post(queue):
        queue.post([{"body": index} for index in range(3)])

    def claim_some(queue):
        claim = queue.claim(ttl=120, grace=60, limit=2)
        messages = list(claim)
        assert [message.body for message in messages] == [0, 1]
        assert all(message.claim_id == claim.id for message in messages)
        return claim, messages

    zaqar = make_client(api)
    queue = zaqar.queue("tasks")
    await in_thread(post, queue)
    claim, messages = await in_thread(claim_some, queue)
    assert await in_thread(lambda: claim.age) == 0
    api.advance(2)

    def inspect_and_update():
        assert claim.age == 2
        assert claim.ttl == 120
        claim.update(ttl=300, grace=60)
        fresh = queue.claim(id=claim.id)
        assert fresh.ttl == 300
        assert [message.id for message in fresh] == [message.id for message in messages]
        messages[0].delete()
        assert [message.body for message in queue.messages(echo=True)] == [2]
        defaults = queue.claim()
        assert [message.body for message in defaults] == [2]
        assert defaults.ttl == 300
        defaults.delete()
        claim.delete()
        assert sorted(m.body for m in queue.messages(echo=True)) == [1, 2]
        empty = zaqar.queue("nothing").claim()
        assert empty.id is None
        assert list(empty) == []

    await in_thread(inspect_and_update)


@pytest_twisted.ensureDeferred
async def test_subscriptions(api):
    """Subscribe (a duplicate gets the same id), list with pagination, get, update, delete,
    and the client's errors for bad input and missing subscriptions."""
    from zaqarclient.transport import errors

    def scenario():
        zaqar = make_client(api)
        hook = zaqar.subscription("events", subscriber="http://127.0.0.1:9/hook", ttl=600,
                                  options={"k": 1})
        assert hook.id
        assert (hook.subscriber, hook.ttl, hook.options, hook.age, hook.confirmed) == (
            "http://127.0.0.1:9/hook", 600, {"k": 1}, 0, False)
        again = zaqar.subscription("events", subscriber="http://127.0.0.1:9/hook", ttl=60)
        assert (again.id, again.ttl) == (hook.id, 600)
        others = [zaqar.subscription("events", subscriber=f"https://example.com/{n}", ttl=120)
                  for n in range(3)]
        queue = zaqar.queue("events")
        listed = list(queue.subscriptions(limit=2).stream())
        assert sorted(s.id for s in listed) == sorted([hook.id] + [s.id for s in others])
        by_id = {s.id: s for s in listed}
        assert (by_id[hook.id].queue_name, by_id[hook.id].options) == ("events", {"k": 1})
        assert [s.id for s in zaqar.subscriptions("events", limit=1)] == [min(by_id)]

        hook.update({"ttl": 900, "options": {"k": 2}})
        fresh = zaqar.subscription("events", id=hook.id)
        assert (fresh.ttl, fresh.options) == (900, {"k": 2})
        hook.delete()
        try:
            zaqar.subscription("events", id=hook.id)
        except errors.ResourceNotFound:
            pass
        else:
            raise AssertionError("a deleted subscription was found")
        assert len(list(queue.subscriptions())) == 3
        try:
            zaqar.subscription("events", subscriber="fake://nowhere", ttl=600)
        except errors.MalformedRequest as error:
            assert "subscriber type" in str(error)
        else:
            raise AssertionError("an unsupported subscriber was accepted")
        try:
            zaqar.subscription("events", subscriber="https://example.com/x", ttl=30)
        except errors.MalformedRequest as error:
            assert "at least 60 seconds" in str(error)
        else:
            raise AssertionError("a 30-second subscription was accepted")
        queue.purge(resource_types=["subscriptions"])
        assert list(queue.subscriptions()) == []

    await in_thread(scenario)


@pytest.mark.zaqar_config(("signed_url", "secret_key", "zaqarclient"))
@pytest_twisted.ensureDeferred
async def test_signed_url_backend(api):
    """A queue shared with ``Queue.signed_url`` is read and written by a client of the
    ``signed-url`` auth backend; the URL opens no other queue, and a ``project_id`` in the
    share request is refused as an unknown key (as the reference does)."""

    def scenario():
        from zaqarclient.queues import client
        from zaqarclient.queues.v2 import core
        from zaqarclient.transport import errors

        owner = make_client(api)
        queue = owner.queue("shared")
        queue.post([{"body": "from the owner", "ttl": 300}])
        signed = queue.signed_url(methods=["GET", "POST"])
        assert signed["paths"] == ["/v2/queues/shared/messages"]
        assert signed["methods"] == ["GET", "POST"]
        bearer = client.Client(api.url, version=2, conf={"auth_opts": {
            "backend": "signed-url",
            "options": {"paths": signed["paths"], "methods": signed["methods"],
                        "expires": signed["expires"], "signature": signed["signature"],
                        "os_project_id": signed["project"]},
        }})
        shared = bearer.queue("shared")
        shared.post([{"body": "from the bearer", "ttl": 300}])
        bodies = [message.body for message in shared.messages(echo=True)]
        assert bodies == ["from the owner", "from the bearer"]
        try:
            list(bearer.queue("other").messages())
        except errors.ResourceNotFound:
            pass
        else:
            raise AssertionError("a URL for one queue opened another")
        request, transport = owner._request_and_transport()
        try:
            core.signed_url_create(transport, request, "shared", project_id="elsewhere")
        except errors.MalformedRequest as error:
            assert "Unknown keys: {'project_id'}" in str(error)
        else:
            raise AssertionError("a share naming project_id was accepted")

    await in_thread(scenario)
