"""``/v2/queues/Q/claims`` and ``/v2/queues/Q/claims/C``.

The claim id is not in the body of a new claim: clients read it from the ``Location``
header or from the ``?claim_id=`` of the messages' hrefs.
"""

from zaqar_tw.transport.rest.formats import claim_href, message_view
from zaqar_tw.transport.rest.query import Query
from zaqar_tw.transport.rest.responses import empty_response, json_response, read_body


class ClaimsResource:
    """Claims: create, get, renew, release."""

    def __init__(self, core):
        """:param core: the :class:`zaqar_tw.core.Core`."""
        self._claims = core.claims

    async def create(self, request, ctx, queue):
        """``POST /v2/queues/Q/claims[?limit=N]``: 201 with the claimed messages, or 204
        when nothing was claimable."""
        limit = Query.from_request(request).get("limit")
        claim_id, messages = await self._claims.create(ctx, queue, limit, read_body(request))
        if claim_id is None:
            return empty_response(request)
        return json_response(
            request,
            {"messages": [message_view(queue, message, claim_id) for message in messages]},
            status=201,
            headers={b"location": claim_href(queue, claim_id)},
        )

    async def get(self, request, ctx, queue, claim_id):
        """``GET /v2/queues/Q/claims/C``: 200 with the claim and its messages."""
        claim = await self._claims.get(ctx, queue, claim_id)
        return json_response(
            request,
            {
                "age": claim["age"],
                "ttl": claim["ttl"],
                "messages": [
                    message_view(queue, message, claim["id"]) for message in claim["messages"]
                ],
                "href": claim_href(queue, claim["id"]),
            },
        )

    async def update(self, request, ctx, queue, claim_id):
        """``PATCH /v2/queues/Q/claims/C``: 204."""
        await self._claims.update(ctx, queue, claim_id, read_body(request))
        return empty_response(request)

    async def delete(self, request, ctx, queue, claim_id):
        """``DELETE /v2/queues/Q/claims/C``: 204."""
        await self._claims.delete(ctx, queue, claim_id)
        return empty_response(request)
