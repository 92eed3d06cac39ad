"""One WebSocket connection: requests in, replies out, in order.

* **Requests are read as they stream in**, frame by frame: a request larger than
  ``max_message_size`` (or with a frame larger than ``max_frame_size``) is not kept, only
  counted, and answered 400 once it has arrived; the connection stays open.
* **One request at a time, replies in request order.** Requests wait in a short queue; a
  client may send many without waiting, and the replies come back in the order asked.
* **Back-pressure.** The connection registers itself as the producer of its transport: when
  the replies not yet sent pass ``max_write_buffer`` bytes, it stops answering and stops
  reading the socket (so TCP pushes back on the client) until the client has read them.  It
  also stops reading while its queue of waiting requests is full.  A client that stops
  reading costs the server at most ``max_write_buffer`` plus one reply.
* **Idle connections close.** Nothing received (no request, no pong) for ``idle_timeout``
  seconds of the injected clock closes the connection (1000, "Idle for too long.").
"""

from collections import deque

from autobahn.twisted.websocket import WebSocketServerProtocol
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from zaqar_tw.transport.websocket import envelope
from zaqar_tw.transport.websocket.api import Session

MAX_WAITING = 32  # requests read ahead of the one being answered
IDLE_CLOSE_CODE = 1000
IDLE_CLOSE_REASON = "Idle for too long."


@implementer(IPushProducer)
class _ReplyGate:
    """The producer a connection registers with its transport: the transport pauses it when
    unsent replies pass its buffer size, and resumes it once they are all sent."""

    def __init__(self, connection):
        self._connection = connection

    def pauseProducing(self):
        self._connection.replies_blocked(True)

    def resumeProducing(self):
        self._connection.replies_blocked(False)

    def stopProducing(self):
        self._connection.replies_blocked(True)


class ZaqarServerProtocol(WebSocketServerProtocol):
    """A connection of the WebSocket API; its factory is a
    :class:`~zaqar_tw.transport.websocket.factory.ZaqarServerFactory`.

    :ivar session: what the connection remembers between requests (its project once it
        authenticated).
    :ivar answered: how many requests have been answered.
    :ivar blocked: whether replies are waiting on the client (back-pressure is on).
    """

    _log = Logger()

    def __init__(self):
        super().__init__()
        self.session = Session()
        self.answered = 0
        self.blocked = False
        self._open = False
        self._waiting = deque()
        self._busy = False
        self._pumping = False
        self._reading_paused = False
        self._idle_call = None
        self._last_heard = 0.0
        self._binary = False
        self._chunks = []
        self._size = 0
        self._oversize = False

    # Opening and closing.

    def onConnect(self, request):
        """Accept any path and no subprotocol (spec 2.1)."""
        return None

    def onOpen(self):
        """Start the back-pressure gate and the idle timer."""
        factory = self.factory
        self._open = True
        if hasattr(self.transport, "bufferSize"):
            self.transport.bufferSize = factory.max_write_buffer
        self.registerProducer(_ReplyGate(self), True)
        self._heard()
        if factory.idle_timeout:
            self._arm_idle(factory.idle_timeout)
        factory.opened(self)

    def connectionLost(self, reason):
        """Forget the connection: waiting requests are dropped, timers cancelled."""
        self._open = False
        self._waiting.clear()
        self._chunks = []
        if self._idle_call is not None and self._idle_call.active():
            self._idle_call.cancel()
        self._idle_call = None
        self.factory.closed(self)
        super().connectionLost(reason)

    # Requests stream in: kept up to the size limits, only counted past them.

    def onMessageBegin(self, isBinary):
        """A request starts."""
        self._binary = isBinary
        self._chunks = []
        self._size = 0
        self._oversize = False
        self._heard()

    def onMessageFrameBegin(self, length):
        """A frame of ``length`` bytes starts: past the limits, the request is dropped."""
        self._size += length
        if length > self.factory.max_frame_size or self._size > self.factory.max_message_size:
            self._oversize = True
            self._chunks = []

    def onMessageFrameData(self, payload):
        """Keep the data, unless the request is already too large."""
        if not self._oversize:
            self._chunks.append(payload)

    def onMessageFrameEnd(self):
        """Nothing to do: the data is kept as it arrives."""

    def onMessageEnd(self):
        """A whole request: queue it for answering."""
        payload = None if self._oversize else b"".join(self._chunks)
        self._chunks = []
        self._waiting.append((payload, self._binary))
        self._pump()
        self._throttle()

    def onPong(self, payload):
        """The client answered a ping: it is alive."""
        self._heard()

    # Answering, one request at a time.

    def _pump(self):
        """Start answering the next request, unless one is being answered or replies are
        waiting on the client.  Requests answered at once are answered in a loop, not by
        recursion."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._open and self._waiting and not self._busy and not self.blocked:
                payload, binary = self._waiting.popleft()
                self._busy = True
                Deferred.fromCoroutine(self._answer(payload, binary)).addBoth(self._answered)
        finally:
            self._pumping = False

    def _answered(self, result):
        if isinstance(result, Failure):
            self._log.failure("Failed to answer a WebSocket request", result)
        self._busy = False
        self.answered += 1
        self._pump()
        self._throttle()
        return None

    async def _answer(self, payload, binary):
        api = self.factory.api
        try:
            if payload is None:
                reply = api.too_large(self.factory.max_message_size)
            else:
                reply = await api.answer(payload, binary, self.session)
            data = envelope.encode(reply, binary)
        except Exception as exc:
            self._log.failure("Unexpected error answering a WebSocket request")
            data = envelope.encode(api.unexpected(exc), binary)
        if self._open and self.state == self.STATE_OPEN:
            self.sendMessage(data, isBinary=binary)

    # Back-pressure.

    def replies_blocked(self, blocked):
        """Called by the gate: replies are (or are no longer) waiting on the client."""
        self.blocked = blocked
        if not self._open:
            return
        if not blocked and getattr(self.transport, "disconnecting", False):
            # A close was asked while paused: let the transport finish it.
            self.unregisterProducer()
            return
        self._throttle()
        self._pump()

    def _throttle(self):
        """Read from the socket only while replies flow and the queue has room."""
        if not self._open:
            return
        pause = self.blocked or len(self._waiting) >= MAX_WAITING
        if pause and not self._reading_paused:
            self._reading_paused = True
            self.transport.pauseProducing()
        elif not pause and self._reading_paused:
            self._reading_paused = False
            self.transport.resumeProducing()

    # Idle timeout, on the injected clock.

    def _heard(self):
        self._last_heard = self.factory.clock.seconds()

    def _arm_idle(self, delay):
        self._idle_call = self.factory.clock.callLater(delay, self._check_idle)

    def _check_idle(self):
        self._idle_call = None
        if not self._open:
            return
        timeout = self.factory.idle_timeout
        quiet = self.factory.clock.seconds() - self._last_heard
        if self._busy or self._waiting:
            quiet = 0.0
        if quiet >= timeout:
            self.sendClose(IDLE_CLOSE_CODE, IDLE_CLOSE_REASON)
        else:
            self._arm_idle(timeout - quiet)
