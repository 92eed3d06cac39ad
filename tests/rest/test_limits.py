"""Rate limits and quotas over REST ([limits]): 429 with Retry-After and the RateLimit
headers for a rate, 429 naming the quota for a quota; token buckets on the injected clock."""

import uuid

import pytest
import pytest_twisted


HOOK = "http://127.0.0.1:9/hook"
# Writes: 2 at once, then one every 2 s.
SLOW_WRITES = (("limits", "write_rate", "0.5"), ("limits", "write_burst", "2"))
# A project named in [limits:PROJECT] sections, fresh per run (buckets outlive a test).
GOLD = uuid.uuid4().hex
MESSAGE = {"messages": [{"body": 1}]}


def rate_limited(reply, policy, burst, rate, window, retry):
    """Assert a 429 of the ``policy`` bucket with these values."""
    assert reply.status == 429, reply
    assert reply.error == (
        "Too many requests",
        f"Rate limit exceeded for {policy} requests: {burst} at once, {rate} per second on "
        f"average. Retry in {retry} s.",
    )
    assert reply.headers["retry-after"] == str(retry)
    assert reply.headers["ratelimit-policy"] == f'"{policy}";q={burst};w={window}'
    assert reply.headers["ratelimit"] == f'"{policy}";r=0;t={retry}'


def quota_exceeded(reply, description):
    """Assert a 429 of a quota: its description, and no rate headers."""
    assert reply.status == 429, reply
    assert reply.error == ("Quota exceeded", description)
    for header in ("retry-after", "ratelimit-policy", "ratelimit"):
        assert header not in reply.headers


# Rates.


@pytest.mark.zaqar_config(*SLOW_WRITES)
@pytest_twisted.ensureDeferred
async def test_write_bucket_empties_and_refills(api):
    """Two writes pass at once; the next gets 429 saying when to retry, the wait shrinks as
    the clock moves, and a token comes back after 2 s."""
    assert (await api.put("/v2/queues/a")).status == 201
    assert (await api.post("/v2/queues/a/messages", json=MESSAGE)).status == 201
    reply = await api.post("/v2/queues/a/messages", json=MESSAGE)
    rate_limited(reply, "write", 2, 0.5, window=4, retry=2)
    api.advance(1.5)
    rate_limited(await api.delete("/v2/queues/a"), "write", 2, 0.5, window=4, retry=1)
    api.advance(0.5)
    assert (await api.post("/v2/queues/a/messages", json=MESSAGE)).status == 201
    rate_limited(await api.put("/v2/queues/b"), "write", 2, 0.5, window=4, retry=2)
    stats = await api.get("/v2/queues/a/stats")
    assert stats.json["messages"]["total"] == 2


@pytest.mark.zaqar_config(*SLOW_WRITES, ("limits", "read_rate", "1"),
                          ("limits", "claim_rate", "1"), ("limits", "claim_burst", "3"))
@pytest_twisted.ensureDeferred
async def test_classes_and_projects_have_their_own_buckets(api):
    """An empty write bucket leaves the project's reads and claims alone, and another
    project's writes."""
    for _ in range(2):
        assert (await api.post("/v2/queues/q/messages", json=MESSAGE)).status == 201
    rate_limited(await api.put("/v2/queues/q"), "write", 2, 0.5, window=4, retry=2)
    assert (await api.get("/v2/queues/q/messages?echo=true")).status == 200
    rate_limited(await api.get("/v2/queues"), "read", 1, 1, window=1, retry=1)
    for _ in range(3):
        assert (await api.post("/v2/queues/q/claims", json={})).status in (201, 204)
    rate_limited(await api.post("/v2/queues/q/claims", json={}), "claim", 3, 1, window=3,
                 retry=1)
    other = {"X-Project-ID": uuid.uuid4().hex}
    assert (await api.put("/v2/queues/q", headers=other)).status == 201
    assert (await api.get("/v2/ping")).status == 204  # pings are never limited


@pytest.mark.zaqar_config(*SLOW_WRITES)
@pytest_twisted.ensureDeferred
async def test_the_rate_is_checked_after_the_name_and_policy_before_the_body(api):
    """A bad queue name is a 400 that takes no token; once the bucket is empty a bad body
    gets 429 (the rate comes before the body), and a bad body took a token before."""
    for _ in range(3):
        assert (await api.put("/v2/queues/bad@name")).status == 400
    assert (await api.post("/v2/queues/q/messages", data=b"{no")).status == 400
    assert (await api.post("/v2/queues/q/messages", json=MESSAGE)).status == 201
    rate_limited(await api.post("/v2/queues/q/messages", data=b"{no"), "write", 2, 0.5,
                 window=4, retry=2)


@pytest.mark.zaqar_config(("DEFAULT", "admin_mode", "true"), ("limits", "admin_rate", "0.01"))
@pytest_twisted.ensureDeferred
async def test_admin_bucket_after_the_policy(api):
    """A caller the policy refuses gets 403 and takes no token; the admin health check has
    a bucket of its own."""
    for _ in range(2):
        assert (await api.get("/v2/health")).status == 403
    admin = {"X-Roles": "admin"}
    assert (await api.get("/v2/health", headers=admin)).status == 200
    rate_limited(await api.get("/v2/health", headers=admin), "admin", 1, 0.01, window=100,
                 retry=100)


