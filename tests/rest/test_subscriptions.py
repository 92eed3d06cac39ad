"""Section 1.5 of the wire contract (and 5.4): subscriptions over REST."""

import uuid

import pytest
import pytest_twisted

Q = "/v2/queues/q/subscriptions"
HOOK = "http://127.0.0.1:9/hook"
TYPES = "The subscriber type of subscription must be supported in the list ['http', 'https', 'mailto', 'trust+http', 'trust+https']."
MISSING = ("Invalid API request", "Missing parameter subscriber in body.")
NOT_A_DICT = ("Invalid API request", "Subscriptions must be a dict.")
TTL_TYPE = ("Invalid API request", "TTL must be an integer.")
TTL_MIN = ("Invalid API request", "The TTL for a subscription must be at least 60 seconds long.")
TTL_OVERFLOW = (
    "Invalid API request",
    "The TTL seconds for a subscription plus current time must be less than "
    "9999-12-31 23:59:59.999999.",
)
LIMIT = ("Invalid API request", "Limit must be at least 1 and may not be greater than 20.")
NO_CHANGE = ("Invalid API request", "No subscription to create.")
NOT_BOOLEAN = ("Invalid API request", "The 'confirmed' should be boolean.")
CONFLICT = (
    "Resource conflict",
    "Such subscription already exists.Subscriptions are unique by project + queue + "
    "subscriber URI.",
)
# The epoch second of 9999-12-31 23:59:59, the latest a subscription may live to.
LAST_SECOND = 253402300799
PAST_LARGEST = "the largest ttl + 1"

RETRY_POLICY_ERRORS = [
    ("x", "retry_policy must be a dict."),
    ([1], "retry_policy must be a dict."),
    ({"retries_with_no_delay": "3"}, "Retry policy: retries_with_no_delay must be a integer."),
    ({"minimum_delay_retries": 1.5}, "Retry policy: minimum_delay_retries must be a integer."),
    ({"minimum_delay": "5"}, "Retry policy: minimum_delay must be a integer."),
    ({"maximum_delay": [30]}, "Retry policy: maximum_delay must be a integer."),
    ({"maximum_delay_retries": 2.0}, "Retry policy: maximum_delay_retries must be a integer."),
    ({"retry_backoff_function": 5}, "retry_backoff_function must be a string."),
    ({"retry_backoff_function": "cubic"}, "invalid retry_backoff_function."),
    ({"ignore_subscription_override": "yes"},
     "ignore_subscription_override must be a boolean."),
    ({"minimum_delay": 40}, "minimum_delay must less than maximum_delay."),
    ({"minimum_delay": 10, "maximum_delay": 5}, "minimum_delay must less than maximum_delay."),
    ({"maximum_delay": 14}, "invalid minimum_delay and maximum_delay."),
    ({"minimum_delay": 21}, "invalid minimum_delay and maximum_delay."),
]
GOOD_RETRY_POLICIES = [
    {},
    {"retries_with_no_delay": 2, "minimum_delay_retries": 1, "minimum_delay": 1,
     "maximum_delay": 11, "maximum_delay_retries": 4, "retry_backoff_function": "geometric",
     "ignore_subscription_override": True},
    {"minimum_delay": 20},
    {"maximum_delay": 15, "retry_backoff_function": "exponential"},
    {"retry_backoff_function": "arithmetic", "ignore_subscription_override": False},
    {"minimum_delay": None, "retries_with_no_delay": 0},
]


async def subscribe(api, subscriber=HOOK, queue="q", **fields):
    """Create a subscription (201); returns its id."""
    reply = await api.post(f"/v2/queues/{queue}/subscriptions",
                           json={"subscriber": subscriber, **fields})
    assert reply.status == 201, reply
    return reply.json["subscription_id"]


async def show(api, subscription_id, queue="q"):
    """GET one subscription (200); returns it."""
    reply = await api.get(f"/v2/queues/{queue}/subscriptions/{subscription_id}")
    assert reply.status == 200, reply
    return reply.json


async def listed(api, queue="q", query=""):
    reply = await api.get(f"/v2/queues/{queue}/subscriptions{query}")
    assert reply.status == 200, reply
    return reply.json


