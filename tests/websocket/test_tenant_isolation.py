"""Tenant isolation over every route and every WebSocket action: project B, knowing the name
of project A's queue and the ids of its messages, claim and subscription, can neither see nor
change any of them.

Each case sets up project A's queue (metadata, three messages, one of them claimed, a
subscription), makes B's one request with A's names and ids, checks B's answer shows nothing
of A's, then checks A's queue is exactly as it was.
"""

import uuid

import pytest
import pytest_twisted

from tests.signed import url_headers

SECRET_BODY = "only-for-project-a"
SECRET_METADATA = "owner-a"
HOOK = "http://127.0.0.1:9/hook"  # never called: nothing is posted to A's queue afterwards


class Owned:
    """Project A's queue ``q`` and what is in it."""

    def __init__(self, ids, claim_id, claimed_id, subscription_id):
        self.ids = ids
        self.claim_id = claim_id
        self.claimed_id = claimed_id
        self.subscription_id = subscription_id

    @property
    def secrets(self):
        """What B must never see."""
        return [*self.ids, self.claim_id, self.subscription_id, SECRET_BODY, SECRET_METADATA]

    def fill(self, template):
        """``template`` (a string, or a document of strings) with A's ids put in."""
        if isinstance(template, str):
            return template.format(
                ids=",".join(self.ids), id=self.ids[-1], claimed=self.claimed_id,
                cid=self.claim_id, sid=self.subscription_id,
            )
        if isinstance(template, list):
            return [self.fill(item) for item in template]
        if isinstance(template, dict):
            return {key: self.fill(value) for key, value in template.items()}
        return template


@pytest_twisted.async_fixture
async def owned(api):
    """Project A's queue ``q``: metadata, three messages (the first one claimed) and a
    subscription."""
    assert (await api.put("/v2/queues/q", json={"owner": SECRET_METADATA})).status == 201
    posted = await api.post(
        "/v2/queues/q/messages",
        json={"messages": [{"body": {"secret": SECRET_BODY, "n": n}} for n in range(3)]},
    )
    ids = [href.rsplit("/", 1)[1] for href in posted.json["resources"]]
    claim = await api.post("/v2/queues/q/claims?limit=1", json={"ttl": 300})
    claim_id = claim.headers["location"].rsplit("/", 1)[1]
    subscribed = await api.post("/v2/queues/q/subscriptions", json={"subscriber": HOOK})
    return Owned(ids, claim_id, ids[0], subscribed.json["subscription_id"])


async def assert_untouched(api, owned):
    """A's queue is as the fixture left it."""
    metadata = await api.get("/v2/queues/q")
    assert metadata.json["owner"] == SECRET_METADATA
    stats = (await api.get("/v2/queues/q/stats")).json["messages"]
    assert (stats["total"], stats["claimed"]) == (3, 1)
    found = await api.get(f"/v2/queues/q/messages?ids={','.join(owned.ids)}")
    assert sorted(message["id"] for message in found.json["messages"]) == sorted(owned.ids)
    claim = await api.get(f"/v2/queues/q/claims/{owned.claim_id}")
    assert [message["id"] for message in claim.json["messages"]] == [owned.claimed_id]
    subscription = await api.get(f"/v2/queues/q/subscriptions/{owned.subscription_id}")
    assert subscription.json["subscriber"] == HOOK


