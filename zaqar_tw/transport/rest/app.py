"""The REST transport of API v2: routing and the HTTP half of the request pipeline.

Order of the checks (spec section 0.1), each answered with the domain error family:

1. ``OPTIONS`` on any path: 200, empty, nothing else checked (with the grants of a CORS
   preflight when ``[cors]`` allows it; see :mod:`zaqar_tw.transport.rest.cors`).
2. Routing: an unknown path (``/v2`` without its slash included) is a 404 before any header
   is read; a path or ``Host`` that is not UTF-8 is a 400.
3. A request carrying ``URL-Signature`` is identified now, by its pre-signed URL alone (404
   unless the URL grants it), and step 6 is skipped.
4. ``Content-Type: application/x-www-form-urlencoded`` with a ``Content-Length``: 400.
5. ``Accept`` must allow ``application/json`` (absent is fine): 406.
6. The authenticator turns the headers into a RequestContext (Client-ID, project), except
   for ``/``.
7. A method the path does not serve: 405 with ``Allow``.
8. The core operation, given raw strings and bytes: it checks the queue name, then the
   policy, then the parameters, then the body.

Every response, errors included, carries ``x-openstack-request-id: req-<uuid4>``.
"""

import dataclasses
import re
from functools import lru_cache

from klein import Klein
from twisted.internet.defer import CancelledError, Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from werkzeug.exceptions import HTTPException

from zaqar_tw import errors
from zaqar_tw.uuids import uuid4
from zaqar_tw.transport.rest.bounded import BoundedRequest, bounded_request_factory
from zaqar_tw.transport.rest.claims import ClaimsResource
from zaqar_tw.transport.rest.cors import Cors
from zaqar_tw.transport.rest.errors import accepts_json, not_acceptable, render_error
from zaqar_tw.transport.rest.guarded import GuardedSite
from zaqar_tw.transport.rest.health import HealthResource
from zaqar_tw.transport.rest.home import HomeResource
from zaqar_tw.transport.rest.messages import MessagesResource
from zaqar_tw.transport.rest.openapi import OpenApiResource
from zaqar_tw.transport.rest.queues import QueuesResource
from zaqar_tw.transport.rest.responses import empty_response
from zaqar_tw.transport.rest.subscriptions import SubscriptionsResource

REQUEST_ID = b"x-openstack-request-id"
_FORM = "application/x-www-form-urlencoded"


class Route:
    """What one path serves: a handler per method, and whether callers must identify."""

    def __init__(self, handlers, authenticated=True):
        """:param handlers: method name (``"GET"``) to ``async (request, ctx, **params)``.
        :param authenticated: whether the authenticator runs (not for ``/``).
        """
        self.handlers = handlers
        self.authenticated = authenticated

    @property
    def allow(self):
        """The ``Allow`` header: the methods served, sorted, then ``OPTIONS``."""
        return ", ".join(sorted(self.handlers) + ["OPTIONS"])


