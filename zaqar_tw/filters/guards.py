"""Size guards: ``max_body_depth`` and ``max_body_size`` refuse posted messages whose body
nests too deeply or is too large (limits in ``[filters]``)."""

import orjson

from zaqar_tw.core.values import depth as body_depth
from zaqar_tw.filters.base import MessageFilter, rejected


class MaxBodyDepthFilter(MessageFilter):
    """Refuses a message whose body nests deeper than ``[filters] max_body_depth``."""

    def __init__(self, config, options):
        super().__init__(config, options)
        self.limit = config.filters.max_body_depth

    def on_post(self, messages, queue_metadata, context):
        """:raises BadRequest: naming the first message that nests too deeply."""
        for index, message in enumerate(messages):
            if body_depth(message["body"], self.limit) > self.limit:
                raise rejected(
                    index, f"body nests too deeply: more than {self.limit} levels."
                )
        return messages


class MaxBodySizeFilter(MessageFilter):
    """Refuses a message whose body, as compact JSON, is larger than ``[filters]
    max_body_size`` bytes."""

    def __init__(self, config, options):
        super().__init__(config, options)
        self.limit = config.filters.max_body_size

    def on_post(self, messages, queue_metadata, context):
        """:raises BadRequest: naming the first message that is too large."""
        for index, message in enumerate(messages):
            size = len(orjson.dumps(message["body"]))
            if size > self.limit:
                raise rejected(
                    index, f"body is too large: {size} bytes, more than {self.limit}."
                )
        return messages
