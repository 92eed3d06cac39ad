"""The identity of one request, whatever transport carried it."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Grant:
    """What a verified pre-signed URL allows (spec 3.12).

    :ivar project: the project it belongs to.
    :ivar paths: the request paths it covers, each with everything below it.
    :ivar methods: the HTTP methods it allows.
    :ivar expires: its expiry as signed, ``YYYY-MM-DDTHH:MM:SS`` (UTC).
    """

    project: str
    paths: tuple
    methods: tuple
    expires: str


@dataclass(frozen=True)
class RequestContext:
    """Who is asking.

    :ivar project: the project (tenant) id every queue of the request belongs to.
    :ivar client_id: the caller's Client-ID, normalised (a dashed lowercase UUID when it parses
        as one, else as sent).
    :ivar roles: the caller's roles.
    :ivar request_id: the id echoed as ``x-openstack-request-id``.
    :ivar token: the auth token, when identity checks are on.
    :ivar user: the caller's user id, when an identity service vouches for it.
    :ivar expires: until when (seconds of the service clock) the identity holds, or
        ``None`` when it does not end (a WebSocket connection bound to it is refused
        afterwards).
    :ivar grant: the pre-signed URL that vouched for the request, or ``None`` when the
        caller identified otherwise.  Its bearer is no member of the project: it holds no
        roles and may use only what the URL names, so the policy and the logs can tell it
        apart from the project's own users.
    :ivar traceparent: the W3C ``traceparent`` the request carried (validated), or ``None``;
        the deliveries the request causes carry it on.
    """

    project: str
    client_id: str
    roles: tuple = field(default_factory=tuple)
    request_id: str = ""
    token: str | None = None
    user: str | None = None
    expires: float | None = None
    grant: Grant | None = None
    traceparent: str | None = None

    @property
    def is_admin(self):
        """Whether the caller holds the ``admin`` role."""
        return "admin" in self.roles
