"""Message filters used by the filter tests, registered by ``conftest.py`` under the names of
:data:`ENTRY_POINTS`."""

from zaqar_tw.filters import MessageFilter, rejected


class Tag(MessageFilter):
    """Appends ``[filter:<name>] tag`` to ``body["trail"]`` on post and to ``body["seen"]`` on
    read; on post, the tag comes back one reactor turn later (a Deferred), so the chain must
    wait for it before running the next filter."""

    known_options = ("tag",)

    def __init__(self, config, options):
        super().__init__(config, options)
        self.tag = options["tag"]

    def on_post(self, messages, queue_metadata, context):
        from twisted.internet import reactor
        from twisted.internet.task import deferLater

        def stamp():
            for message in messages:
                message["body"].setdefault("trail", []).append(self.tag)
            return messages

        return deferLater(reactor, 0, stamp)  # answers on a later reactor turn

    async def on_read(self, messages, queue_metadata, context):
        for message in messages:
            message["body"].setdefault("seen", []).append(self.tag)
        return messages


class RejectBad(MessageFilter):
    """Refuses any message whose body has ``"bad": true``."""

    def on_post(self, messages, queue_metadata, context):
        for index, message in enumerate(messages):
            if message["body"].get("bad"):
                raise rejected(index, "is marked bad.")
        return messages


class ShowColor(MessageFilter):
    """Needs the queue metadata on reads: copies its ``color`` into each body read, and the
    project of the reader's context."""

    needs_metadata = True

    def on_read(self, messages, queue_metadata, context):
        for message in messages:
            message["body"]["color"] = queue_metadata.get("color")
            message["body"]["reader"] = context.project
        return messages


class SeesMetadata(MessageFilter):
    """Does not ask for the metadata: records in each body read whether it got some."""

    def on_read(self, messages, queue_metadata, context):
        for message in messages:
            message["body"]["had_metadata"] = queue_metadata is not None
        return messages


class RefuseQueueKey(MessageFilter):
    """Refuses queue metadata holding the key ``forbidden``."""

    def check_metadata(self, queue_metadata, context):
        from zaqar_tw.errors import BadRequest

        if "forbidden" in queue_metadata:
            raise BadRequest("forbidden is not allowed here.")


class Explode(MessageFilter):
    """Fails with an unexpected error on every post."""

    def on_post(self, messages, queue_metadata, context):
        raise RuntimeError("boom")


ENTRY_POINTS = {
    "tag_a": "tests.filters.samples:Tag",
    "tag_b": "tests.filters.samples:Tag",
    "reject_bad": "tests.filters.samples:RejectBad",
    "show_color": "tests.filters.samples:ShowColor",
    "sees_metadata": "tests.filters.samples:SeesMetadata",
    "refuse_queue_key": "tests.filters.samples:RefuseQueueKey",
    "explode": "tests.filters.samples:Explode",
}
