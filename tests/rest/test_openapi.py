"""The OpenAPI 3.1 document of the REST API (issue 13): served at /v2/openapi.json, a valid
OpenAPI 3.1 document, and in step with the routes the service serves."""

import pytest
import pytest_twisted

from zaqar_tw.config import Config
from zaqar_tw.transport.rest.app import RestApi
from zaqar_tw.transport.rest.openapi import openapi_document


def served_operations(admin_mode):
    """``{(path, method)}`` of every route and method the REST API serves."""
    config = Config()
    config.set("DEFAULT", "admin_mode", "true" if admin_mode else "false")

    class NoCore:
        clock = None

        def __getattr__(self, name):
            return None

    api = RestApi(NoCore(), config, authenticator=None)
    served = set()
    for rule in RestApi.app.url_map.iter_rules():
        route = api._routes.get(rule.endpoint)
        if route is None:
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        path = path.replace("{queue}", "{queue_name}")
        served |= {(path, method) for method in route.handlers}
    return served


@pytest.mark.parametrize("admin_mode", [False, True])
def test_document_lists_every_route_and_method(admin_mode):
    """Every route and method served is in the document, and nothing else is."""
    document = openapi_document(admin_mode)
    documented = {(path, method.upper())
                  for path, operations in document["paths"].items() for method in operations}
    assert documented == served_operations(admin_mode)


def test_document_is_valid_openapi_31():
    """The document validates against the OpenAPI 3.1 schema, and every operation answers
    errors in the error format."""
    from schemathesis.openapi import from_dict

    document = openapi_document(True)
    schema = from_dict(document)
    assert len(list(schema.get_all_operations())) == sum(
        len(operations) for operations in document["paths"].values())
    for operations in document["paths"].values():
        for operation in operations.values():
            assert {"4XX", "503"} <= set(operation["responses"])


@pytest_twisted.ensureDeferred
async def test_document_is_served_without_identity(api):
    """GET /v2/openapi.json answers the document to anyone (no Client-ID needed)."""
    reply = await api.request("GET", "/v2/openapi.json", identify=False)
    assert reply.status == 200
    assert reply.json == openapi_document(False)