async def confirm(api, subscription_id, confirmed=True, queue="q"):
    reply = await api.put(f"/v2/queues/{queue}/subscriptions/{subscription_id}/confirm",
                          json={"confirmed": confirmed})
    assert reply.status == 204, reply


def largest_ttl(api):
    """The largest ttl the service's clock allows now."""
    return LAST_SECOND - int(api.clock.seconds())


def other_project():
    return {"X-Project-ID": uuid.uuid4().hex}


# Create.


@pytest_twisted.ensureDeferred
async def test_create(api):
    """A subscription answers 201 with its id and the collection as Location; it starts
    unconfirmed with the default ttl and no options, and its queue now exists."""
    reply = await api.post(Q, json={"subscriber": HOOK})
    assert reply.status == 201, reply
    assert reply.headers["location"] == Q
    assert reply.headers["content-type"] == "application/json"
    assert list(reply.json) == ["subscription_id"]
    subscription_id = reply.json["subscription_id"]
    assert str(uuid.UUID(subscription_id)) == subscription_id
    assert await show(api, subscription_id) == {
        "id": subscription_id, "source": "q", "subscriber": HOOK, "ttl": 3600, "age": 0,
        "options": {}, "confirmed": False,
    }
    queues = (await api.get("/v2/queues")).json["queues"]
    assert [queue["name"] for queue in queues] == ["q"]


@pytest_twisted.ensureDeferred
async def test_create_with_ttl_and_options(api):
    """``ttl`` and ``options`` are kept as given; JSON nulls mean the defaults."""
    options = {"post_data": '{"m": "$zaqar_message$"}', "post_headers": {"X-A": "1"},
               "_retry_policy": {"minimum_delay": 1}}
    first = await subscribe(api, "https://example.com/a", ttl=120, options=options)
    assert (await show(api, first))["ttl"] == 120
    assert (await show(api, first))["options"] == options
    second = await subscribe(api, "HTTP://example.com/b", ttl=None, options=None)
    shown = await show(api, second)
    assert (shown["ttl"], shown["options"]) == (3600, {})


@pytest.mark.zaqar_config(("transport", "default_subscription_ttl", "90"))
@pytest_twisted.ensureDeferred
async def test_create_default_ttl_is_configured(api):
    """Without ``ttl`` a subscription lives ``[transport] default_subscription_ttl``."""
    assert (await show(api, await subscribe(api)))["ttl"] == 90


@pytest.mark.parametrize("kwargs", [{}, {"data": b""}, {"chunked": b""}, {"json": {}},
                                    {"json": {"ttl": 60}}, {"json": {"subscriber": None}}])
@pytest_twisted.ensureDeferred
async def test_create_requires_a_subscriber(api, kwargs):
    """No body, an empty one, or a body without a subscriber: 400."""
    reply = await api.post(Q, **kwargs)
    assert (reply.status, reply.error) == (400, MISSING), reply


@pytest.mark.parametrize("body", [[], [{"subscriber": HOOK}], "x"])
@pytest_twisted.ensureDeferred
async def test_create_body_must_be_an_object(api, body):
    """A body that is not a JSON object: 400."""
    reply = await api.post(Q, json=body)
    assert reply.status == 400, reply
    if body == "x":
        assert reply.error == ("Invalid request body", "Request body could not be parsed.")
    else:
        assert reply.error == NOT_A_DICT


@pytest_twisted.ensureDeferred
async def test_create_unparsable_body(api):
    """A body that is not JSON: 400 "Invalid request body"."""
    reply = await api.post(Q, data=b'{"subscriber": ')
    assert (reply.status, reply.error) == (
        400, ("Invalid request body", "Request body could not be parsed."))


@pytest.mark.parametrize("subscriber", [
    "fake", "ftp://example.com",
    "", "http//example.com", "http://[::1", 123, ["http://x"], {"a": 1}, True,
])
@pytest_twisted.ensureDeferred
async def test_create_unsupported_subscriber(api, subscriber):
    """A subscriber whose scheme no enabled notifier serves (or that is no URI): 400."""
    reply = await api.post(Q, json={"subscriber": subscriber})
    assert (reply.status, reply.error) == (400, ("Invalid API request", TYPES)), reply


