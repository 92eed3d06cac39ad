"""``/v2/queues/Q/subscriptions``, ``/v2/queues/Q/subscriptions/S`` and
``/v2/queues/Q/subscriptions/S/confirm``.

Subscriptions have no href: a new one's id is in the body (``{"subscription_id"}``) and
its ``Location`` is the collection.
"""

from zaqar_tw.errors import SubscriptionAlreadyExists
from zaqar_tw.transport.rest.query import Query, next_links
from zaqar_tw.transport.rest.responses import empty_response, json_response, read_body


def subscriptions_href(queue):
    """``/v2/queues/<queue>/subscriptions``"""
    return f"/v2/queues/{queue}/subscriptions"


def subscription_href(queue, subscription_id):
    """``/v2/queues/<queue>/subscriptions/<subscription_id>``"""
    return f"{subscriptions_href(queue)}/{subscription_id}"


class SubscriptionsResource:
    """Subscriptions: create, list, get, update, delete, confirm."""

    def __init__(self, core):
        """:param core: the :class:`zaqar_tw.core.Core`."""
        self._subscriptions = core.subscriptions

    async def create(self, request, ctx, queue):
        """``POST /v2/queues/Q/subscriptions``: 201 with the id (also the existing one's
        for a duplicate unconfirmed subscriber); 409 with a ``Location`` for a confirmed
        duplicate."""
        location = subscriptions_href(queue)
        try:
            subscription_id = await self._subscriptions.create(ctx, queue, read_body(request))
        except SubscriptionAlreadyExists as conflict:
            conflict.headers["Location"] = location
            raise
        return json_response(
            request,
            {"subscription_id": subscription_id},
            status=201,
            headers={b"location": location},
        )

    async def list(self, request, ctx, queue):
        """``GET /v2/queues/Q/subscriptions``: 200 with a page and its ``next`` link."""
        query = Query.from_request(request)
        page = await self._subscriptions.list(
            ctx, queue, marker=query.get("marker"), limit=query.get("limit")
        )
        links = next_links(query, subscriptions_href(queue), page, "id")
        return json_response(request, {"subscriptions": page, "links": links})

    async def get(self, request, ctx, queue, subscription_id):
        """``GET /v2/queues/Q/subscriptions/S``: 200 with the subscription."""
        return json_response(
            request, await self._subscriptions.get(ctx, queue, subscription_id)
        )

    async def update(self, request, ctx, queue, subscription_id):
        """``PATCH /v2/queues/Q/subscriptions/S``: 204 with a ``Location``."""
        await self._subscriptions.update(ctx, queue, subscription_id, read_body(request))
        return empty_response(
            request, headers={b"location": subscription_href(queue, subscription_id)}
        )

    async def delete(self, request, ctx, queue, subscription_id):
        """``DELETE /v2/queues/Q/subscriptions/S``: 204."""
        await self._subscriptions.delete(ctx, queue, subscription_id)
        return empty_response(request)

    async def confirm(self, request, ctx, queue, subscription_id):
        """``PUT /v2/queues/Q/subscriptions/S/confirm``: 204 with a ``Location``."""
        await self._subscriptions.confirm(ctx, queue, subscription_id, read_body(request))
        return empty_response(
            request,
            headers={b"location": subscription_href(queue, subscription_id) + "/confirm"},
        )