class RestApi:
    """The Klein application of API v2, bound to one core.

    :ivar app: the routes; each path is one route serving every method, so that the
        header checks run before a 405 is decided.
    """

    app = Klein()
    _log = Logger()

    def __init__(self, core, config, authenticator):
        """:param core: the :class:`zaqar_tw.core.Core`.
        :param config: the :class:`zaqar_tw.config.Config`.
        :param authenticator: an :class:`zaqar_tw.interfaces.IAuthenticator` provider.
        """
        self._config = config
        self._clock = core.clock
        self._authenticator = authenticator
        home = HomeResource(config)
        openapi = OpenApiResource(config)
        health = HealthResource(core)
        queues = QueuesResource(core)
        messages = MessagesResource(core)
        claims = ClaimsResource(core)
        subscriptions = SubscriptionsResource(core)
        self._routes = {
            "versions": Route({"GET": home.versions}, authenticated=False),
            "home": Route({"GET": home.home}),
            "openapi": Route({"GET": openapi.get}, authenticated=False),
            "ping": Route({"GET": health.ping, "HEAD": health.ping_head}),
            "queues": Route({"GET": queues.list}),
            "queue": Route(
                {
                    "GET": queues.get,
                    "PUT": queues.create,
                    "PATCH": queues.update,
                    "DELETE": queues.delete,
                }
            ),
            "queue_stats": Route({"GET": queues.stats}),
            "queue_purge": Route({"POST": queues.purge}),
            "queue_share": Route({"POST": queues.share}),
            "messages": Route(
                {"GET": messages.list, "POST": messages.post, "DELETE": messages.delete_many}
            ),
            "message": Route({"GET": messages.get, "DELETE": messages.delete}),
            "claims": Route({"POST": claims.create}),
            "claim": Route({"GET": claims.get, "PATCH": claims.update, "DELETE": claims.delete}),
            "subscriptions": Route({"GET": subscriptions.list, "POST": subscriptions.create}),
            "subscription": Route(
                {
                    "GET": subscriptions.get,
                    "PATCH": subscriptions.update,
                    "DELETE": subscriptions.delete,
                }
            ),
            "subscription_confirm": Route({"PUT": subscriptions.confirm}),
        }
        if config.default.admin_mode:
            self._routes["health"] = Route({"GET": health.status})

    def resource(self):
        """The :class:`twisted.web.resource.IResource` serving the API."""
        return _RequestIdResource(
            self.app.resource(), self._serve_hot, Cors(self._config.cors)
        )

    def site(self):
        """A :class:`~zaqar_tw.transport.rest.guarded.GuardedSite` serving the API (no
        tracebacks to clients)."""
        site = GuardedSite(
            self.resource(),
            self._config.wsgi,
            reactor=self._clock,
            timeout=self._config.wsgi.idle_timeout or None,
            parsePOSTFormSubmission=False,
        )
        if not self._config.service.access_log:
            site.log = _no_access_log
        site.displayTracebacks = False
        site.requestFactory = bounded_request_factory(self.max_body)
        return site

    @property
    def max_body(self):
        """Bodies past this many bytes get a 413 without being buffered (twice the largest
        body any operation accepts, so moderate overflows still get the operation's own 400)."""
        limits = self._config.transport
        return 2 * max(limits.max_messages_post_size, limits.max_queue_metadata)

    # The pipeline.

    async def _serve(self, request, name, **params):
        route = self._routes.get(name)
        if route is None:
            raise errors.NotFound(title="404 Not Found")
        ctx = None
        if route.authenticated and request.requestHeaders.hasHeader(b"url-signature"):
            ctx = await self._identify(request)  # a pre-signed URL is checked first
        content_type = request.getHeader(b"content-type")
        if (
            content_type is not None
            and request.getHeader(b"content-length") is not None
            and content_type.decode("latin-1").split(";")[0].strip().lower() == _FORM
        ):
            raise errors.BadRequest(
                "This service does not read form-encoded bodies; send application/json.",
                title="Invalid Content-Type",
            )
        if not _accepts_json(request.getHeader(b"accept")):
            raise not_acceptable()
        if route.authenticated and ctx is None:
            ctx = await self._identify(request)
        handler = route.handlers.get(request.method.decode("latin-1"))
        if handler is None:
            raise errors.MethodNotAllowed(headers={"Allow": route.allow})
        return await handler(request, ctx, **params)

    async def _identify(self, request):
        """:returns: the RequestContext the authenticator gives the request."""
        ctx = await maybeDeferred(
            self._authenticator.authenticate,
            _headers(request),
            request.method.decode("latin-1"),
            request.path.decode("utf-8", "replace"),
        )
        return dataclasses.replace(ctx, request_id=_request_id(request))

    # The hot routes, served without Klein (see _RequestIdResource).

    def _serve_hot(self, request, name, params):
        """Serve a request routed by :data:`_HOT_PATH`, as Klein would: the same pipeline
        and error rendering, the handler cancelled if the client goes away first.

        :returns: ``NOT_DONE_YET``; the response is written when the handler is done.
        """
        d = Deferred.fromCoroutine(self._serve(request, name, **params))
        gone = []

        def lost():
            gone.append(True)
            d.cancel()

        if isinstance(request, BoundedRequest):
            request.on_lost = lost
        else:
            request.notifyFinish().addErrback(lambda _: lost())

        def respond(body):
            if not gone:
                request.write(body)
                request.finish()

        def failed(failure):
            if gone:
                if not failure.check(CancelledError):
                    self._log.failure("Unhandled error processing a request", failure)
                return None
            if failure.check(errors.ZaqarError):
                return render_error(request, failure.value)
            return self._unexpected_error(request, failure)

        d.addErrback(failed).addCallback(lambda body: body is not None and respond(body))
        d.addErrback(lambda f: self._log.failure("Unhandled error writing a response", f))
        return NOT_DONE_YET

    # The routes: one per path, every method.

    @app.route("/", endpoint="versions")
    def _versions(self, request):
        return self._serve(request, "versions")

    @app.route("/v2/", endpoint="home")
    def _home(self, request):
        return self._serve(request, "home")

    @app.route("/v2/openapi.json", endpoint="openapi")
    def _openapi(self, request):
        return self._serve(request, "openapi")

    @app.route("/v2/ping", endpoint="ping")
    def _ping(self, request):
        return self._serve(request, "ping")

    @app.route("/v2/health", endpoint="health")
    def _health(self, request):
        return self._serve(request, "health")

    @app.route("/v2/queues", endpoint="queues")
    def _queues(self, request):
        return self._serve(request, "queues")

    @app.route("/v2/queues/<queue>", endpoint="queue")
    def _queue(self, request, queue):
        return self._serve(request, "queue", queue=queue)

    @app.route("/v2/queues/<queue>/stats", endpoint="queue_stats")
    def _queue_stats(self, request, queue):
        return self._serve(request, "queue_stats", queue=queue)

    @app.route("/v2/queues/<queue>/purge", endpoint="queue_purge")
    def _queue_purge(self, request, queue):
        return self._serve(request, "queue_purge", queue=queue)

    @app.route("/v2/queues/<queue>/share", endpoint="queue_share")
    def _queue_share(self, request, queue):
        return self._serve(request, "queue_share", queue=queue)

    @app.route("/v2/queues/<queue>/messages", endpoint="messages")
    def _messages(self, request, queue):
        return self._serve(request, "messages", queue=queue)

    @app.route("/v2/queues/<queue>/messages/<message_id>", endpoint="message")
    def _message(self, request, queue, message_id):
        return self._serve(request, "message", queue=queue, message_id=message_id)

    @app.route("/v2/queues/<queue>/claims", endpoint="claims")
    def _claims(self, request, queue):
        return self._serve(request, "claims", queue=queue)

    @app.route("/v2/queues/<queue>/claims/<claim_id>", endpoint="claim")
    def _claim(self, request, queue, claim_id):
        return self._serve(request, "claim", queue=queue, claim_id=claim_id)

    @app.route("/v2/queues/<queue>/subscriptions", endpoint="subscriptions")
    def _subscriptions(self, request, queue):
        return self._serve(request, "subscriptions", queue=queue)

    @app.route("/v2/queues/<queue>/subscriptions/<subscription_id>", endpoint="subscription")
    def _subscription(self, request, queue, subscription_id):
        return self._serve(request, "subscription", queue=queue, subscription_id=subscription_id)

    @app.route(
        "/v2/queues/<queue>/subscriptions/<subscription_id>/confirm",
        endpoint="subscription_confirm",
    )
    def _subscription_confirm(self, request, queue, subscription_id):
        return self._serve(
            request, "subscription_confirm", queue=queue, subscription_id=subscription_id
        )

    # Errors, rendered in one place.

    @app.handle_errors(HTTPException)
    def _routing_error(self, request, failure):
        """No route for the path (werkzeug's NotFound, or its redirect to add a slash)."""
        return render_error(request, errors.NotFound(title="404 Not Found"))

    @app.handle_errors(errors.ZaqarError)
    def _domain_error(self, request, failure):
        return render_error(request, failure.value)

    @app.handle_errors(Exception)
    def _unexpected_error(self, request, failure):
        self._log.failure(
            "Unexpected error serving {method} {uri}",
            failure,
            method=request.method,
            uri=request.uri,
        )
        return render_error(request, errors.ZaqarError(str(failure.value)))


