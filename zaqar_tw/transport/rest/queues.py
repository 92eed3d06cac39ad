"""``/v2/queues``, ``/v2/queues/Q``, ``/v2/queues/Q/stats``, ``/v2/queues/Q/purge`` and
``/v2/queues/Q/share``.

Handlers hand raw query strings and body bytes to the core, which validates them in the
order of the wire contract; they only shape the answer.
"""

from zaqar_tw.transport.rest.formats import queue_href, stats_message_view
from zaqar_tw.transport.rest.query import Query, next_links
from zaqar_tw.transport.rest.responses import (
    empty_response,
    header,
    json_response,
    read_body,
)


class QueuesResource:
    """Queues: list, create, metadata, delete, stats, purge, share."""

    def __init__(self, core):
        """:param core: the :class:`zaqar_tw.core.Core`."""
        self._queues = core.queues
        self._shares = core.shares

    async def list(self, request, ctx):
        """``GET /v2/queues``: 200 with a page of queues and its ``next`` link."""
        query = Query.from_request(request)
        page = await self._queues.list(
            ctx,
            marker=query.get("marker"),
            limit=query.get("limit"),
            detailed=query.get("detailed"),
            with_count=query.get("with_count"),
        )
        queues = []
        for entry in page["queues"]:
            item = {"name": entry["name"], "href": queue_href(entry["name"])}
            if "metadata" in entry:
                item["metadata"] = entry["metadata"]
            queues.append(item)
        document = {"queues": queues, "links": next_links(query, "/v2/queues", queues, "name")}
        if page.get("count"):
            document["count"] = page["count"]
        return json_response(request, document)

    async def create(self, request, ctx, queue):
        """``PUT /v2/queues/Q``: 201 when created (typed, empty), 204 when it existed."""
        created = await self._queues.create(ctx, queue, read_body(request))
        location = {b"location": queue_href(queue)}
        if created:
            return empty_response(request, 201, location, content_type=b"application/json")
        return empty_response(request, 204, location)

    async def get(self, request, ctx, queue):
        """``GET /v2/queues/Q``: 200 with the metadata (reserved defaults included)."""
        return json_response(request, await self._queues.get(ctx, queue))

    async def update(self, request, ctx, queue):
        """``PATCH /v2/queues/Q``: 200 with the resulting metadata.  A request without a
        Content-Type passes ``""`` (``None`` would tell the core to skip the check)."""
        metadata = await self._queues.update(
            ctx, queue, read_body(request), header(request, b"content-type") or ""
        )
        return json_response(request, metadata)

    async def delete(self, request, ctx, queue):
        """``DELETE /v2/queues/Q``: 204."""
        await self._queues.delete(ctx, queue)
        return empty_response(request)

    async def stats(self, request, ctx, queue):
        """``GET /v2/queues/Q/stats``: 200 with the counters (and oldest/newest)."""
        stats = await self._queues.stats(ctx, queue)
        counters = dict(stats["messages"])
        for end in ("oldest", "newest"):
            if counters.get(end) is not None:
                counters[end] = stats_message_view(queue, counters[end])
            else:
                counters.pop(end, None)
        return json_response(request, {"messages": counters})

    async def purge(self, request, ctx, queue):
        """``POST /v2/queues/Q/purge``: 204."""
        await self._queues.purge(ctx, queue, read_body(request))
        return empty_response(request)

    async def share(self, request, ctx, queue):
        """``POST /v2/queues/Q/share``: 200 with the pre-signed URL's data."""
        return json_response(request, await self._shares.create(ctx, queue, read_body(request)))
