"""No-auth mode: the caller says who it is in headers, and is believed."""

import re
import uuid

from twisted.internet.defer import succeed
from zope.interface import implementer

from zaqar_tw.context import RequestContext
from zaqar_tw.errors import BadRequest, MalformedClientId
from zaqar_tw.interfaces import IAuthenticator

PROJECT_HEADERS = ("x-project-id", "x-tenant-id", "x-tenant")
# A Client-ID already in the normal form (dashed lowercase) needs no parsing.
_NORMAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@implementer(IAuthenticator)
class NoAuth:
    """Project from ``X-Project-ID`` (else ``X-Tenant-ID``, else ``X-Tenant``), roles from
    ``X-Roles``, Client-ID checked as ``[transport] client_id_uuid_safe`` says."""

    def __init__(self, reactor, config, clock=None):
        self.limits = config.transport

    def authenticate(self, headers, method, path):
        """:returns: a Deferred firing with the RequestContext.
        :raises BadRequest: Client-ID or project header missing or malformed.
        """
        client_id = client_id_from(headers.get("client-id"), self.limits)
        project = project_from(headers)
        roles = tuple(
            role.strip() for role in headers.get("x-roles", "").split(",") if role.strip()
        )
        return succeed(RequestContext(project=project, client_id=client_id, roles=roles))


def client_id_from(value, limits):
    """The normalised Client-ID (spec 0.1 hooks 5 and 5b).

    :raises BadRequest: missing, or malformed for the configured mode.
    """
    if value is None:
        raise BadRequest(
            'The "Client-Id" header is required.', title="Missing header value"
        )
    if limits.client_id_uuid_safe == "strict":
        if _NORMAL_UUID.fullmatch(value):
            return value
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise MalformedClientId() from None
    if not limits.min_length_client_id <= len(value) <= limits.max_length_client_id:
        raise BadRequest(
            title=(
                f"Length of client id must be at least {limits.min_length_client_id} and "
                f"no greater than {limits.max_length_client_id}."
            )
        )
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value


def project_from(headers):
    """The project id (spec 0.1 hook 6).

    :raises BadRequest: no project header, or an empty one.
    """
    for name in PROJECT_HEADERS:
        if name in headers:
            project = headers[name]
            if project == "":
                raise BadRequest(
                    "X-PROJECT-ID cannot be an empty string. Specify the right header "
                    "X-PROJECT-ID and retry.",
                    title="Empty project header not allowed",
                )
            return project
    raise BadRequest("The header X-PROJECT-ID was missing", title="Project-Id Missing")