def _headers(request):
    """The request headers as lowercase names to text (repeated headers joined)."""
    return {
        name.decode("latin-1").lower(): ", ".join(value.decode("latin-1") for value in values)
        for name, values in request.requestHeaders.getAllRawHeaders()
    }


def _no_access_log(request):
    """``Site.log`` when ``[service] access_log`` is off: no line per request."""


@lru_cache(maxsize=256)
def _accepts_json(accept):
    """:func:`accepts_json` of a raw ``Accept`` header (``None`` when absent); clients send
    the same few values again and again, so the answers are kept."""
    return accepts_json(None if accept is None else accept.decode("latin-1"))


def _request_id(request):
    """The ``x-openstack-request-id`` of a request (``req-<uuid4>``)."""
    request_id = getattr(request, "zaqar_request_id", None)
    if request_id is None:
        request_id = request.responseHeaders.getRawHeaders(REQUEST_ID)[0]
        request_id = request_id.decode() if isinstance(request_id, bytes) else request_id
    return request_id


# The message and claim routes carry most of the traffic.  A path made only of the
# characters of queue names and ids (no percent escape, so twisted.web's unquoting leaves it
# as it is) maps to the same route and parameters under werkzeug's rules, so it is routed
# here without Klein; every other path goes through Klein.
_HOT_PATH = re.compile(
    rb"/v2/queues/([A-Za-z0-9_.-]+)/(messages|claims)(?:/([A-Za-z0-9_.-]+))?"
)
_HOT_ROUTES = {
    (b"messages", False): ("messages", None),
    (b"messages", True): ("message", "message_id"),
    (b"claims", False): ("claims", None),
    (b"claims", True): ("claim", "claim_id"),
}