@pytest.mark.zaqar_config(("transport", "subscriber_types", "https"))
@pytest_twisted.ensureDeferred
async def test_subscriber_types_are_configured(api):
    """``[transport] subscriber_types`` narrows the schemes accepted, and the error says
    which."""
    reply = await api.post(Q, json={"subscriber": HOOK})
    assert reply.status == 400
    assert reply.error == (
        "Invalid API request",
        "The subscriber type of subscription must be supported in the list ['https'].",
    )
    await subscribe(api, "https://example.com/")


@pytest.mark.parametrize("options", ["123", [], 0, False, ""])
@pytest_twisted.ensureDeferred
async def test_create_options_must_be_an_object(api, options):
    """Options that are not an object: 400."""
    reply = await api.post(Q, json={"subscriber": HOOK, "options": options})
    assert (reply.status, reply.error) == (400, ("Invalid API request", "Options must be a dict."))


@pytest.mark.parametrize("ttl, error", [
    ("60", TTL_TYPE), (60.5, TTL_TYPE), ([60], TTL_TYPE), ({"s": 60}, TTL_TYPE),
    (59, TTL_MIN), (0, TTL_MIN), (-60, TTL_MIN), (True, TTL_MIN), (False, TTL_MIN),
    (PAST_LARGEST, TTL_OVERFLOW), (2**63 - 1, TTL_OVERFLOW),
])
@pytest_twisted.ensureDeferred
async def test_create_bad_ttl(api, ttl, error):
    """A ttl that is no integer, under a minute, or past the largest date: 400."""
    if ttl == PAST_LARGEST:
        ttl = largest_ttl(api) + 1
    reply = await api.post(Q, json={"subscriber": HOOK, "ttl": ttl})
    assert (reply.status, reply.error) == (400, error), reply


@pytest_twisted.ensureDeferred
async def test_create_ttl_bounds(api):
    """60 seconds and the largest ttl the clock allows are accepted."""
    shortest = await subscribe(api, "http://example.com/1", ttl=60)
    assert (await show(api, shortest))["ttl"] == 60
    longest = await subscribe(api, "http://example.com/2", ttl=largest_ttl(api))
    assert (await show(api, longest))["ttl"] == largest_ttl(api)


@pytest_twisted.ensureDeferred
async def test_create_checks_fields_in_order(api):
    """The subscriber is checked first, then the options, then the ttl."""
    reply = await api.post(Q, json={"subscriber": "fake", "options": 1, "ttl": "x"})
    assert reply.error == ("Invalid API request", TYPES)
    reply = await api.post(Q, json={"subscriber": HOOK, "options": 1, "ttl": "x"})
    assert reply.error == ("Invalid API request", "Options must be a dict.")
    reply = await api.post(Q, json={"subscriber": HOOK, "ttl": "x",
                                    "options": {"_retry_policy": 1}})
    assert reply.error == ("Invalid API request", "retry_policy must be a dict.")


@pytest.mark.parametrize("retry_policy, text", RETRY_POLICY_ERRORS)
@pytest_twisted.ensureDeferred
async def test_create_bad_retry_policy(api, retry_policy, text):
    """An invalid ``options._retry_policy``: 400 with the rule it breaks."""
    reply = await api.post(Q, json={"subscriber": HOOK, "options": {"_retry_policy": retry_policy}})
    assert (reply.status, reply.error) == (400, ("Invalid API request", text)), reply


@pytest.mark.parametrize("retry_policy", GOOD_RETRY_POLICIES)
@pytest_twisted.ensureDeferred
async def test_create_good_retry_policy(api, retry_policy):
    """A valid retry policy is stored with the options."""
    subscription_id = await subscribe(api, options={"_retry_policy": retry_policy})
    assert (await show(api, subscription_id))["options"] == {"_retry_policy": retry_policy}


