"""``/v2/ping`` and ``/v2/health``."""

from zaqar_tw.transport.rest.responses import empty_response, json_response


class HealthResource:
    """Liveness and detailed health."""

    def __init__(self, core):
        """:param core: the :class:`zaqar_tw.core.Core`."""
        self._health = core.health

    async def ping(self, request, ctx):
        """``GET /v2/ping``: 204 when the store answers, else 503 without a body."""
        alive = await self._health.ping(ctx)
        return empty_response(request, 204 if alive else 503)

    async def ping_head(self, request, ctx):
        """``HEAD /v2/ping``: always 204 (the policy still applies)."""
        await self._health.ping(ctx)
        return empty_response(request, 204)

    async def status(self, request, ctx):
        """``GET /v2/health`` (admin mode only): 200 with the detailed status."""
        return json_response(request, await self._health.status(ctx))
