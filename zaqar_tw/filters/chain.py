"""The filter chain: runs the configured filters one after another, each awaited before the
next starts."""

import inspect


async def _settled(result):
    """A hook's result: its value, or what its Deferred or coroutine fires with."""
    if inspect.isawaitable(result):
        return await result
    return result


class FilterChain:
    """The configured message filters, in order.

    Posts pass through the filters in the configured order, reads in the reverse order, so
    the filter that changed a message last on the way in is the first to see it on the way
    out.  An empty chain is falsy and costs nothing.

    :param filters: ``IMessageFilter`` providers, in the configured order.
    :param names: their configured names, for logs and errors.
    """

    def __init__(self, filters=(), names=()):
        self.filters = tuple(filters)
        self.names = tuple(names) or tuple(type(f).__name__ for f in self.filters)
        self.needs_metadata = any(getattr(f, "needs_metadata", False) for f in self.filters)
        self._reversed = self.filters[::-1]

    def __bool__(self):
        return bool(self.filters)

    def __len__(self):
        return len(self.filters)

    def __repr__(self):
        return f"<FilterChain {', '.join(self.names) or '(empty)'}>"

    async def on_post(self, messages, queue_metadata, context):
        """:returns: the messages to store, after every filter's ``on_post``.
        :raises zaqar_tw.errors.ZaqarError: a filter refused them.
        """
        for one in self.filters:
            messages = await _settled(one.on_post(messages, queue_metadata, context))
        return messages

    async def on_read(self, messages, queue_metadata, context):
        """:returns: the messages to hand out, after every filter's ``on_read`` (in reverse
        order); an empty list is returned as is."""
        if not messages:
            return messages
        for one in self._reversed:
            messages = await _settled(one.on_read(messages, queue_metadata, context))
        return messages

    async def check_metadata(self, queue_metadata, context):
        """Let every filter refuse queue metadata about to be stored.

        :raises zaqar_tw.errors.ZaqarError: a filter refused it.
        """
        for one in self.filters:
            await _settled(one.check_metadata(queue_metadata, context))
