"""Section 1.1 (and 1.9) of the wire contract: versions, JSON-Home, ping and health."""

import json

import pytest
import pytest_twisted

QUEUE_RELS = {
    "rel/queues", "rel/queue", "rel/queue_stats", "rel/queue_share", "rel/queue_purge",
    "rel/messages", "rel/post_messages", "rel/messages_delete", "rel/message_delete",
    "rel/message_get", "rel/claim", "rel/post_claim", "rel/patch_claim", "rel/delete_claim",
    "rel/subscriptions_get", "rel/subscriptions_post", "rel/subscription",
    "rel/subscription_patch", "rel/ping",
}
ADMIN_RELS = {"rel/health"}  # pools and flavors are not built yet: not advertised
OPERATIONS = {
    "create_queue", "post_messages", "claim_messages", "list_messages", "delete_messages",
    "delete_claim", "bulk_delete_messages", "delete_queue",
}


@pytest.mark.parametrize("identify", [False, True])
@pytest_twisted.ensureDeferred
async def test_versions(api, identify):
    """``GET /`` answers 300 with the version list, with or without headers."""
    reply = await api.get("/", identify=identify)
    assert reply.status == 300
    assert reply.headers["content-type"] == "application/json"
    assert reply.json == {
        "versions": [
            {
                "id": "2",
                "status": "CURRENT",
                "updated": "2014-9-24T04:06:47Z",
                "media-types": [
                    {"base": "application/json",
                     "type": "application/vnd.openstack.messaging-v2+json"}
                ],
                "links": [{"href": "/v2/", "rel": "self"}],
            }
        ]
    }


@pytest_twisted.ensureDeferred
async def test_versions_still_checks_accept(api):
    """``GET /`` skips identity but not the Accept check."""
    reply = await api.get("/", identify=False, headers={"Accept": "text/html"})
    assert reply.status == 406


@pytest_twisted.ensureDeferred
async def test_json_home(api):
    """``GET /v2/`` answers the JSON-Home document, 4-space indented and cacheable."""
    reply = await api.get("/v2/")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json-home"
    assert reply.headers["cache-control"] == "max-age=86400"
    assert reply.body.startswith(b'{\n    "resources": {\n        "rel/')
    resources = json.loads(reply.body)["resources"]
    assert set(resources) == QUEUE_RELS
    assert resources["rel/queues"] == {
        "href-template": "/v2/queues{?marker,limit,detailed}",
        "href-vars": {"marker": "param/marker", "limit": "param/limit",
                      "detailed": "param/detailed"},
        "hints": {"allow": ["GET"], "formats": {"application/json": {}}},
    }
    assert resources["rel/messages"]["href-template"] == (
        "/v2/queues/{queue_name}/messages{?marker,limit,echo,include_claimed}"
    )
    assert resources["rel/subscription"]["href-vars"]["subscriptions_id"] == (
        "param/subscriptions_id"
    )
    assert resources["rel/queue"]["hints"]["allow"] == ["GET", "PUT", "DELETE", "PATCH"]


@pytest_twisted.ensureDeferred
async def test_json_home_accept_post_only_on_post_or_patch_only_rels(api):
    """Only rels whose one method is POST or PATCH carry ``hints.accept-post``."""
    resources = json.loads((await api.get("/v2/")).body)["resources"]
    with_accept_post = {
        name for name, rel in resources.items() if "accept-post" in rel["hints"]
    }
    assert with_accept_post == {
        "rel/queue_share", "rel/queue_purge", "rel/post_messages", "rel/post_claim",
        "rel/patch_claim", "rel/subscriptions_post", "rel/subscription_patch",
    }
    for name in with_accept_post:
        assert resources[name]["hints"]["accept-post"] == ["application/json"]


@pytest.mark.zaqar_config(("DEFAULT", "admin_mode", "true"))
@pytest_twisted.ensureDeferred
async def test_json_home_in_admin_mode(api):
    """Admin mode adds the health rel (not pools and flavors, which are not served)."""
    resources = json.loads((await api.get("/v2/")).body)["resources"]
    assert set(resources) == QUEUE_RELS | ADMIN_RELS
    assert resources["rel/health"]["href"] == "/v2/health"
    assert "href-template" not in resources["rel/health"]


# Every value a template variable of the JSON-Home document takes in the test below.
SAMPLE_VARS = {"queue_name": "q", "message_id": "0c4f9f5e-8b3f-4a55-9f0b-5d2f0c7e6a1b",
               "claim_id": "1c4f9f5e-8b3f-4a55-9f0b-5d2f0c7e6a1b",
               "subscriptions_id": "2c4f9f5e-8b3f-4a55-9f0b-5d2f0c7e6a1b"}


@pytest.mark.zaqar_config(("DEFAULT", "admin_mode", "true"))
@pytest_twisted.ensureDeferred
async def test_every_advertised_rel_is_served(api):
    """Each method of each rel of the JSON-Home document (admin mode: all of them) reaches
    an operation: never the router's 404 nor a 405."""
    resources = json.loads((await api.get("/v2/")).body)["resources"]
    for name, rel in resources.items():
        path = rel.get("href") or rel["href-template"].split("{?")[0].format(**SAMPLE_VARS)
        for method in rel["hints"]["allow"]:
            reply = await api.request(method, path, json={} if method != "GET" else None,
                                      headers={"X-Roles": "admin"})
            assert reply.status != 405, (name, method, reply.status)
            assert not (reply.status == 404 and reply.json == {"title": "404 Not Found"}), (
                name, method, path)


# Ping.


@pytest_twisted.ensureDeferred
async def test_ping(api):
    """GET and HEAD ``/v2/ping`` answer 204 without a body when the store answers."""
    for method in ("GET", "HEAD"):
        reply = await api.request(method, "/v2/ping")
        assert reply.status == 204
        assert reply.body == b""


@pytest_twisted.ensureDeferred
async def test_ping_needs_identity(api):
    """Ping is no exception to the header checks."""
    reply = await api.get("/v2/ping", identify=False)
    assert reply.status == 400


@pytest_twisted.ensureDeferred
async def test_ping_when_the_store_is_down(api, storage):
    """GET ping answers 503 without a body when the store is unreachable; HEAD still 204."""
    await storage.close()
    reply = await api.get("/v2/ping")
    assert reply.status == 503
    assert reply.body == b""
    assert (await api.head("/v2/ping")).status == 204


# Health.


@pytest.mark.zaqar_config(("DEFAULT", "admin_mode", "true"))
@pytest_twisted.ensureDeferred
async def test_health_for_admins(api):
    """In admin mode, an admin gets the detailed health of every operation."""
    reply = await api.get("/v2/health", headers={"X-Roles": "admin"})
    assert reply.status == 200
    assert reply.json["storage_reachable"] is True
    assert set(reply.json["operation_status"]) == OPERATIONS
    for status in reply.json["operation_status"].values():
        assert status["succeeded"] is True
        assert status["ref"] is None


@pytest.mark.zaqar_config(("DEFAULT", "admin_mode", "true"))
@pytest_twisted.ensureDeferred
async def test_health_refuses_non_admins(api):
    """Health is for admins only."""
    reply = await api.get("/v2/health", headers={"X-Roles": "member, reader"})
    assert reply.status == 403
    assert reply.error == ("Not authorized", "You are not authorized to complete this action.")