@pytest.mark.zaqar_config(*SLOW_WRITES, ("limits", "max_queues_per_project", "1"))
@pytest_twisted.ensureDeferred
async def test_no_caller_is_exempt_by_default(api):
    """The default rule exempts nobody: an X-Roles header claiming admin lifts no limit."""
    admin = {"X-Roles": "admin"}
    assert (await api.put("/v2/queues/a", headers=admin)).status == 201
    quota_exceeded(await api.put("/v2/queues/b", headers=admin),
                   "Queue quota exceeded: a project may have at most 1 queues.")
    rate_limited(await api.put("/v2/queues/c", headers=admin), "write", 2, 0.5, window=4,
                 retry=2)


@pytest.mark.parametrize("policy_rules", [{"limits:exempt": "role:admin"}])
@pytest.mark.zaqar_config(*SLOW_WRITES, ("limits", "max_queues_per_project", "1"))
@pytest_twisted.ensureDeferred
async def test_exemption_by_rule(api):
    """Callers passing limits:exempt are held to no rate and no quota; the others still are,
    and the exempt ones' requests took none of their tokens."""
    admin = {"X-Roles": "admin"}
    for name in "abcde":
        assert (await api.put(f"/v2/queues/{name}", headers=admin)).status == 201
    assert (await api.post("/v2/queues/f/messages", json=MESSAGE, headers=admin)).status == 201
    assert (await api.put("/v2/queues/a")).status == 204
    quota_exceeded(await api.put("/v2/queues/g"),
                   "Queue quota exceeded: a project may have at most 1 queues.")
    rate_limited(await api.put("/v2/queues/a"), "write", 2, 0.5, window=4, retry=2)


@pytest.mark.zaqar_config(("limits", "write_rate", "0.5"), ("limits", "write_burst", "1"),
                          ("limits", "max_queues_per_project", "1"),
                          ("limits:" + GOLD, "write_burst", "3"),
                          ("limits:" + GOLD, "max_queues_per_project", "0"))
@pytest_twisted.ensureDeferred
async def test_a_project_section_sets_its_own_limits(api):
    """[limits:PROJECT] gives that project its own burst, and 0 lifts its queue quota;
    others keep [limits]'."""
    gold = {"X-Project-ID": GOLD}
    for name in "abc":
        assert (await api.put(f"/v2/queues/{name}", headers=gold)).status == 201
    rate_limited(await api.put("/v2/queues/d", headers=gold), "write", 3, 0.5, window=6,
                 retry=2)
    assert (await api.put("/v2/queues/a")).status == 201
    rate_limited(await api.put("/v2/queues/b"), "write", 1, 0.5, window=2, retry=2)
    api.advance(2)
    quota_exceeded(await api.put("/v2/queues/b"),
                   "Queue quota exceeded: a project may have at most 1 queues.")


# Quotas.


@pytest.mark.zaqar_config(("limits", "max_queues_per_project", "2"))
@pytest_twisted.ensureDeferred
async def test_queue_quota(api):
    """Past two queues, every way of making a third is refused; an existing queue is no
    new one, and deleting one makes room."""
    full = "Queue quota exceeded: a project may have at most 2 queues."
    assert (await api.put("/v2/queues/a")).status == 201
    assert (await api.post("/v2/queues/b/messages", json=MESSAGE)).status == 201
    quota_exceeded(await api.put("/v2/queues/c"), full)
    quota_exceeded(await api.post("/v2/queues/c/messages", json=MESSAGE), full)
    quota_exceeded(await api.post("/v2/queues/c/subscriptions", json={"subscriber": HOOK}),
                   full)
    assert (await api.put("/v2/queues/a")).status == 204
    subscribed = await api.post("/v2/queues/b/subscriptions", json={"subscriber": HOOK})
    assert subscribed.status == 201
    listed = await api.get("/v2/queues?with_count=true")
    assert [q["name"] for q in listed.json["queues"]] == ["a", "b"]
    assert listed.json["count"] == 2
    assert (await api.delete("/v2/queues/a")).status == 204
    subscribed = await api.post("/v2/queues/c/subscriptions", json={"subscriber": HOOK})
    assert subscribed.status == 201


@pytest.mark.zaqar_config(("limits", "max_messages_per_queue", "3"))
@pytest_twisted.ensureDeferred
async def test_message_quota(api):
    """A post that would leave more than three live messages is refused whole; expiry makes
    room."""
    full = "Message quota exceeded: a queue may hold at most 3 messages."
    await api.post_messages("q", {"body": 1, "ttl": 60}, {"body": 2, "ttl": 120})
    quota_exceeded(await api.post("/v2/queues/q/messages",
                                  json={"messages": [{"body": 3}, {"body": 4}]}), full)
    quota_exceeded(await api.post("/v2/queues/r/messages",
                                  json={"messages": [{"body": i} for i in range(4)]}), full)
    assert (await api.get("/v2/queues/q/stats")).json["messages"]["total"] == 2
    await api.post_messages("q", {"body": 3})
    quota_exceeded(await api.post("/v2/queues/q/messages", json=MESSAGE), full)
    api.advance(60)
    await api.post_messages("q", {"body": 4})


@pytest.mark.zaqar_config(("limits", "max_subscriptions_per_queue", "1"))
@pytest_twisted.ensureDeferred
async def test_subscription_quota(api):
    """A second subscriber is refused; the first one subscribing again is answered as
    before."""
    path = "/v2/queues/q/subscriptions"
    first = await api.post(path, json={"subscriber": HOOK, "ttl": 60})
    assert first.status == 201
    quota_exceeded(await api.post(path, json={"subscriber": HOOK + "2"}),
                   "Subscription quota exceeded: a queue may have at most 1 subscriptions.")
    again = await api.post(path, json={"subscriber": HOOK})
    assert (again.status, again.json) == (201, first.json)
    api.advance(60)
    assert (await api.post(path, json={"subscriber": HOOK + "2"})).status == 201
