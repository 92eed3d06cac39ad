"""One clock for every node: this node's clock, corrected by its measured offset to a clock
all nodes share (an :class:`~zaqar_tw.interfaces.ITimeSource`: the store's server).

Message and claim expiry compare times written by one node with "now" on another, so a node
whose clock runs ahead would take over live claims and expire messages early.  The service
gives everything that reads time (the store, the core, the WebSocket timers, the policy
watch) one :class:`SharedClock`, and :class:`ClockSyncService` measures its offset once the
store connects and again every :attr:`ClockSyncService.interval` seconds.  Reading the time
costs an addition: the hot path never waits for the network.

An offset is measured as ``shared time - (sent + received) / 2``, so its error is at most
half the round trip; a reading whose round trip exceeds :attr:`SharedClock.max_round_trip`
is not used.  Until the first reading (a round trip after the store connects), the node's
own clock is used.
"""

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

log = Logger()


class UnreliableReading(Exception):
    """The shared clock answered too slowly for its reading to be trusted."""


@implementer(IReactorTime)
class SharedClock:
    """An ``IReactorTime`` whose :meth:`seconds` is the shared clock's time.

    :param base: the node's ``IReactorTime`` (the reactor): timers run on it, and
        :meth:`seconds` is its time plus :attr:`offset`.
    :ivar offset: seconds to add to the base clock's time (``0.0`` until measured).
    :ivar synchronized: whether an offset was measured.
    """

    #: Seconds a reading of the shared clock may take to be used.
    max_round_trip = 1.0
    #: An offset at least this large (seconds) is reported as a warning.
    warn_offset = 1.0

    def __init__(self, base):
        self._base = base
        self.offset = 0.0
        self.synchronized = False
        self._reported = None

    def seconds(self):
        """:returns: the shared clock's time, in epoch seconds."""
        return self._base.seconds() + self.offset

    def callLater(self, delay, callable, *args, **kw):
        """Call ``callable`` in ``delay`` seconds (of the base clock: delays are relative)."""
        return self._base.callLater(delay, callable, *args, **kw)

    def getDelayedCalls(self):
        """:returns: the base clock's pending calls."""
        return self._base.getDelayedCalls()

    def synchronize(self, source):
        """Measure the offset to ``source`` and use it from now on.

        :param source: an :class:`~zaqar_tw.interfaces.ITimeSource`.
        :returns: a Deferred firing with the offset used.
        :raises UnreliableReading: (in the Deferred) the reading took longer than
            :attr:`max_round_trip`; the previous offset stays.
        :raises zaqar_tw.errors.StoreUnavailable: (in the Deferred) the source cannot be
            read now; the previous offset stays.
        """
        sent = self._base.seconds()
        return defer.maybeDeferred(source.time).addCallback(self._measured, sent)

    def _measured(self, shared, sent):
        received = self._base.seconds()
        if received - sent > self.max_round_trip:
            raise UnreliableReading(
                f"the shared clock took {received - sent:.1f} s to answer"
            )
        self.offset = shared - (sent + received) / 2
        self.synchronized = True
        self._report()
        return self.offset

    def _report(self):
        """Say how far this node's clock is from the shared one: once, then whenever that
        changes by :attr:`warn_offset` or more."""
        offset = self.offset
        if self._reported is not None and abs(offset - self._reported) < self.warn_offset:
            return
        self._reported = offset
        if abs(offset) < self.warn_offset:
            log.info("clock: this node's clock is within {offset} s of the store's",
                     offset=f"{abs(offset):.3f}")
            return
        log.warn(
            "clock: this node's clock is {offset} s {way} the store's; zaqar-tw keeps "
            "time by the store's clock, but correct this node's (NTP)",
            offset=f"{abs(offset):.1f}", way="behind" if offset > 0 else "ahead of",
        )


class ClockSyncService(Service):
    """Keeps a :class:`SharedClock` on its source: measures once ``ready`` fires, then every
    :attr:`interval` seconds (every :attr:`retry_interval` seconds after a failed reading).
    """

    name = "clock"

    #: Seconds between two readings.
    interval = 60.0
    #: Seconds before another try after a failed reading.
    retry_interval = 1.0

    def __init__(self, clock, source, ready=None):
        """
        :param clock: the :class:`SharedClock` to keep.
        :param source: the :class:`~zaqar_tw.interfaces.ITimeSource` to read.
        :param ready: when given, a callable returning a Deferred that fires once the
            source is worth reading (the store connected).
        """
        self.clock = clock
        self.source = source
        self.ready = ready
        self._next = None

    def startService(self):
        """Measure once the source is ready, then keep measuring."""
        Service.startService(self)
        d = defer.maybeDeferred(self.ready) if self.ready is not None else defer.succeed(None)
        d.addCallbacks(lambda _: self._sync(), lambda _: None)

    def stopService(self):
        """Stop measuring."""
        Service.stopService(self)
        if self._next is not None and self._next.active():
            self._next.cancel()
        self._next = None

    def _sync(self):
        self._next = None
        if not self.running:
            return
        d = self.clock.synchronize(self.source)
        d.addCallbacks(lambda _: self.interval, self._failed)
        d.addCallback(self._schedule)

    def _failed(self, failure):
        log.debug("clock: cannot read the store's clock: {why}",
                  why=failure.getErrorMessage())
        return self.retry_interval

    def _schedule(self, delay):
        if self.running:
            self._next = self.clock.callLater(delay, self._sync)
