"""The pre-signed URL signer and authenticator (spec 3.12): Zaqar's signatures byte for byte,
verification on segment boundaries, expiry on the injected clock, key rotation."""

import pytest
import pytest_twisted
from twisted.internet.task import Clock
from zope.interface.verify import verifyObject

from tests.signed import url_headers
from zaqar_tw.auth.noauth import NoAuth
from zaqar_tw.auth.signed_url import (
    SignedUrlAuthenticator,
    UrlSigner,
    covers,
    parse_expiry,
    signature,
)
from zaqar_tw.config import Config
from zaqar_tw.context import Grant, RequestContext
from zaqar_tw.errors import InvalidSignature
from zaqar_tw.interfaces import IAuthenticator

START = 1_700_000_000  # 2023-11-14T22:13:20Z
CLIENT = "3381af92-2b9e-11e3-b191-71861300734c"

# Computed with OpenStack Zaqar 23.0.1 (zaqar.common.urls.create_signed_url) for these inputs:
# (key, paths, methods, project, expires as given, expires as signed, signature).
ZAQAR_VECTORS = [
    ("secret", ["/v2/queues/q/messages"], ["GET"], "p1", "2099-01-01T00:00:00",
     "2099-01-01T00:00:00",
     "ef6cd899b20a4e345afbe96fff0de865040a274c4264d4e58a7570b17deed97b"),
    ("s3cr3t-key",
     ["/v2/queues/jobs/subscriptions", "/v2/queues/jobs/claims", "/v2/queues/jobs/messages"],
     ["POST", "DELETE", "GET"], "7f3c2e1d9a8b4c5d", "2031-06-15T12:30:45",
     "2031-06-15T12:30:45",
     "6308307fbe2b7426dea220755a1d54f83c11d383f56801b47477c88aab261ad1"),
    ("clé-ünï", ["/v2/queues/a.b/messages"], ["PUT"], "projét", "2099-12-31T23:59:59",
     "2099-12-31T23:59:59",
     "e5e2225bae1febc79e153d45eca558b47df86d6fbf1043d1a28bdd566c172457"),
    ("k", ["/v2/queues/q/subscriptions/5f1c/confirm"], ["PUT"], "p",
     "2099-01-01T02:00:00+02:00", "2099-01-01T00:00:00",
     "74d8cf38dbab9e67cf3df948dd524bb08ffae16b97e7a2e9000bf7bc5c0d1ef7"),
]


def clock_at(seconds=START):
    clock = Clock()
    clock.advance(seconds)
    return clock


def headers_of(signed, **changes):
    """The lowercase headers (as the authenticator gets them) presenting the URL ``signed``,
    with ``changes`` (lowercase names; ``None`` removes one)."""
    headers = {name.lower(): value for name, value in url_headers(signed).items()}
    headers.update(changes)
    return {name: value for name, value in headers.items() if value is not None}


@pytest.mark.parametrize("key, paths, methods, project, given, expires, hexdigest",
                         ZAQAR_VECTORS)
def test_signatures_are_zaqars(key, paths, methods, project, given, expires, hexdigest):
    """Our signer gives Zaqar 23.0.1's signature for the same inputs (paths and methods in
    any order, expiry normalised to UTC), and verifies it."""
    assert signature(key, paths, methods, project, expires) == hexdigest
    signer = UrlSigner(clock_at(), key)
    signed = signer.sign(list(paths), list(methods), project, given)
    assert signed == {
        "paths": sorted(paths), "methods": sorted(methods), "project": project,
        "expires": expires, "signature": hexdigest,
    }
    grant, _ = signer.verify(headers_of(signed), sorted(methods)[0], sorted(paths)[0])
    assert grant == Grant(project, tuple(sorted(paths)), tuple(sorted(methods)), expires)


def test_separator_is_backslash_n():
    """The fields are joined by the two characters backslash and n, not a newline."""
    import hashlib
    import hmac

    text = b"/a\\nGET\\np\\n2099-01-01T00:00:00"
    assert signature("k", ["/a"], ["GET"], "p", "2099-01-01T00:00:00") == hmac.new(
        b"k", text, hashlib.sha256).hexdigest()


def test_default_expiry_is_a_day_on_the_clock():
    """Without an expiry, a URL expires a day after the clock's now, to the second."""
    signer = UrlSigner(clock_at(START + 0.75), "k")
    assert signer.sign(["/p"], ["GET"], "p")["expires"] == "2023-11-15T22:13:20"


