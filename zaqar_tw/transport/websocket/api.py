"""The request pipeline of one WebSocket request, in the order of spec section 2:

1. decode (JSON in text messages, MessagePack in binary ones): 400 "Can't decode ...";
2. the request must be an object: 400 "Unexpected body type. ...";
3. the action must be known: 400 "<action> is not a valid action";
4. the request must match the action's schema: 400 "Schema validation failed." (what failed
   in the body's ``exception``);
5. the authenticator turns the headers into a RequestContext, as for a REST request (a
   connection that authenticated stays bound to its identity: 403 otherwise; while the
   authenticator wants a token, a connection without one gets 403 "Not authentified.", and
   so does a message action whose pre-signed URL does not grant it);
6. the core operation, whose domain errors become the reply's status and body.

Nothing a client sends ends the connection: every request gets a reply.
"""

from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from zaqar_tw.errors import Forbidden, InvalidSignature, MalformedClientId, Unauthorized
from zaqar_tw.transport.websocket import envelope
from zaqar_tw.transport.websocket.actions import ACTIONS, Actions, SchemaError, not_available


@dataclass
class Session:
    """What one connection remembers between requests.

    :ivar project: the project it authenticated to, or ``None``.
    :ivar token: the ``X-Auth-Token`` it authenticated with, or ``None``; later requests
        are identified with it.
    :ivar expires: when (seconds of the service clock) that identity ends, or ``None``.
    """

    project: str | None = None
    token: str | None = None
    expires: float | None = None


class WebSocketApi:
    """Answers WebSocket requests with one core.

    :param core: the :class:`zaqar_tw.core.Core`.
    :param config: the :class:`zaqar_tw.config.Config`.
    :param authenticator: an :class:`zaqar_tw.interfaces.IAuthenticator` provider (the same
        one REST uses).
    :param clock: the ``IReactorTime`` identities expire on.
    """

    _log = Logger()

    def __init__(self, core, config, authenticator, clock):
        self._actions = Actions(core, config)
        self._authenticator = authenticator
        self._clock = clock

    async def answer(self, payload, binary, session):
        """Answer one request.

        :param payload: the request bytes.
        :param binary: whether it came in a binary message (MessagePack).
        :param session: the connection's :class:`Session`.
        :returns: the reply document (see :mod:`zaqar_tw.transport.websocket.envelope`).
        """
        try:
            document = envelope.decode(payload, binary)
        except envelope.FrameError as exc:
            return envelope.framing_error(str(exc))
        if not isinstance(document, dict):
            return envelope.framing_error(envelope.NOT_AN_OBJECT)
        request = envelope.echo(document, None if binary else payload)
        name = document.get("action")
        action = ACTIONS.get(name) if isinstance(name, str) else None
        if action is None:
            return envelope.framing_error(f"{name} is not a valid action", request)
        try:
            headers, body = action.check(document)
        except SchemaError as exc:
            self._log.debug("{action}: schema validation failed: {why}", action=name, why=exc)
            return envelope.framing_error(envelope.SCHEMA_FAILED, request, str(exc))
        try:
            if not action.available:
                raise not_available(name)
            ctx = await self._identify(action, headers, body, session)
            status, result = await self._actions.run(action, ctx, body)
        except NotAuthentified:
            status, result = 403, {"error": "Not authentified."}
        except Exception as exc:
            status, result = envelope.error_body(exc)
            if status == 500:
                self._log.failure("Unexpected error answering {action}", action=name)
            elif name == "authenticate" and status in (401, 403):
                result = {"exception": result["exception"], "error": "Authentication failed."}
            elif isinstance(exc, MalformedClientId) and name in UUID_CHECKED:
                result = {"exception": BADLY_FORMED_UUID, "error": None}
        return envelope.reply(request, status, result)

    def too_large(self, limit):
        """The reply to a request larger than ``limit`` bytes (it was not read)."""
        return envelope.framing_error(
            f"Request too large. The largest request this server reads is {limit} bytes."
        )

    def unexpected(self, error):
        """The reply when a reply could not be encoded."""
        return envelope.reply(envelope.echo(), *envelope.error_body(error))

    async def _identify(self, action, headers, body, session):
        """The RequestContext of a request, from the authenticator.

        ``authenticate`` binds the connection to the identity its headers prove (and to its
        token).  Every other request is identified with the connection's token, never with
        one of its own, and with its own Client-ID; a pre-signed URL's headers count on
        message actions only (spec 2.4).  A connection that has not authenticated, or whose
        identity has expired (the clock past the context's ``expires``), is refused while
        the authenticator wants a token, and so is a request whose pre-signed URL does not
        grant it (as the reference's WebSocket answers it; REST answers 404).

        :raises zaqar_tw.errors.ZaqarError: the authenticator refused the headers, or the
            connection is bound to another project.
        """
        seen = {name.lower(): _header_text(value) for name, value in headers.items()}
        if action.name == "authenticate":
            ctx = await _context(self._authenticator.authenticate(seen, None, action.path))
            session.project = ctx.project
            session.token = seen["x-auth-token"]
            session.expires = ctx.expires
            return ctx
        if session.expires is not None and self._clock.seconds() >= session.expires:
            raise NotAuthentified()
        seen.pop("x-auth-token", None)
        if not action.signable:
            for name in SIGNED_HEADERS:
                seen.pop(name, None)
        if session.token is not None:
            seen["x-auth-token"] = session.token
        try:
            ctx = await _context(
                self._authenticator.authenticate(seen, action.method, action.rest_path(body))
            )
        except (Unauthorized, InvalidSignature):
            raise NotAuthentified() from None
        bound = session.project
        if bound is not None and {ctx.project, seen.get("x-project-id", bound)} != {bound}:
            raise Forbidden("Not authenticated.")
        return ctx


class NotAuthentified(Forbidden):
    """403 for a request on a connection that has no valid identity (spec 2.4); the reply
    body is ``{"error": "Not authentified."}``."""

    def __init__(self):
        super().__init__("Not authentified.")


# The actions whose malformed Client-ID is told in Python's words (spec 2.1).
UUID_CHECKED = frozenset(("message_list", "message_post"))
BADLY_FORMED_UUID = "badly formed hexadecimal UUID string"

# The headers of a pre-signed URL (spec 3.12), lowercase.
SIGNED_HEADERS = ("url-signature", "url-expires", "url-methods", "url-paths")


def _header_text(value):
    """A header's text: a list (a pre-signed URL's methods or paths) joined by commas, as
    REST carries it."""
    return value if isinstance(value, str) else ",".join(value)


async def _context(result):
    """The RequestContext an authenticator gave, directly or through a Deferred."""
    if isinstance(result, Deferred):
        return await result
    return result
