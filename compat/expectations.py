"""Which upstream Zaqar tests run against zaqar-tw, on which server, and what to expect.

Test ids are upstream's (``module.Class.test``); patterns are globs over them.  Standard
library only: both the driver (zaqar-tw's virtualenv) and the runner (Zaqar's) import this.

* :data:`NOT_APPLICABLE`: tests that examine the reference implementation itself (its storage
  drivers, its config objects, mocks of its internals), not the API; they are not run.
* :data:`EXPECTED_FAILURES`: tests that run and fail for a stated reason: behaviour that the
  spec's "Decisions for zaqar-tw" change on purpose, a reference bug zaqar-tw fixes, or a
  feature that zaqar-tw does not have yet.  One that passes is reported, so the list stays true.
* :data:`PROFILES`: tests that need a server configured unlike the default one.
"""

import fnmatch

FUNCTIONAL = "zaqar.tests.functional"
V2 = "zaqar.tests.unit.transport.wsgi.v2_0"

SUITES = (
    f"{FUNCTIONAL}.wsgi.test_versions",
    f"{FUNCTIONAL}.wsgi.v2.test_subscriptions",
    f"{FUNCTIONAL}.websocket.test_queues",
    f"{V2}.test_auth",
    f"{V2}.test_claims",
    f"{V2}.test_default_limits",
    f"{V2}.test_flavors_new",
    f"{V2}.test_health",
    f"{V2}.test_home",
    f"{V2}.test_media_type",
    f"{V2}.test_messages",
    f"{V2}.test_ping",
    f"{V2}.test_pools_new",
    f"{V2}.test_purge",
    f"{V2}.test_queue_lifecycle",
    f"{V2}.test_subscriptions",
    f"{V2}.test_topic_lifecycle",
    f"{V2}.test_urls",
    f"{V2}.test_validation",
)

# Server profiles (the driver starts one zaqar-tw per profile; "default" runs in admin mode,
# as upstream's in-process app does).  First match wins.
PROFILES = (
    (f"{V2}.test_validation.*", "small_limits"),
    (f"{V2}.test_messages.*.test_bulk_delete_with*_claim_ids", "delete_with_claim_id"),
    (f"{V2}.test_queue_lifecycle.*.test_basics_thoroughly_with_different_client_id*",
     "client_id_off"),
)

# The zaqar.conf sections of each profile.  The default one has the pre-signed URL key of
# upstream's wsgi_mongodb.conf, which test_urls needs, and a mail command that accepts and
# discards every message, so that mailto subscriptions are accepted (the suites subscribe
# mailto:; a machine without sendmail would refuse them).
PROFILE_CONFIG = {
    "default": "[signed_url]\nsecret_key = test\n[notification]\nsmtp_command = cat\n",
    "small_limits": "[transport]\nmax_queue_metadata = 64\nmax_messages_post_size = 256\n",
    "delete_with_claim_id": "[transport]\nmessage_delete_with_claim_id = true\n",
    "client_id_off": "[transport]\nclient_id_uuid_safe = off\n",
}

NOT_APPLICABLE = (
    ("*FaultyDriver.*",
     "runs the reference on its test-only 'faulty' storage driver, which raises on every "
     "call: a test of the reference's own error handling"),
    (f"{V2}.test_auth.TestAuth.test_auth_install",
     "inspects the reference's WSGI app object (its Keystone middleware)"),
    ("*.test_list_returns_503_on_nopoolfound_exception",
     "mocks the reference's storage controller to raise its NoPoolFound"),
    (f"{V2}.test_subscriptions.*.test_create_and_send_notification",
     "counts calls of the reference's NotifierDriver.send_confirm_notification (a mock)"),
    (f"{V2}.test_subscriptions.*.test_recreate*",
     "counts calls of the reference's NotifierDriver.send_confirm_notification (a mock)"),
    (f"{V2}.test_health.TestHealthMongoDB.test_message_volume",
     "mocks the reference's MongoDB driver (_health)"),
    (f"{V2}.test_health.TestHealthMongoDB.test_operation_status",
     "mocks the reference's MongoDB message controller (delete)"),
    (f"{V2}.test_messages.TestMessagesMongoDBPooled.*",
     "TestMessagesMongoDB again on the reference's pooled storage configuration: here it "
     "would only repeat TestMessagesMongoDB (zaqar-tw has no pools yet)"),
)

EXPECTED_FAILURES = (
    (f"{V2}.test_auth.TestAuth.test_non_authenticated",
     "Keystone authentication is not built yet (a request without a token gets no 401)"),
    (f"{V2}.test_pools_new.*", "pools are not built yet (no /v2/pools)"),
    (f"{V2}.test_flavors_new.*", "flavors are not built yet (no /v2/flavors)"),
    (f"{V2}.test_topic_lifecycle.*", "topics are not built yet (no /v2/topics)"),
    (f"{V2}.test_subscriptions.*.test_create_with_trust",
     "trust+http(s) subscribers need Keystone authentication, which these servers do not "
     "use (400)"),
    (f"{V2}.test_health.TestHealthMongoDB.test_basic",
     "expects message_volume in /v2/health, a figure of the reference's MongoDB driver "
     "only: the reference on Redis leaves it out too (spec 1.1)"),
    (f"{V2}.test_queue_lifecycle.TestQueueLifecycleMongoDB.test_list",
     "expects queue-list metadata filters (?node=34), a feature of the reference's MongoDB "
     "store: on Redis the reference ignores them, and so does zaqar-tw (spec 1.2)"),
    (f"{V2}.test_queue_lifecycle.TestQueueLifecycleMongoDB.test_list_with_filter",
     "expects queue-list metadata and name filters, a feature of the reference's MongoDB "
     "store: on Redis the reference ignores them, and so does zaqar-tw (spec 1.2)"),
    (f"{V2}.test_messages.TestMessagesMongoDB.test_list_with_bad_marker",
     "expects an empty page for an unknown marker, as the reference's MongoDB store answers; "
     "zaqar-tw lists from the head, as the reference on Redis does (spec 3.4, "
     "IMessageStore.list)"),
    (f"{V2}.test_queue_lifecycle.TestQueueLifecycleMongoDB.test_way_too_much_metadata",
     "a 6.5 MB queue PUT gets 413 from zaqar-tw, which drops bodies over twice the largest "
     "size any operation accepts without buffering them; the reference reads it all and "
     "answers 400"),
)


def _first(table, test_id):
    for pattern, value in table:
        if fnmatch.fnmatchcase(test_id, pattern):
            return value
    return None


def server_profile(test_id):
    """The name of the server profile ``test_id`` runs on."""
    return _first(PROFILES, test_id) or "default"


def not_applicable(test_id):
    """Why ``test_id`` is not run, or ``None``."""
    return _first(NOT_APPLICABLE, test_id)


def expected_failure(test_id):
    """Why ``test_id`` is expected to fail, or ``None``."""
    return _first(EXPECTED_FAILURES, test_id)


def suite_of(test_id):
    """The upstream module ``test_id`` belongs to."""
    return next((suite for suite in SUITES if test_id.startswith(suite + ".")), test_id)
