"""A base class for message filters: every hook of ``IMessageFilter`` doing nothing."""

from zope.interface import implementer

from zaqar_tw.errors import BadRequest
from zaqar_tw.interfaces import IMessageFilter


@implementer(IMessageFilter)
class MessageFilter:
    """Subclass this and override the hooks you need.

    :param config: the :class:`~zaqar_tw.config.Config`.
    :param options: the ``[filter:<name>]`` section of the config file, option names to
        their text (``{}`` when the section is absent).
    """

    needs_metadata = False
    #: The option names of the filter's ``[filter:<name>]`` section: none, unless a
    #: subclass lists those it reads (any other name stops start-up).
    known_options = ()

    def __init__(self, config, options):
        self.config = config
        self.options = options

    def on_post(self, messages, queue_metadata, context):
        """:returns: the messages, unchanged."""
        return messages

    def on_read(self, messages, queue_metadata, context):
        """:returns: the messages, unchanged."""
        return messages

    def check_metadata(self, queue_metadata, context):
        """Accept any metadata."""


def rejected(index, reason):
    """The 400 that refuses a posted message.

    :param index: the message's position in the posted list, from 0.
    :param reason: what is wrong, e.g. ``"body is too large"``.
    :returns: a :class:`~zaqar_tw.errors.BadRequest` reading ``"Message <index> <reason>"``.
    """
    return BadRequest(f"Message {index} {reason}")
