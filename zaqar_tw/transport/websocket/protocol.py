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

import struct
from collections import deque

from autobahn.twisted.websocket import WebSocketServerProtocol
from autobahn.websocket.xormasker import create_xor_masker
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


_TEXT_FRAME, _BINARY_FRAME = 0x81, 0x82  # first byte of a final text / binary frame
_SMALL_UNMASK = 1024  # up to this size, unmasking with one integer XOR is the fastest


def unmask(mask, payload):
    """A client frame's payload, unmasked with its 4-byte ``mask`` (RFC 6455, 5.3)."""
    size = len(payload)
    if size > _SMALL_UNMASK:
        return create_xor_masker(mask, size).process(payload)
    key = int.from_bytes((mask * ((size >> 2) + 1))[:size], "little")
    return (int.from_bytes(payload, "little") ^ key).to_bytes(size, "little")


def frame_head(binary, size):
    """The header of a final, unmasked (server) frame carrying ``size`` bytes."""
    first = 0x82 if binary else 0x81
    if size < 126:
        return bytes((first, size))
    if size < 65536:
        return struct.pack("!BBH", first, 126, size)
    return struct.pack("!BBQ", first, 127, size)


def write_now(transport, data):
    """Write ``data`` to a TCP transport, straight into the socket when nothing is waiting to
    be sent before it.

    ``transport.write`` only buffers and registers the socket for writing; the data goes out
    on the next turn of the reactor, which then unregisters it: two ``epoll_ctl`` calls and a
    turn per reply.  When the transport's buffer is empty, sending at once keeps the order
    and saves that; whatever the socket does not take is buffered by ``transport.write`` as
    usual (and pauses the producer past ``bufferSize``).  Transports that are not plain TCP
    (TLS, tests' fakes), or a Twisted whose buffers are not those of ``FileDescriptor``,
    just get ``write``.
    """
    if (
        not getattr(transport, "TLS", True)
        and not getattr(transport, "dataBuffer", True)
        and not getattr(transport, "_tempDataLen", True)
        and not getattr(transport, "_writeDisconnected", True)
        and transport.connected
        and not transport.disconnecting
    ):
        sent = transport.writeSomeData(data)
        if isinstance(sent, int) and sent > 0:
            if sent == len(data):
                return
            data = data[sent:]
    transport.write(data)


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
        self._request(payload, self._binary)

    def _request(self, payload, binary):
        self._waiting.append((payload, binary))
        self._pump()
        self._throttle()

    def processData(self):
        """Take the next frame from the received data; :returns: whether to call again.

        The common request, one whole masked text or binary frame within the size limits,
        is taken here in a few steps; anything else (control and fragmented frames, partial
        frames, protocol errors, large frames, any negotiated extension or frame logging)
        goes through Autobahn's own parser, as every frame did before.
        """
        data = self.data
        if (
            len(data) < 6
            or data[0] not in (_TEXT_FRAME, _BINARY_FRAME)
            or self.current_frame is not None
            or self.inside_message
            or self.state != self.STATE_OPEN
            or self._perMessageCompress is not None
            or self.utf8validateIncoming
            or self.logFrames
            or self.trackedTimings
            or self.autoPingTimeoutCall
            or not self.applyMask
        ):
            return super().processData()
        second = data[1]
        if second < 0x80:  # not masked: Autobahn fails the connection
            return super().processData()
        size = second & 0x7F
        if size < 126:
            start = 6
        elif size == 126 and len(data) >= 8:
            size = int.from_bytes(data[2:4], "big")
            start = 8
            if size < 126:  # not the minimal encoding: Autobahn fails the connection
                return super().processData()
        else:
            return super().processData()
        end = start + size
        factory = self.factory
        if (
            end > len(data)
            or size > factory.max_frame_size
            or size > factory.max_message_size
        ):
            return super().processData()
        self.data = data[end:]
        self._heard()
        self._request(unmask(data[start - 4:start], data[start:end]), data[0] == _BINARY_FRAME)
        return len(self.data) > 0

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
                self._step(self._answer(payload, binary), None)
        finally:
            self._pumping = False

    def _step(self, coroutine, result):
        """Run the answer ``coroutine`` on, sending it ``result`` (a Failure is raised in
        it), until it waits on a Deferred that has not fired or it ends.

        This is what ``Deferred.fromCoroutine`` does, less what a reply does not need (a
        Deferred of its own, cancellation, a copy of the context per step).  A Deferred
        that fires while being waited on is not a recursion: the loop takes its result.
        """
        while True:
            try:
                if isinstance(result, Failure):
                    waiting_on = result.throwExceptionIntoGenerator(coroutine)
                else:
                    waiting_on = coroutine.send(result)
            except StopIteration:
                self._answered()
                return
            except BaseException:
                self._log.failure("Failed to answer a WebSocket request")
                self._answered()
                return
            # An awaited Deferred that has not fired yet (what Deferred.__await__ yields).
            if not isinstance(waiting_on, Deferred):
                result = Failure(TypeError(f"cannot wait on {waiting_on!r}"))
                continue
            box = [True, None]  # [still in this call, result if it fired meanwhile]
            waiting_on.addBoth(self._resumed, coroutine, box)
            if box[0]:
                box[0] = False
                return
            result = box[1]

    def _resumed(self, result, coroutine, box):
        if box[0]:
            box[0] = False
            box[1] = result
        else:
            self._step(coroutine, result)
        return None

    def _answered(self):
        self._busy = False
        self.answered += 1
        self._pump()
        self._throttle()

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
            self._send_reply(data, binary)

    def _send_reply(self, data, binary):
        """Send one reply as one frame (what ``sendMessage`` does when nothing is
        negotiated or configured that changes frames), written at once if it can be."""
        if (
            self._perMessageCompress is not None
            or self.autoFragmentSize
            or self.maskServerFrames
            or self.send_queue
            or self.logOctets
        ):
            self.sendMessage(data, isBinary=binary)
            return
        write_now(self.transport, frame_head(binary, len(data)) + data)

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