@pytest_twisted.ensureDeferred
async def test_create_bad_queue_name(api):
    """A malformed queue name is refused before anything else."""
    reply = await api.post("/v2/queues/bad@name/subscriptions", data=b"{")
    assert (reply.status, reply.error) == (400, (
        "Invalid queue identification",
        "The format of the submitted queue name or project id is not valid."))


@pytest_twisted.ensureDeferred
async def test_duplicate_unconfirmed_answers_the_existing_id(api):
    """Subscribing the same URI again while unconfirmed: 201 with the same id, and the
    subscription is left as it was."""
    first = await subscribe(api, ttl=300, options={"a": 1})
    api.advance(5)
    reply = await api.post(Q, json={"subscriber": HOOK, "ttl": 900, "options": {"b": 2}})
    assert (reply.status, reply.json) == (201, {"subscription_id": first})
    assert reply.headers["location"] == Q
    shown = await show(api, first)
    assert (shown["ttl"], shown["options"], shown["age"]) == (300, {"a": 1}, 5)
    assert [item["id"] for item in (await listed(api))["subscriptions"]] == [first]


@pytest_twisted.ensureDeferred
async def test_duplicate_confirmed_is_a_conflict(api):
    """Subscribing a confirmed subscription's URI again: 409 with a Location; once
    unconfirmed, 201 with its id again."""
    first = await subscribe(api)
    await confirm(api, first)
    reply = await api.post(Q, json={"subscriber": HOOK})
    assert (reply.status, reply.error) == (409, CONFLICT)
    assert reply.headers["location"] == Q
    await confirm(api, first, False)
    reply = await api.post(Q, json={"subscriber": HOOK})
    assert (reply.status, reply.json) == (201, {"subscription_id": first})


@pytest_twisted.ensureDeferred
async def test_same_subscriber_in_other_queue_or_project_is_another_subscription(api):
    """Uniqueness is per project and queue."""
    first = await subscribe(api)
    second = await subscribe(api, queue="other")
    reply = await api.post(Q, json={"subscriber": HOOK}, headers=other_project())
    assert reply.status == 201
    assert len({first, second, reply.json["subscription_id"]}) == 3


# List.


@pytest_twisted.ensureDeferred
async def test_list_missing_queue_is_empty(api):
    """Listing the subscriptions of a queue that does not exist: 200, empty."""
    assert await listed(api, "nothing") == {"subscriptions": [], "links": []}


@pytest_twisted.ensureDeferred
async def test_list_pages_by_id(api):
    """Pages are sorted by id; ``next`` links carry the last id as marker and every other
    argument; the page after the last is empty with no links."""
    ids = sorted([await subscribe(api, f"http://example.com/{n}", ttl=60 + n)
                  for n in range(5)])
    page = await listed(api, query="?limit=2&detailed=True")
    assert [item["id"] for item in page["subscriptions"]] == ids[:2]
    assert page["links"] == [
        {"rel": "next", "href": f"{Q}?limit=2&detailed=true&marker={ids[1]}"}]
    seen = []
    href = f"{Q}?limit=2"
    while True:
        reply = await api.get(href)
        items = reply.json["subscriptions"]
        if not items:
            assert reply.json["links"] == []
            break
        seen += items
        href = reply.json["links"][0]["href"]
    assert [item["id"] for item in seen] == ids
    by_id = {item["id"]: item for item in seen}
    for item in seen:
        assert set(item) == {"id", "source", "subscriber", "ttl", "age", "options",
                             "confirmed"}
        assert item == await show(api, item["id"])
    assert sorted(item["subscriber"] for item in by_id.values()) == [
        f"http://example.com/{n}" for n in range(5)]


@pytest_twisted.ensureDeferred
async def test_list_default_limit(api):
    """Without ``limit`` a page holds 10 subscriptions."""
    for n in range(12):
        await subscribe(api, f"http://example.com/{n}")
    assert len((await listed(api))["subscriptions"]) == 10
    assert len((await listed(api, query="?limit=20"))["subscriptions"]) == 12


@pytest.mark.parametrize("limit", ["0", "21", "-1"])
@pytest_twisted.ensureDeferred
async def test_list_limit_out_of_range(api, limit):
    """``limit`` must lie within 1..max_subscriptions_per_page."""
    reply = await api.get(f"{Q}?limit={limit}")
    assert (reply.status, reply.error) == (400, LIMIT)


