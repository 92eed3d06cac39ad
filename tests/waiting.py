"""Real waits, for tests that wait on real processes (a restarted Redis, a twistd child).

Time-based behaviour of our own code never waits: it takes an injected clock.  These helpers
are only for what an injected clock cannot advance: another process starting or dying.
"""

import inspect


def _reactor():
    from twisted.internet import reactor

    return reactor


async def pause(seconds):
    """Let the reactor run for ``seconds`` of real time."""
    from twisted.internet import task

    await task.deferLater(_reactor(), seconds, lambda: None)


async def wait_until(check, timeout=15.0, what="condition", step=0.05):
    """Poll ``check`` (returning a value, or an awaitable of one) until its result is true.

    :returns: that result.
    :raises AssertionError: still false after ``timeout`` seconds.
    """
    reactor = _reactor()
    deadline = reactor.seconds() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if reactor.seconds() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pause(step)
