"""No-auth identity, as a provider of its interface."""

import pytest_twisted
from zope.interface.verify import verifyObject

from zaqar_tw.auth.noauth import NoAuth
from zaqar_tw.config import Config
from zaqar_tw.context import RequestContext
from zaqar_tw.interfaces import IAuthenticator


def test_provider_verifies():
    """NoAuth provides IAuthenticator."""
    verifyObject(IAuthenticator, NoAuth(None, Config()))


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