@pytest_twisted.ensureDeferred
async def test_list_limit_not_an_integer(api):
    """A ``limit`` that is no integer: 400 "Invalid parameter"."""
    reply = await api.get(f"{Q}?limit=ten")
    assert (reply.status, reply.error) == (400, (
        "Invalid parameter", 'The "limit" parameter is invalid. The value must be an integer.'))


@pytest.mark.zaqar_config(("transport", "max_subscriptions_per_page", "3"))
@pytest_twisted.ensureDeferred
async def test_list_limit_is_configured(api):
    """``[transport] max_subscriptions_per_page`` bounds ``limit``."""
    reply = await api.get(f"{Q}?limit=4")
    assert reply.error == (
        "Invalid API request", "Limit must be at least 1 and may not be greater than 3.")
    assert (await api.get(f"{Q}?limit=3")).status == 200


# Get.


@pytest_twisted.ensureDeferred
async def test_get_unknown_subscription(api):
    """An unknown id, or one of another queue: 404 "Subscription S does not exist"."""
    await api.create_queue("q")
    elsewhere = await subscribe(api, queue="other")
    for subscription_id in (str(uuid.uuid4()), "not-an-id", elsewhere):
        reply = await api.get(f"{Q}/{subscription_id}")
        assert (reply.status, reply.error) == (
            404, ("Not found", f"Subscription {subscription_id} does not exist")), reply


# Expiry.


@pytest_twisted.ensureDeferred
async def test_subscription_expires_after_its_ttl(api):
    """A subscription ages with the clock and is gone once its ttl has passed."""
    subscription_id = await subscribe(api, ttl=60)
    keeper = await subscribe(api, "http://example.com/keep", ttl=120)
    api.advance(59)
    assert (await show(api, subscription_id))["age"] == 59
    api.advance(1)
    reply = await api.get(f"{Q}/{subscription_id}")
    assert (reply.status, reply.error) == (
        404, ("Not found", f"Subscription {subscription_id} does not exist"))
    assert [item["id"] for item in (await listed(api))["subscriptions"]] == [keeper]
    for reply in (
        await api.patch(f"{Q}/{subscription_id}", json={"ttl": 600}),
        await api.put(f"{Q}/{subscription_id}/confirm", json={"confirmed": True}),
    ):
        assert reply.status == 404, reply
    again = await subscribe(api, ttl=60)
    assert again != subscription_id


@pytest_twisted.ensureDeferred
async def test_new_ttl_restarts_the_age(api):
    """Updating the ttl restarts the subscription's life from that moment."""
    subscription_id = await subscribe(api, ttl=60)
    api.advance(50)
    assert (await api.patch(f"{Q}/{subscription_id}", json={"ttl": 60})).status == 204
    assert (await show(api, subscription_id))["age"] == 0
    api.advance(59)
    assert (await show(api, subscription_id))["age"] == 59
    api.advance(1)
    assert (await api.get(f"{Q}/{subscription_id}")).status == 404


# Update.


@pytest_twisted.ensureDeferred
async def test_update(api):
    """PATCH answers 204 with the subscription's path as Location; each field changes
    alone, unknown keys beside known ones are ignored, options are replaced."""
    subscription_id = await subscribe(api, options={"a": 1})
    path = f"{Q}/{subscription_id}"
    reply = await api.patch(path, json={"options": {"b": 2}, "colour": "red"})
    assert reply.status == 204
    assert reply.headers["location"] == path
    assert reply.body == b""
    assert (await api.patch(path, json={"subscriber": "https://example.com/new"})).status == 204
    assert (await api.patch(path, json={"ttl": 7200, "options": None})).status == 204
    assert await show(api, subscription_id) == {
        "id": subscription_id, "source": "q", "subscriber": "https://example.com/new",
        "ttl": 7200, "age": 0, "options": {"b": 2}, "confirmed": False,
    }
    assert (await api.patch(path, json={"subscriber": "https://example.com/new"})).status == 204


