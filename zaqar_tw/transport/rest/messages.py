"""``/v2/queues/Q/messages`` and ``/v2/queues/Q/messages/M``."""

from zaqar_tw.transport.rest.formats import message_href, message_view
from zaqar_tw.transport.views import popped_view
from zaqar_tw.transport.rest.query import Query, next_links
from zaqar_tw.transport.rest.responses import empty_response, json_response, read_body


# The longest Location a post answers with: common clients refuse a header line past 8 KiB
# (Python's http.client and aiohttp among them), some proxies past 4 KiB.
MAX_LOCATION = 4096


def posted_location(queue, ids):
    """The ``Location`` of a post: ``/v2/queues/Q/messages?ids=<id>,...`` (what Zaqar's
    clients and tests expect), or the collection ``/v2/queues/Q/messages`` when the ids
    would make it longer than :data:`MAX_LOCATION` (about 110 ids); the body's
    ``resources`` always lists every new message."""
    collection = f"/v2/queues/{queue}/messages"
    location = f"{collection}?ids={','.join(ids)}"
    return location if len(location) <= MAX_LOCATION else collection


class MessagesResource:
    """Messages: post, list, bulk get, get, delete, bulk delete, pop."""

    def __init__(self, core):
        """:param core: the :class:`zaqar_tw.core.Core`."""
        self._messages = core.messages

    async def post(self, request, ctx, queue):
        """``POST /v2/queues/Q/messages``: 201 with the new messages' hrefs."""
        ids = await self._messages.post(ctx, queue, read_body(request))
        return json_response(
            request,
            {"resources": [message_href(queue, message_id) for message_id in ids]},
            status=201,
            headers={b"location": posted_location(queue, ids)},
        )

    async def list(self, request, ctx, queue):
        """``GET /v2/queues/Q/messages``: a page of messages, or with ``ids`` a bulk get."""
        query = Query.from_request(request)
        ids = query.get("ids")
        if ids is not None:
            found = await self._messages.get_many(ctx, queue, ids)
            return json_response(
                request, {"messages": [message_view(queue, message) for message in found]}
            )
        page = await self._messages.list(
            ctx,
            queue,
            marker=query.get("marker"),
            limit=query.get("limit"),
            echo=query.get("echo"),
            include_claimed=query.get("include_claimed"),
            include_delayed=query.get("include_delayed"),
        )
        items = [message_view(queue, message) for message in page]
        links = next_links(query, f"/v2/queues/{queue}/messages", items, "id", page.cursor)
        return json_response(request, {"messages": items, "links": links})

    async def delete_many(self, request, ctx, queue):
        """``DELETE /v2/queues/Q/messages?ids=...`` (204) or ``?pop=N`` (200 with the
        popped messages)."""
        query = Query.from_request(request)
        popped = await self._messages.delete_many(
            ctx,
            queue,
            ids=query.get("ids"),
            claim_ids=query.get("claim_ids"),
            pop=query.get("pop"),
        )
        if popped is None:
            return empty_response(request)
        return json_response(request, {"messages": [popped_view(message) for message in popped]})

    async def get(self, request, ctx, queue, message_id):
        """``GET /v2/queues/Q/messages/M``: 200 with the message."""
        message = await self._messages.get(ctx, queue, message_id)
        return json_response(request, message_view(queue, message))

    async def delete(self, request, ctx, queue, message_id):
        """``DELETE /v2/queues/Q/messages/M[?claim_id=C]``: 204."""
        claim_id = Query.from_request(request).get("claim_id")
        await self._messages.delete(ctx, queue, message_id, claim_id=claim_id)
        return empty_response(request)
