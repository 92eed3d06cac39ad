"""Keystone behind https (a TLS relay with a self-signed certificate in front of the test
Keystone): ``cafile`` trusts its authority, ``insecure`` skips the check, and without
either the system's authorities refuse it (503)."""

import uuid

import pytest
import pytest_twisted

from zaqar_tw.config import Config
from zaqar_tw.errors import Unavailable



@pytest_twisted.async_yield_fixture
async def tls_relay(keystone):
    """A TLS relay to the session's Keystone, and its certificate."""
    from twisted.internet import reactor

    from tests.keystone.relay import KeystoneRelay, TlsIdentity

    relayed = KeystoneRelay(reactor, keystone.port, tls=TlsIdentity())
    await relayed.listen()
    yield relayed
    await relayed.close()


async def validate(relay, clock, tenants, keystone, **options):
    """Authenticate a fresh token through a Keystone authenticator reaching Keystone over
    ``relay`` with extra ``options``; returns the context."""
    from twisted.internet import reactor

    from zaqar_tw.auth.keystone import KeystoneAuth

    config = Config()
    for name, text in {**keystone.authtoken_options(relay.url), **options}.items():
        config.set("keystone_authtoken", name, text)
    auth = KeystoneAuth(reactor, config, clock)
    try:
        project, token = await tenants.member("alice")
        ctx = await auth.authenticate(
            {"x-auth-token": token, "client-id": str(uuid.uuid4())}, "GET", "/v2/queues"
        )
        assert ctx.project == project
        return ctx
    finally:
        await auth.close()


@pytest_twisted.ensureDeferred
async def test_cafile(tls_relay, clock, tenants, keystone, tmp_path):
    """With cafile naming the relay's certificate, tokens are validated over https."""
    cafile = tmp_path / "ca.pem"
    cafile.write_bytes(tls_relay.tls.certificate_pem)
    await validate(tls_relay, clock, tenants, keystone, cafile=str(cafile))
    assert tls_relay.calls("GET") == 1


@pytest_twisted.ensureDeferred
async def test_insecure(tls_relay, clock, tenants, keystone):
    """insecure = true accepts any certificate."""
    await validate(tls_relay, clock, tenants, keystone, insecure="true")


@pytest_twisted.ensureDeferred
async def test_untrusted_certificate(tls_relay, clock, tenants, keystone):
    """Without cafile or insecure, a certificate the system does not trust is refused:
    503, and no token is ever sent to it."""
    with pytest.raises(Unavailable):
        await validate(tls_relay, clock, tenants, keystone, http_request_max_retries="0")
    assert tls_relay.calls() == 0
