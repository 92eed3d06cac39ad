"""Token buckets of projects in Redis: :class:`RedisRateStore`."""

from zope.interface import implementer

from zaqar_tw.interfaces import IRateStore


@implementer(IRateStore)
class RedisRateStore:
    """The ``IRateStore`` of the Redis store: a take is one script (``rate_take.lua``) on the
    bucket's key, which carries the project's hash tag."""

    def __init__(self, runner):
        self._runner = runner

    def take(self, project, bucket, rate, burst):
        d = self._runner.run("rate_take", project, bucket, 1000.0 / rate, int(burst))
        return d.addCallback(lambda reply: (reply[0] == 1, reply[1], reply[2] / 1000))