@pytest.mark.parametrize("value, text", [
    (12345, "`expires` should be date format, for example 2016-01-01T00:00:00, not integer "
            "value: 12345"),
    ("12345", "`expires` should be date format, for example 2016-01-01T00:00:00, not integer "
              "value: 12345"),
    (1.5, "`expires` should be date format, for example 2016-01-01T00:00:00, not integer "
          "value: 1"),
    ({"a": 1}, "`expires` should be date format, for example 2016-01-01T00:00:00"),
    (["2099-01-01"], "`expires` should be date format, for example 2016-01-01T00:00:00"),
    ("foo", "Unable to parse date string 'foo'"),
    ("0", "Unable to parse date string '0'"),
    ("2099-13-01T00:00:00", "Unable to parse date string '2099-13-01T00:00:00'"),
    ("9999-12-31T23:00:00-02:00", "Unable to parse date string '9999-12-31T23:00:00-02:00'"),
])
def test_malformed_expiry(value, text):
    """Expiries the reference refuses are refused with its texts; what it fails on with a
    500 (objects, lists, a year past 9999 in UTC) gets one of them too."""
    with pytest.raises(ValueError) as raised:
        parse_expiry(value)
    assert str(raised.value) == text


@pytest.mark.parametrize("value, expires", [
    ("2099-01-01", "2099-01-01T00:00:00"),
    ("2099-01-01T00:00:00.123456", "2099-01-01T00:00:00"),
    ("2099-01-01T00:00:00Z", "2099-01-01T00:00:00"),
    ("2099-01-01T02:00:00+02:00", "2099-01-01T00:00:00"),
    ("2099-01-01 00:00:00", "2099-01-01T00:00:00"),
    ("20990101T000000", "2099-01-01T00:00:00"),
])
def test_expiry_forms(value, expires):
    """The ISO 8601 forms the reference accepts sign as the same UTC second."""
    assert UrlSigner(clock_at(), "k").sign(["/p"], ["GET"], "p", value)["expires"] == expires


def test_past_expiry_and_missing_key():
    """An expiry not after now, or signing without a key, is refused with the texts."""
    signer = UrlSigner(clock_at(), "k")
    with pytest.raises(ValueError, match="^`expires` is lower than the current time$"):
        signer.sign(["/p"], ["GET"], "p", "2023-11-14T22:13:20")
    signer.sign(["/p"], ["GET"], "p", "2023-11-14T22:13:21")
    with pytest.raises(ValueError, match="^The `key` can't be None$"):
        UrlSigner(clock_at(), None, ["old"]).sign(["/p"], ["GET"], "p")


@pytest.mark.parametrize("signed, path, expected", [
    ("/v2/queues/q/messages", "/v2/queues/q/messages", True),
    ("/v2/queues/q/messages", "/v2/queues/q/messages/5f1c", True),
    ("/v2/queues/q/messages", "/v2/queues/q/messages2", False),
    ("/v2/queues/q/messages", "/v2/queues/qq/messages", False),
    ("/v2/queues/a.c/messages", "/v2/queues/abc/messages", False),
    ("/v2/queues/q/messages", "/x/v2/queues/q/messages", False),
    ("/v2/queues/q/", "/v2/queues/q/claims", True),
    ("", "/v2/queues/q/messages", False),
])
def test_paths_cover_on_segment_boundaries(signed, path, expected):
    """A signed path covers itself and what lies below it, compared as text: no regular
    expression (a dot matches only a dot), no match in the middle of a path or a segment."""
    assert covers(signed, path) is expected


def test_rotation():
    """The signing key and the previous keys verify; a key in neither does not; only the
    signing key signs."""
    clock = clock_at()
    old = UrlSigner(clock, "old").sign(["/v2/queues/q/messages"], ["GET"], "p")
    rotated = UrlSigner(clock, "new", ["older", "old"])
    rotated.verify(headers_of(old), "GET", "/v2/queues/q/messages")
    new = rotated.sign(["/v2/queues/q/messages"], ["GET"], "p")
    assert new["signature"] == signature("new", new["paths"], ["GET"], "p", new["expires"])
    rotated.verify(headers_of(new), "GET", "/v2/queues/q/messages")
    with pytest.raises(InvalidSignature):
        UrlSigner(clock, "new", ["older"]).verify(headers_of(old), "GET", "/v2/queues/q/messages")
    with pytest.raises(InvalidSignature):
        UrlSigner(clock).verify(headers_of(old), "GET", "/v2/queues/q/messages")


@pytest.mark.parametrize("change", [
    {"url-signature": None},
    {"x-project-id": None},
    {"x-project-id": ""},
    {"x-project-id": "other"},
    {"url-methods": "GET,POST"},
    {"url-paths": "/v2/queues/q/messages,/v2/queues/q/claims"},
    {"url-expires": "2023-11-16T00:00:00"},
    {"url-expires": None},
    {"url-expires": "soon"},
    {"url-signature": "0" * 64},
    {"url-signature": "é"},
    {"url-signature": ""},
])
def test_any_change_is_refused(change):
    """Headers missing or changed after signing make the URL invalid."""
    signer = UrlSigner(clock_at(), "k")
    signed = signer.sign(["/v2/queues/q/messages"], ["GET"], "p")
    with pytest.raises(InvalidSignature):
        signer.verify(headers_of(signed, **change), "GET", "/v2/queues/q/messages")


