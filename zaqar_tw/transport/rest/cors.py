"""Cross-origin resource sharing (the ``[cors]`` options, spec section 4.2).

Browsers ask before a cross-origin request that carries headers such as ``Client-ID``: an
``OPTIONS`` preflight naming the method and headers it wants to send.  The service answers
every ``OPTIONS`` with 200 and an empty body; when the origin is allowed, the method is in
``allow_methods`` and every requested header is in ``allow_headers`` (or is one that browsers
may always send), the answer also grants them.  A request from an allowed origin gets
``Access-Control-Allow-Origin`` and the headers it may read.  Nothing is granted otherwise,
and the browser then refuses the response to the page; the service itself still serves the
request as it would any other (identity and policy decide, not the origin).

With ``allowed_origin`` empty (the default) no CORS header is ever sent.
"""

# Request headers a browser may send without the server naming them (the CORS "safelisted"
# request headers).
_ALWAYS_ALLOWED = frozenset(
    ("accept", "accept-language", "content-language", "content-type", "cache-control",
     "expires", "last-modified", "pragma")
)


class Cors:
    """The CORS answers of one ``[cors]`` configuration."""

    def __init__(self, options):
        """:param options: the :class:`~zaqar_tw.config.CorsSection`."""
        self.enabled = bool(options.allowed_origin)
        self._any_origin = "*" in options.allowed_origin
        self._origins = frozenset(options.allowed_origin)
        self._credentials = options.allow_credentials
        self._max_age = options.max_age
        self._methods = frozenset(method.upper() for method in options.allow_methods)
        self._headers = _ALWAYS_ALLOWED | {name.lower() for name in options.allow_headers}
        self._expose = ",".join(options.expose_headers).encode("latin-1")

    def preflight(self, request):
        """Grant a preflight ``OPTIONS`` request what it asks, if it may have it."""
        origin = self._allowed_origin(request)
        wanted_method = request.getHeader(b"access-control-request-method")
        if origin is None or wanted_method is None:
            return
        if wanted_method.decode("latin-1").upper() not in self._methods:
            return
        wanted = request.getHeader(b"access-control-request-headers") or b""
        names = [name.strip() for name in wanted.decode("latin-1").split(",") if name.strip()]
        if any(name.lower() not in self._headers for name in names):
            return
        self._grant_origin(request, origin)
        request.setHeader(b"access-control-allow-methods", wanted_method)
        if names:
            request.setHeader(b"access-control-allow-headers", ",".join(names))
        if self._max_age:
            request.setHeader(b"access-control-max-age", b"%d" % self._max_age)

    def annotate(self, request):
        """Let the page of an allowed origin read the response of an actual request."""
        origin = self._allowed_origin(request)
        if origin is None:
            return
        self._grant_origin(request, origin)
        if self._expose:
            request.setHeader(b"access-control-expose-headers", self._expose)

    def _allowed_origin(self, request):
        """The request's ``Origin`` when it is allowed, else ``None``."""
        origin = request.getHeader(b"origin")
        if origin is None:
            return None
        if self._any_origin or origin.decode("latin-1") in self._origins:
            return origin
        return None

    def _grant_origin(self, request, origin):
        # A wildcard with credentials is refused by browsers: name the origin instead.
        granted = b"*" if self._any_origin and not self._credentials else origin
        request.setHeader(b"access-control-allow-origin", granted)
        request.responseHeaders.addRawHeader(b"vary", b"Origin")
        if self._credentials:
            request.setHeader(b"access-control-allow-credentials", b"true")