@pytest.mark.parametrize("kwargs", [{}, {"data": b""}, {"chunked": b""}, {"json": {}},
                                    {"json": []}])
@pytest_twisted.ensureDeferred
async def test_update_needs_something_to_change(api, kwargs):
    """No body, or an empty one: 400 "No subscription to create."."""
    subscription_id = await subscribe(api)
    reply = await api.patch(f"{Q}/{subscription_id}", **kwargs)
    assert (reply.status, reply.error) == (400, NO_CHANGE), reply


@pytest.mark.parametrize("body", [{"colour": "red"}, {"ttl": None}, {"source": "other"},
                                  {"confirmed": True, "id": "x"}])
@pytest_twisted.ensureDeferred
async def test_update_with_nothing_known_to_change(api, body):
    """A body with no subscriber, ttl or options to set: 400 "Unable to update
    subscription"."""
    subscription_id = await subscribe(api)
    reply = await api.patch(f"{Q}/{subscription_id}", json=body)
    assert (reply.status, reply.error) == (400, (
        "Unable to update subscription",
        f"Subscription {subscription_id} could not be updated.")), reply


@pytest.mark.parametrize("body, error", [
    ([1], NOT_A_DICT),
    ({"subscriber": "fake"}, ("Invalid API request", TYPES)),
    ({"subscriber": 5}, ("Invalid API request", TYPES)),
    ({"options": "123"}, ("Invalid API request", "Options must be a dict.")),
    ({"options": {"_retry_policy": {"maximum_delay": 14}}},
     ("Invalid API request", "invalid minimum_delay and maximum_delay.")),
    ({"ttl": 50}, TTL_MIN),
    ({"ttl": "x"}, TTL_TYPE),
    ({"ttl": PAST_LARGEST}, TTL_OVERFLOW),
])
@pytest_twisted.ensureDeferred
async def test_update_validates_as_create(api, body, error):
    """PATCH checks each field as create does, and changes nothing on error."""
    if isinstance(body, dict) and body.get("ttl") == PAST_LARGEST:
        body = {"ttl": largest_ttl(api) + 1}
    subscription_id = await subscribe(api)
    before = await show(api, subscription_id)
    reply = await api.patch(f"{Q}/{subscription_id}", json=body)
    assert (reply.status, reply.error) == (400, error), reply
    assert await show(api, subscription_id) == before


@pytest_twisted.ensureDeferred
async def test_update_unknown_subscription(api):
    """PATCH of an unknown id, or of one in another queue: 404."""
    elsewhere = await subscribe(api, queue="other")
    for subscription_id in (str(uuid.uuid4()), elsewhere):
        reply = await api.patch(f"{Q}/{subscription_id}", json={"ttl": 120})
        assert (reply.status, reply.error) == (
            404, ("Not found", f"Subscription {subscription_id} does not exist"))
    assert (await show(api, elsewhere, "other"))["ttl"] == 3600


@pytest_twisted.ensureDeferred
async def test_update_to_another_subscriptions_subscriber_conflicts(api):
    """Changing the subscriber to one another subscription of the queue has: 409, and
    nothing changes."""
    first = await subscribe(api, "http://example.com/1")
    await subscribe(api, "http://example.com/2")
    reply = await api.patch(f"{Q}/{first}",
                            json={"subscriber": "http://example.com/2", "ttl": 120})
    assert (reply.status, reply.error) == (409, CONFLICT)
    shown = await show(api, first)
    assert (shown["subscriber"], shown["ttl"]) == ("http://example.com/1", 3600)
    await subscribe(api, "http://example.com/2", queue="other")
    assert (await api.patch(f"/v2/queues/other/subscriptions/{first}",
                            json={"ttl": 120})).status == 404


# Delete.


@pytest_twisted.ensureDeferred
async def test_delete(api):
    """DELETE answers 204, also for an unknown id, a missing queue, or another queue's
    subscription (which stays)."""
    subscription_id = await subscribe(api)
    elsewhere = await subscribe(api, queue="other")
    for path in (f"{Q}/{subscription_id}", f"{Q}/{subscription_id}", f"{Q}/{uuid.uuid4()}",
                 f"/v2/queues/none/subscriptions/{uuid.uuid4()}", f"{Q}/{elsewhere}"):
        reply = await api.delete(path)
        assert (reply.status, reply.body) == (204, b""), reply
    assert (await api.get(f"{Q}/{subscription_id}")).status == 404
    assert (await show(api, elsewhere, "other"))["id"] == elsewhere
    assert (await listed(api))["subscriptions"] == []


