"""Message operations: post, list, get, bulk get, delete, bulk delete and pop."""

from zaqar_tw.core import validation as v
from zaqar_tw.core.operation import Operations, operation, uncancellable
from zaqar_tw.errors import BadRequest, InvalidBody, MessageDoesNotExist, NotFound, QueueDoesNotExist
from zaqar_tw.storage.page import Page


class MessageOperations(Operations):
    """Every message operation of the API."""

    @operation("messages:create", "Messages could not be enqueued.")
    async def post(self, ctx, queue, body):
        """Enqueue the messages of ``{"messages": [{"body", "ttl"?, "delay"?}, ...]}``; the
        queue is created if needed.  Once stored, they are handed to the notification
        dispatcher (which the poster does not wait for).

        :returns: the new message ids, in order.
        """
        metadata = await self.storage.queues.get_metadata(ctx.project, queue) or {}
        self._check_post_size(v.size_of(body), metadata.get("_max_messages_post_size"))
        document = v.parse_document(body)
        if not isinstance(document, dict) or "messages" not in document:
            raise BadRequest("No messages were found in the request body.")
        items = document["messages"]
        if not isinstance(items, list):
            raise InvalidBody("Document type not supported.")
        default_ttl = metadata.get("_default_message_ttl") or self.limits.default_message_ttl
        queue_delay = metadata.get("_default_message_delay") or 0
        messages = [self._message(item, default_ttl, queue_delay) for item in items]
        if not messages:
            raise BadRequest("No messages to enqueu.")
        if self.filters:
            messages = await self.filters.on_post(messages, metadata, ctx)
        stored = self.storage.messages.post(
            ctx.project, queue, messages, ctx.client_id,
            **self.project_limits.quotas(ctx, "max_messages", "max_queues"),
        )
        # Stored messages are notified even if the poster goes away meanwhile (its request
        # cancelled): the notifications hang on the store's answer, not on this coroutine.
        stored.addCallback(self._stored, ctx, queue, messages, metadata)
        return await uncancellable(stored)

    def _stored(self, posted, ctx, queue, messages, metadata):
        """The store took the messages: notify the subscribers, if any.

        :returns: the new ids.
        """
        ids, subscribed = posted
        if subscribed:
            self.dispatcher.posted(ctx, queue, messages, ids, metadata)
        return ids

    def _message(self, item, default_ttl, queue_delay):
        """One posted message, checked and completed with its defaults."""
        item = v.require_object(item)
        ttl = v.checked_field(item, "ttl", int, default_ttl)
        body = v.checked_field(item, "body", None)
        if not 60 <= ttl <= self.limits.max_message_ttl:
            raise BadRequest(
                f"The TTL for a message may not exceed {self.limits.max_message_ttl} seconds, "
                "and must be at least 60 seconds long."
            )
        delay = 0
        if queue_delay:
            delay = v.checked_field(item, "delay", int, queue_delay)
            if not 0 <= delay <= self.limits.max_message_delay:
                raise BadRequest(
                    "The Delay TTL for a message may not exceed "
                    f"{self.limits.max_message_delay} seconds,and must be at least 0 seconds "
                    "long."
                )
        return {"ttl": ttl, "delay": delay, "body": body}

    def _check_post_size(self, size, queue_max):
        limit = self.limits.max_messages_post_size
        if queue_max:
            limit = min(limit, queue_max)
        if size <= limit:
            return
        if queue_max:
            raise BadRequest(
                "Message collection size is too large. The max size for current queue is "
                f"{limit}. It is calculated by max size = min(max_messages_post_size_config: "
                f"{self.limits.max_messages_post_size}, max_messages_post_size_queue: "
                f"{queue_max})."
            )
        raise BadRequest(f"Message collection size is too large. Max size {limit}")

    @operation("messages:get_all", "Messages could not be listed.")
    async def list(self, ctx, queue, marker=None, limit=None, echo=None,
                   include_claimed=None, include_delayed=None):
        """:returns: a :class:`~zaqar_tw.storage.page.Page` of messages (empty for a queue
        that does not exist), whose ``cursor`` is set when the store stopped early."""
        limit = v.check_limit(v.as_int(limit, "limit"), self.limits.max_messages_per_page)
        messages = await self.storage.messages.list(
            ctx.project,
            queue,
            marker=marker,
            limit=limit,
            echo=v.as_bool(echo, "echo"),
            client_id=ctx.client_id,
            include_claimed=v.as_bool(include_claimed, "include_claimed"),
            include_delayed=v.as_bool(include_delayed, "include_delayed"),
        )
        cursor = getattr(messages, "cursor", None)
        return Page(await self.filtered(ctx, queue, messages), cursor)

    @operation("messages:get", "Message could not be retrieved.")
    async def get(self, ctx, queue, message_id):
        """:returns: the message.
        :raises NotFound: the queue or the message does not exist.
        """
        message = await self.storage.messages.get(ctx.project, queue, message_id)
        if message is None:
            if not await self.storage.queues.exists(ctx.project, queue):
                raise QueueDoesNotExist(queue, ctx.project)
            raise MessageDoesNotExist(message_id, queue, ctx.project)
        (message,) = await self.filtered(ctx, queue, [message])
        return message

    @operation("messages:get_all", "Messages could not be listed.")
    async def get_many(self, ctx, queue, ids):
        """:param ids: the ids, comma-separated.
        :returns: the messages found, in the order asked.
        :raises NotFound: none was found.
        """
        ids = v.as_list(ids) or []
        v.check_limit(len(ids), self.limits.max_messages_per_page)
        messages = await self.storage.messages.bulk_get(ctx.project, queue, ids)
        if not messages:
            raise NotFound(
                f"No messages with IDs: {ids!r} found in the queue {queue} for project "
                f"{ctx.project}."
            )
        return await self.filtered(ctx, queue, messages)

    @operation("messages:delete", "Message could not be deleted.")
    async def delete(self, ctx, queue, message_id, claim_id=None):
        """Delete one message (a claimed one only with its claim id)."""
        await self.storage.messages.delete(ctx.project, queue, message_id, claim_id=claim_id)

    @operation("messages:delete_all", "Messages could not be deleted.")
    async def delete_many(self, ctx, queue, ids=None, claim_ids=None, pop=None):
        """Delete by ids, or pop.

        :returns: ``None`` for a delete by ids; the removed messages for a pop.
        """
        pop = v.as_int(pop, "pop")
        ids = v.as_list(ids)
        claim_ids = v.as_list(claim_ids)
        if ids is None and pop is None:
            raise BadRequest(
                'The request should have either "ids" or "pop" parameter in the request, '
                "to be able to delete."
            )
        if ids is not None and pop is not None:
            raise BadRequest("pop and id params cannot be present together in the delete request.")
        if pop is not None:
            maximum = self.limits.max_messages_per_claim_or_pop
            if not 1 <= pop <= maximum:
                raise BadRequest(
                    f"Pop value must be at least 1 and may not be greater than {maximum}."
                )
            popped = await self.storage.messages.pop(ctx.project, queue, pop)
            return await self.filtered(ctx, queue, popped)
        if len(ids) > self.limits.max_messages_per_page:
            raise BadRequest(
                "ids parameter should have at least 1 and not greater than "
                f"{self.limits.max_messages_per_page} values."
            )
        if self.limits.message_delete_with_claim_id:
            if claim_ids is None:
                raise BadRequest(
                    'The request should have both "ids" and "claim_ids" parameter in the '
                    "request when message_delete_with_claim_id is True."
                )
        else:
            claim_ids = None
        await self.storage.messages.bulk_delete(ctx.project, queue, ids, claim_ids=claim_ids)
        return None

