"""No-auth identity and the default policy, as providers of their interfaces."""

import pytest
import pytest_twisted
from zope.interface.verify import verifyObject

from zaqar_tw.auth.noauth import NoAuth
from zaqar_tw.auth.policy import DefaultPolicy
from zaqar_tw.config import Config
from zaqar_tw.context import RequestContext
from zaqar_tw.errors import Forbidden
from zaqar_tw.interfaces import IAuthenticator, IPolicy


def test_providers_verify():
    """NoAuth provides IAuthenticator and DefaultPolicy provides IPolicy."""
    verifyObject(IAuthenticator, NoAuth(None, Config()))
    verifyObject(IPolicy, DefaultPolicy())


@pytest_twisted.ensureDeferred
async def test_noauth_context():
    """Project from X-Project-ID, roles from X-Roles, Client-ID normalised to dashed form."""
    ctx = await NoAuth(None, Config()).authenticate(
        {"client-id": "3381AF922B9E11E3B19171861300734C", "x-project-id": "p",
         "x-roles": "admin, reader"},
        "GET",
        "/v2/queues",
    )
    assert ctx == RequestContext(project="p", client_id="3381af92-2b9e-11e3-b191-71861300734c",
                                 roles=("admin", "reader"))
    assert ctx.is_admin


def test_default_policy_rules():
    """Open rules pass everyone; admin rules need the admin role; "!" denies everyone."""
    policy = DefaultPolicy()
    reader = RequestContext(project="p", client_id="c", roles=("reader",))
    admin = RequestContext(project="p", client_id="c", roles=("admin",))
    policy.enforce("queues:create", reader)
    policy.enforce("health:get", admin)
    with pytest.raises(Forbidden):
        policy.enforce("health:get", reader)
    closed = DefaultPolicy({"queues:create": "!", "queues:get": "role:a or role:admin"})
    with pytest.raises(Forbidden):
        closed.enforce("queues:create", admin)
    closed.enforce("queues:get", admin)