# Confirm.


@pytest_twisted.ensureDeferred
async def test_confirm_and_unconfirm(api):
    """PUT …/confirm records the answer: 204 with the confirm path as Location."""
    subscription_id = await subscribe(api)
    path = f"{Q}/{subscription_id}/confirm"
    reply = await api.put(path, json={"confirmed": True})
    assert (reply.status, reply.body) == (204, b"")
    assert reply.headers["location"] == path
    assert (await show(api, subscription_id))["confirmed"] is True
    assert (await listed(api))["subscriptions"][0]["confirmed"] is True
    assert (await api.put(path, json={"confirmed": True})).status == 204
    assert (await api.put(path, json={"confirmed": False})).status == 204
    assert (await show(api, subscription_id))["confirmed"] is False


@pytest.mark.parametrize("kwargs", [
    {}, {"data": b""}, {"json": {}}, {"json": {"confirmed": "true"}},
    {"json": {"confirmed": 1}}, {"json": {"confirmed": None}}, {"json": [True]},
    {"json": {"Confirmed": True}},
])
@pytest_twisted.ensureDeferred
async def test_confirm_needs_a_boolean(api, kwargs):
    """Anything but ``{"confirmed": true|false}``: 400."""
    subscription_id = await subscribe(api)
    reply = await api.put(f"{Q}/{subscription_id}/confirm", **kwargs)
    assert (reply.status, reply.error) == (400, NOT_BOOLEAN), reply


@pytest_twisted.ensureDeferred
async def test_confirm_unknown_subscription(api):
    """Confirming an unknown id, or one of another queue: 404."""
    elsewhere = await subscribe(api, queue="other")
    for subscription_id in (str(uuid.uuid4()), elsewhere):
        reply = await api.put(f"{Q}/{subscription_id}/confirm", json={"confirmed": True})
        assert (reply.status, reply.error) == (
            404, ("Not found", f"Subscription {subscription_id} does not exist"))
    assert (await show(api, elsewhere, "other"))["confirmed"] is False


# Queues: purge and delete.


@pytest_twisted.ensureDeferred
async def test_purge_subscriptions(api):
    """Purging subscriptions removes them and keeps the messages; purging messages keeps
    the subscriptions; the default purge removes both."""
    await api.post_messages("q", {"body": 1})
    first = await subscribe(api)
    reply = await api.post("/v2/queues/q/purge", json={"resource_types": ["messages"]})
    assert reply.status == 204
    assert [item["id"] for item in (await listed(api))["subscriptions"]] == [first]
    reply = await api.post("/v2/queues/q/purge", json={"resource_types": ["subscriptions"]})
    assert reply.status == 204
    assert (await listed(api))["subscriptions"] == []
    await api.post_messages("q", {"body": 2})
    await subscribe(api)
    assert (await api.post("/v2/queues/q/purge")).status == 204
    assert (await listed(api))["subscriptions"] == []
    assert (await api.get("/v2/queues/q/stats")).json["messages"]["total"] == 0


@pytest_twisted.ensureDeferred
async def test_deleting_the_queue_deletes_its_subscriptions(api):
    """A deleted queue leaves no subscription behind."""
    first = await subscribe(api)
    await confirm(api, first)
    assert (await api.delete("/v2/queues/q")).status == 204
    assert (await listed(api))["subscriptions"] == []
    assert (await api.get(f"{Q}/{first}")).status == 404
    assert await subscribe(api) != first


# Tenants, routes and policy.