def test_expires_on_the_clock():
    """A URL holds until its expiry second on the injected clock, not at it."""
    clock = clock_at()
    signer = UrlSigner(clock, "k")
    signed = signer.sign(["/v2/queues/q/messages"], ["GET"], "p", "2023-11-14T22:14:20")
    clock.advance(59.9)
    signer.verify(headers_of(signed), "GET", "/v2/queues/q/messages")
    clock.advance(0.1)
    with pytest.raises(InvalidSignature):
        signer.verify(headers_of(signed), "GET", "/v2/queues/q/messages")


def test_authenticator_provides_the_interface():
    """The pre-signed URL authenticator provides IAuthenticator."""
    config = Config()
    verifyObject(IAuthenticator, SignedUrlAuthenticator(
        NoAuth(None, config), UrlSigner.from_config(config, clock_at()), config))


@pytest_twisted.ensureDeferred
async def test_authenticator_context():
    """A pre-signed request is the signed project's, with no roles (X-Roles is not read),
    the URL's expiry and its grant; any other request goes to the inner authenticator."""
    config = Config()
    config.set("signed_url", "secret_key", "k")
    clock = clock_at()
    signer = UrlSigner.from_config(config, clock)
    auth = SignedUrlAuthenticator(NoAuth(None, config), signer, config)
    signed = signer.sign(["/v2/queues/q/messages"], ["GET"], "p")
    ctx = await auth.authenticate(headers_of(signed, **{"x-roles": "admin", "client-id": CLIENT}),
                                  "GET", "/v2/queues/q/messages")
    assert ctx == RequestContext(
        project="p", client_id=CLIENT, expires=START + 86400,
        grant=Grant("p", ("/v2/queues/q/messages",), ("GET",), "2023-11-15T22:13:20"),
    )
    plain = await auth.authenticate({"client-id": CLIENT, "x-project-id": "p",
                                     "x-roles": "admin"}, "GET", "/v2/queues/q/messages")
    assert plain == RequestContext(project="p", client_id=CLIENT, roles=("admin",))


# The service's composition (zaqar_tw.service.makeService).

CLOSED_DOOR = '''
from twisted.internet.defer import fail, succeed
from zope.interface import implementer

from zaqar_tw.context import RequestContext
from zaqar_tw.errors import Unauthorized
from zaqar_tw.interfaces import IAuthenticator


@implementer(IAuthenticator)
class PingOnly:
    """Lets GET /v2/ping through and refuses every other request."""

    def __init__(self, reactor, config, clock):
        pass

    def authenticate(self, headers, method, path):
        if (method, path) == ("GET", "/v2/ping"):
            return succeed(RequestContext(project=headers["x-project-id"],
                                          client_id=headers["client-id"]))
        return fail(Unauthorized())
'''


@pytest_twisted.ensureDeferred
async def test_service_checks_urls_before_any_auth_strategy(tmp_path, monkeypatch):
    """The service puts pre-signed URLs in front of whatever ``auth_strategy`` names: with
    a provider that refuses everything, a URL signed with a previous key still reads its
    queue, and a bad one is 404 (not the provider's 401)."""
    from twisted.internet import reactor

    from tests.configured import configured_service
    from tests.filters.distribution import install

    install(tmp_path / "dist", monkeypatch, {"zaqar_tw.auth": {"ping_only": "closed:PingOnly"}},
            {"closed": CLOSED_DOOR})
    sections = (
        "[DEFAULT]\nauth_strategy = ping_only\n"
        "[signed_url]\nsecret_key = new\nprevious_secret_keys = old\n"
    )
    async with configured_service(tmp_path, sections) as client:
        status, body = await client.request("GET", "/v2/queues/q/messages")
        assert status == 401
        signed = UrlSigner(reactor, "old").sign(["/v2/queues/q/messages"], ["GET"],
                                                client.project)
        headers = {"URL-Signature": signed["signature"], "URL-Expires": signed["expires"],
                   "URL-Methods": "GET", "URL-Paths": "/v2/queues/q/messages"}
        status, body = await client.request("GET", "/v2/queues/q/messages", headers=headers)
        assert (status, body) == (200, {"messages": [], "links": []})
        status, body = await client.request(
            "GET", "/v2/queues/q/messages", headers={**headers, "URL-Signature": "0" * 64})
        assert (status, body) == (404, {"title": "404 Not Found"})
