"""One call at a time per key: callers asking for a key whose call is under way wait for that
call's outcome instead of starting another (so concurrent requests bearing one new token
cost Keystone one validation)."""

import inspect

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure


class SingleFlight:
    """Calls under way, by key."""

    def __init__(self):
        self._waiting = {}

    def run(self, key, call):
        """The outcome of ``call()`` for ``key``, shared with every caller of the same key
        while it runs.

        :param call: a function returning a coroutine, a Deferred or a value; called only
            when no call for ``key`` is under way.
        :returns: a Deferred of its result.  Cancelling it stops the wait of this caller
            only; the call goes on for the others.
        """
        waiters = self._waiting.get(key)
        first = waiters is None
        if first:
            waiters = self._waiting[key] = []
        waiter = Deferred(waiters.remove)
        waiters.append(waiter)
        if first:
            Deferred.fromCoroutine(_outcome(call)).addBoth(self._settle, key)
        return waiter

    def _settle(self, result, key):
        for waiter in self._waiting.pop(key):
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)


async def _outcome(call):
    result = call()
    if inspect.isawaitable(result):
        return await result
    return result