@pytest_twisted.ensureDeferred
async def test_other_projects_never_see_or_touch_a_subscription(api):
    """Another project's requests on the same queue name see nothing and change nothing."""
    subscription_id = await subscribe(api, options={"a": 1})
    stranger = other_project()
    path = f"{Q}/{subscription_id}"
    reply = await api.get(Q, headers=stranger)
    assert reply.json == {"subscriptions": [], "links": []}
    assert (await api.get(path, headers=stranger)).status == 404
    assert (await api.patch(path, json={"ttl": 120}, headers=stranger)).status == 404
    assert (await api.put(f"{path}/confirm", json={"confirmed": True},
                          headers=stranger)).status == 404
    assert (await api.delete(path, headers=stranger)).status == 204
    assert (await api.post("/v2/queues/q/purge", headers=stranger)).status == 204
    assert (await api.delete("/v2/queues/q", headers=stranger)).status == 204
    assert await show(api, subscription_id) == {
        "id": subscription_id, "source": "q", "subscriber": HOOK, "ttl": 3600, "age": 0,
        "options": {"a": 1}, "confirmed": False,
    }


@pytest.mark.parametrize("method, path, allow", [
    ("PUT", Q, "GET, POST, OPTIONS"),
    ("DELETE", Q, "GET, POST, OPTIONS"),
    ("POST", f"{Q}/x", "DELETE, GET, PATCH, OPTIONS"),
    ("PUT", f"{Q}/x", "DELETE, GET, PATCH, OPTIONS"),
    ("GET", f"{Q}/x/confirm", "PUT, OPTIONS"),
    ("POST", f"{Q}/x/confirm", "PUT, OPTIONS"),
])
@pytest_twisted.ensureDeferred
async def test_other_methods_are_not_allowed(api, method, path, allow):
    """Methods a subscription path does not serve: 405 with Allow."""
    reply = await api.request(method, path)
    assert reply.status == 405
    assert reply.headers["allow"] == allow


SUBSCRIPTIONS_FOR_ADMINS = {
    f"subscription:{verb}": "role:admin"
    for verb in ("create", "get_all", "get", "update", "delete", "confirm")
}


@pytest.mark.parametrize("policy_rules", [SUBSCRIPTIONS_FOR_ADMINS])
@pytest_twisted.ensureDeferred
async def test_policy_rules(api, policy_rules):
    """Each operation enforces its ``subscription:*`` rule before reading its body."""
    admin = {"X-Roles": "admin"}
    subscription_id = (await api.post(Q, json={"subscriber": HOOK}, headers=admin)
                       ).json["subscription_id"]
    path = f"{Q}/{subscription_id}"
    for method, target in (("POST", Q), ("GET", Q), ("GET", path), ("PATCH", path),
                           ("DELETE", path), ("PUT", f"{path}/confirm")):
        reply = await api.request(method, target, data=b"{not json")
        assert (reply.status, reply.error) == (403, (
            "Not authorized", "You are not authorized to complete this action.")), method
    assert (await api.get(path, headers=admin)).status == 200


# Retry policies in queue metadata share the rules.


@pytest.mark.parametrize("retry_policy, text", RETRY_POLICY_ERRORS)
@pytest_twisted.ensureDeferred
async def test_queue_metadata_retry_policy_is_validated(api, retry_policy, text):
    """A queue's ``_retry_policy`` is checked as a subscription's: on PUT ("Invalid API
    request") and on PATCH ("Invalid request body")."""
    reply = await api.put("/v2/queues/r", json={"_retry_policy": retry_policy})
    assert (reply.status, reply.error) == (400, ("Invalid API request", text)), reply
    await api.create_queue("r")
    reply = await api.patch(
        "/v2/queues/r",
        json=[{"op": "add", "path": "/metadata/_retry_policy", "value": retry_policy}],
        headers={"Content-Type": "application/openstack-messaging-v2.0-json-patch"},
    )
    assert (reply.status, reply.error) == (400, ("Invalid request body", text)), reply


@pytest.mark.parametrize("retry_policy", GOOD_RETRY_POLICIES)
@pytest_twisted.ensureDeferred
async def test_queue_metadata_good_retry_policy(api, retry_policy):
    """A valid ``_retry_policy`` is kept in the queue's metadata."""
    await api.create_queue("r", {"_retry_policy": retry_policy})
    assert (await api.get("/v2/queues/r")).json["_retry_policy"] == retry_policy
