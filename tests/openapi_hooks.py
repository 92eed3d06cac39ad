"""Schemathesis hooks of tests/test_openapi_live.py (loaded through ``SCHEMATHESIS_HOOKS``):
the media types of the API that schemathesis does not know, both JSON."""

import json

import schemathesis


@schemathesis.serializer("application/openstack-messaging-v2.0-json-patch")
def json_patch(ctx, value):
    """A queue PATCH body: JSON."""
    return json.dumps(value).encode("utf-8")


@schemathesis.deserializer("application/json-home")
def json_home(ctx, response):
    """The JSON-home document: JSON."""
    return json.loads(response.content)
