"""CORS (the ``[cors]`` options): preflight grants and the headers of actual requests (a real
browser's view is in test_cors_browser.py)."""

import pytest
import pytest_twisted

PAGE_ORIGIN = "http://127.0.0.1:7"  # an origin the tests only name, never serve
ALLOWED = pytest.mark.zaqar_config(("cors", "allowed_origin", f"{PAGE_ORIGIN}, http://b.test"))


def preflight(method="POST", headers="Client-ID,X-Project-ID,Content-Type",
              origin=PAGE_ORIGIN):
    """The headers of a browser's preflight request."""
    sent = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        sent["Access-Control-Request-Headers"] = headers
    return sent


@pytest_twisted.ensureDeferred
async def test_off_by_default(api):
    """Without allowed origins, no CORS header is sent, to a preflight or a request."""
    reply = await api.request("OPTIONS", "/v2/queues/q/messages", headers=preflight(),
                              identify=False)
    assert reply.status == 200
    assert not [name for name in reply.headers if name.startswith("access-control-")]
    reply = await api.get("/v2/queues", headers={"Origin": PAGE_ORIGIN})
    assert not [name for name in reply.headers if name.startswith("access-control-")]


@ALLOWED
@pytest_twisted.ensureDeferred
async def test_preflight_from_an_allowed_origin_is_granted(api):
    """An allowed origin, method and headers: 200, empty, granted as asked."""
    reply = await api.request("OPTIONS", "/v2/queues/q/messages", headers=preflight(),
                              identify=False)
    assert (reply.status, reply.body) == (200, b"")
    assert reply.headers["access-control-allow-origin"] == PAGE_ORIGIN
    assert reply.headers["access-control-allow-methods"] == "POST"
    assert reply.headers["access-control-allow-headers"] == "Client-ID,X-Project-ID,Content-Type"
    assert reply.headers["access-control-allow-credentials"] == "true"
    assert reply.headers["access-control-max-age"] == "3600"
    assert "Origin" in reply.headers["vary"]


@ALLOWED
@pytest.mark.parametrize(
    "asked",
    [
        preflight(origin="http://evil.test"),
        preflight(method="TRACE"),
        preflight(headers="Client-ID,X-Sneaky"),
    ],
    ids=["origin", "method", "header"],
)
@pytest_twisted.ensureDeferred
async def test_preflight_asking_too_much_is_not_granted(api, asked):
    """Another origin, an unlisted method or an unlisted header: 200 without grants."""
    reply = await api.request("OPTIONS", "/v2/queues/q/messages", headers=asked,
                              identify=False)
    assert reply.status == 200
    assert "access-control-allow-origin" not in reply.headers
    assert "access-control-allow-methods" not in reply.headers


@ALLOWED
@pytest_twisted.ensureDeferred
async def test_actual_requests_of_an_allowed_origin_may_be_read(api):
    """Successes and errors alike carry the origin grant and the readable headers; other
    origins get nothing, and are served all the same."""
    reply = await api.put("/v2/queues/q", headers={"Origin": "http://b.test"})
    assert reply.status == 201
    assert reply.headers["access-control-allow-origin"] == "http://b.test"
    exposed = reply.headers["access-control-expose-headers"].split(",")
    assert {"X-OpenStack-Request-ID", "Location"} <= set(exposed)
    error = await api.get("/v2/queues?limit=0", headers={"Origin": "http://b.test"})
    assert error.status == 400
    assert error.headers["access-control-allow-origin"] == "http://b.test"
    assert {part.strip() for part in error.headers["vary"].split(",")} == {"Origin", "Accept"}
    other = await api.get("/v2/queues", headers={"Origin": "http://evil.test"})
    assert other.status == 200
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.zaqar_config(("cors", "allowed_origin", "*"), ("cors", "allow_credentials", "no"))
@pytest_twisted.ensureDeferred
async def test_any_origin_without_credentials_is_a_wildcard(api):
    """``*`` without credentials grants ``*``; with credentials it names the origin (browsers
    refuse a wildcard with credentials)."""
    reply = await api.get("/v2/queues", headers={"Origin": "http://any.test"})
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in reply.headers


@pytest.mark.zaqar_config(("cors", "allowed_origin", "*"))
@pytest_twisted.ensureDeferred
async def test_any_origin_with_credentials_names_the_origin(api):
    """``*`` with credentials answers with the request's own origin."""
    reply = await api.get("/v2/queues", headers={"Origin": "http://any.test"})
    assert reply.headers["access-control-allow-origin"] == "http://any.test"
    assert reply.headers["access-control-allow-credentials"] == "true"