def assert_nothing_of(owned, body, sent=()):
    """``body`` (bytes or a document) shows none of A's ids or contents, but the ids B
    itself sent (an error may repeat them)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else repr(body)
    sent = repr(sent)
    leaked = [secret for secret in owned.secrets if secret in text and secret not in sent]
    assert not leaked, f"project B saw {leaked} in {text[:300]}"


PATCH = "application/openstack-messaging-v2.0-json-patch"

# (method, path, JSON body or None, extra headers, status B gets)
REST_CASES = {
    "list queues": ("GET", "/v2/queues?detailed=true", None, {}, 200),
    "create queue": ("PUT", "/v2/queues/q", {"owner": "b"}, {}, 201),
    "get queue": ("GET", "/v2/queues/q", None, {}, 200),
    "patch queue": ("PATCH", "/v2/queues/q",
                    [{"op": "add", "path": "/metadata/owner", "value": "b"}],
                    {"Content-Type": PATCH}, 404),
    "delete queue": ("DELETE", "/v2/queues/q", None, {}, 204),
    "queue stats": ("GET", "/v2/queues/q/stats", None, {}, 200),
    "purge queue": ("POST", "/v2/queues/q/purge", {"resource_types": ["messages",
                                                                      "subscriptions"]},
                    {}, 204),
    "list messages": ("GET", "/v2/queues/q/messages?echo=true&include_claimed=true", None,
                      {}, 200),
    "get messages by id": ("GET", "/v2/queues/q/messages?ids={ids}", None, {}, 404),
    "post messages": ("POST", "/v2/queues/q/messages", {"messages": [{"body": "b"}]}, {}, 201),
    "delete messages by id": ("DELETE", "/v2/queues/q/messages?ids={ids}", None, {}, 204),
    "pop messages": ("DELETE", "/v2/queues/q/messages?pop=5", None, {}, 200),
    "get message": ("GET", "/v2/queues/q/messages/{id}", None, {}, 404),
    "delete message": ("DELETE", "/v2/queues/q/messages/{id}", None, {}, 204),
    "delete claimed message": ("DELETE", "/v2/queues/q/messages/{claimed}?claim_id={cid}",
                               None, {}, 204),
    "claim": ("POST", "/v2/queues/q/claims", {"ttl": 60}, {}, 204),
    "get claim": ("GET", "/v2/queues/q/claims/{cid}", None, {}, 404),
    "renew claim": ("PATCH", "/v2/queues/q/claims/{cid}", {"ttl": 600}, {}, 404),
    "release claim": ("DELETE", "/v2/queues/q/claims/{cid}", None, {}, 204),
    "list subscriptions": ("GET", "/v2/queues/q/subscriptions", None, {}, 200),
    "subscribe": ("POST", "/v2/queues/q/subscriptions", {"subscriber": HOOK}, {}, 201),
    "get subscription": ("GET", "/v2/queues/q/subscriptions/{sid}", None, {}, 404),
    "update subscription": ("PATCH", "/v2/queues/q/subscriptions/{sid}", {"ttl": 600}, {},
                            404),
    "delete subscription": ("DELETE", "/v2/queues/q/subscriptions/{sid}", None, {}, 204),
    "confirm subscription": ("PUT", "/v2/queues/q/subscriptions/{sid}/confirm",
                             {"confirmed": True}, {}, 404),
    "share queue": ("POST", "/v2/queues/q/share", {"methods": ["GET", "DELETE"]}, {}, 200),
}

SECRET_KEY = pytest.mark.zaqar_config(("signed_url", "secret_key", "isolation-key"))


@SECRET_KEY
@pytest.mark.parametrize("case", sorted(REST_CASES))
@pytest_twisted.ensureDeferred
async def test_rest_route_keeps_projects_apart(api, owned, case):
    """Over REST, project B's request with A's queue name and ids shows and changes
    nothing of A's."""
    method, path, document, headers, status = REST_CASES[case]
    headers = {"X-Project-ID": uuid.uuid4().hex, **headers}
    kwargs = {} if document is None else {"json": owned.fill(document)}
    path = owned.fill(path)
    reply = await api.request(method, path, headers=headers, **kwargs)
    assert reply.status == status, reply
    assert_nothing_of(owned, reply.body, sent=(path, kwargs))
    assert_nothing_of(owned, reply.headers, sent=(path, kwargs))
    await assert_untouched(api, owned)