def _hot_route(path):
    """:returns: ``(route name, parameters)`` for a hot path, else ``None``."""
    match = _HOT_PATH.fullmatch(path)
    if match is None:
        return None
    queue, collection, item = match.groups()
    name, item_param = _HOT_ROUTES[collection, item is not None]
    params = {"queue": queue.decode("ascii")}
    if item_param is not None:
        params[item_param] = item.decode("ascii")
    return name, params


class _RequestIdResource(Resource):
    """Stamps every response with a request id and the CORS headers it may carry, answers
    ``OPTIONS`` on any path (a CORS preflight among them), then serves the hot routes itself
    and hands every other request to the Klein resource."""

    isLeaf = True

    def __init__(self, inner, serve_hot=None, cors=None):
        """:param inner: the Klein resource.
        :param serve_hot: ``(request, route name, parameters)`` serving a hot route, or
            ``None`` to route everything through Klein.
        :param cors: the :class:`~zaqar_tw.transport.rest.cors.Cors` answers, or ``None``.
        """
        super().__init__()
        self._inner = inner
        self._serve_hot = serve_hot
        self._cors = cors if cors is not None and cors.enabled else None

    def render(self, request):
        request.defaultContentType = None
        request_id = f"req-{uuid4()}"
        request.zaqar_request_id = request_id
        request.setHeader(REQUEST_ID, request_id)
        if request.method == b"OPTIONS":
            if self._cors is not None:
                self._cors.preflight(request)
            return empty_response(request, 200)
        if self._cors is not None:
            self._cors.annotate(request)
        if getattr(request, "too_large", False):
            return render_error(request, errors.PayloadTooLarge(
                f"The request body is larger than {request.max_body} bytes."))
        if self._serve_hot is not None:
            hot = _hot_route(request.path)
            if hot is not None:
                return self._serve_hot(request, *hot)
        if not _readable_url(request):
            return render_error(request, errors.BadRequest(
                "The request's path and Host header must be UTF-8 (percent-escaped or not).",
                title="Invalid request URL"))
        return self._inner.render(request)


def _readable_url(request):
    """Whether the path (once unescaped) and the Host header decode as UTF-8, as Klein
    needs to route a request (it would answer a plain-text 400 and log a traceback)."""
    try:
        for segment in request.postpath:
            segment.decode("utf-8")
        request.getRequestHostname().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
