"""Request and response bodies held in memory, for Twisted's HTTP client (the webhook
notifier and the Keystone client use them)."""

from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Protocol
from twisted.web.client import ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer


@implementer(IBodyProducer)
class BytesBody:
    """A request body sent at once, with its Content-Length."""

    def __init__(self, data):
        self.length = len(data)
        self._data = data

    def startProducing(self, consumer):
        consumer.write(self._data)
        return succeed(None)

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        pass


def read_body(response, keep=True):
    """Read a response's body to its end (so that its connection may serve the next
    request).

    :param keep: whether to keep the bytes read, or drop them as they come.
    :returns: a Deferred firing with the body (``None`` when not kept); cancelling it drops
        the connection.
    """

    def cancel(_):
        if reader.transport is not None:
            reader.transport.stopProducing()

    reader = _Reader(Deferred(cancel), [] if keep else None)
    response.deliverBody(reader)
    return reader.done


class _Reader(Protocol):
    def __init__(self, done, chunks):
        self.done = done
        self.chunks = chunks

    def dataReceived(self, data):
        if self.chunks is not None:
            self.chunks.append(data)

    def connectionLost(self, reason):
        if self.done.called:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(None if self.chunks is None else b"".join(self.chunks))
        else:
            self.done.errback(reason)