# (action, body, status B gets)
WS_CASES = {
    "queue_list": ({"detailed": True}, 200),
    "queue_create": ({"queue_name": "q", "metadata": {"owner": "b"}}, 201),
    "queue_get": ({"queue_name": "q"}, 200),
    "queue_update": ({"queue_name": "q", "changes": [
        {"op": "add", "path": "/metadata/owner", "value": "b"}]}, 404),
    "queue_delete": ({"queue_name": "q"}, 204),
    "queue_get_stats": ({"queue_name": "q"}, 200),
    "queue_purge": ({"queue_name": "q", "resource_types": ["messages", "subscriptions"]}, 204),
    "message_list": ({"queue_name": "q", "echo": True, "include_claimed": True}, 200),
    "message_get": ({"queue_name": "q", "message_id": "{id}"}, 404),
    "message_get_many": ({"queue_name": "q", "message_ids": ["{id}", "{claimed}"]}, 200),
    "message_post": ({"queue_name": "q", "messages": [{"body": "b"}]}, 201),
    "message_delete": ({"queue_name": "q", "message_id": "{claimed}", "claim_id": "{cid}"},
                       204),
    "message_delete_many": ({"queue_name": "q", "message_ids": ["{id}", "{claimed}"]}, 204),
    "message_delete_many (pop)": ({"queue_name": "q", "pop": 5}, 200),
    "claim_create": ({"queue_name": "q", "ttl": 60}, 204),
    "claim_get": ({"queue_name": "q", "claim_id": "{cid}"}, 404),
    "claim_update": ({"queue_name": "q", "claim_id": "{cid}", "ttl": 600}, 404),
    "claim_delete": ({"queue_name": "q", "claim_id": "{cid}"}, 204),
    "subscription_create": ({"queue_name": "q", "subscriber": HOOK}, 201),
    "subscription_list": ({"queue_name": "q"}, 200),
    "subscription_get": ({"queue_name": "q", "subscription_id": "{sid}"}, 404),
    "subscription_delete": ({"queue_name": "q", "subscription_id": "{sid}"}, 204),
}


@pytest.mark.parametrize("case", sorted(WS_CASES))
@pytest_twisted.ensureDeferred
async def test_websocket_action_keeps_projects_apart(api, owned, connect, case):
    """Over WebSocket, project B's request with A's queue name and ids shows and changes
    nothing of A's."""
    body, status = WS_CASES[case]
    intruder = await connect()
    body = owned.fill(body)
    reply = await intruder.request(case.split(" ")[0], body)
    assert reply.status == status, reply
    assert_nothing_of(owned, reply.body, sent=body)
    await assert_untouched(api, owned)


@pytest_twisted.ensureDeferred
async def test_a_connection_bound_to_a_project_cannot_switch(api, owned, connect):
    """A WebSocket connection that authenticated to project B is refused when a request
    names project A."""
    intruder = await connect()
    headers = intruder.headers(**{"X-Auth-Token": "any"})
    assert (await intruder.request("authenticate", headers=headers)).status == 200
    reply = await intruder.request(
        "message_list", {"queue_name": "q", "echo": True},
        headers=intruder.headers(**{"X-Project-ID": api.project}),
    )
    assert reply.status == 403
    assert_nothing_of(owned, reply.body)
    await assert_untouched(api, owned)


@SECRET_KEY
@pytest.mark.parametrize("transport", ["rest", "websocket"])
@pytest_twisted.ensureDeferred
async def test_a_share_of_another_project_opens_nothing_of_a(api, owned, connect, transport):
    """A URL project B signed for its queue ``q``, presented as project A's (or tampered to
    name A), reads and deletes nothing of A's queue ``q``."""
    intruder = uuid.uuid4().hex
    shared = await api.post("/v2/queues/q/share", json={"methods": ["GET", "DELETE"]},
                            headers={"X-Project-ID": intruder})
    assert shared.status == 200
    as_a = url_headers(shared.json, **{"X-Project-ID": api.project})
    if transport == "rest":
        for method, path in (("GET", "/v2/queues/q/messages?echo=true"),
                             ("DELETE", f"/v2/queues/q/messages?ids={','.join(owned.ids)}")):
            reply = await api.request(method, path, headers=as_a, identify=False)
            assert (reply.status, reply.json) == (404, {"title": "404 Not Found"})
    else:
        ws = await connect()
        for action, body in (("message_list", {"queue_name": "q", "echo": True}),
                             ("message_delete_many",
                              {"queue_name": "q", "message_ids": owned.ids})):
            reply = await ws.request(action, body, headers=as_a)
            assert reply.status == 403, reply
            assert_nothing_of(owned, reply.body)
    await assert_untouched(api, owned)
