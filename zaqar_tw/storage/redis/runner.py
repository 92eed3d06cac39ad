"""What the controllers of the Redis store share: the connection, the clock and the
scripts, and a way to run a queue script with "now" attached."""

import functools

from twisted.internet import defer

from zaqar_tw.errors import QuotaExceeded


def deferred(method):
    """Make ``method`` return a failed Deferred instead of raising (e.g. on a body that cannot
    be encoded), so every controller method answers with a Deferred."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        return defer.maybeDeferred(method, *args, **kwargs)

    return wrapper


class ScriptRunner:
    """Runs the store's scripts against one queue.

    :param connection: a :class:`~zaqar_tw.storage.redis.connection.RedisConnection`.
    :param clock: the ``IReactorTime`` every notion of "now" comes from.
    :param scripts: the dict of :func:`~zaqar_tw.storage.redis.scripts.load_scripts`.
    """

    def __init__(self, connection, clock, scripts):
        self.connection = connection
        self.clock = clock
        self.scripts = scripts

    def now_ms(self):
        """:returns: the clock's time in integer milliseconds."""
        return round(self.clock.seconds() * 1000)

    def run(self, name, project, queue, *args):
        """Run script ``name`` on the queue's keys (those the script takes) with
        ARGV = (now, *args).

        :returns: Deferred firing with the script's reply.
        """
        script = self.scripts[name]
        return self.connection.run(script, script.keys(project, queue), (self.now_ms(), *args))

    def admit_queue(self, project, queue, max_queues):
        """Index ``queue`` in its project unless that takes the project past ``max_queues``
        (a queue already indexed is admitted); run before a script may create the queue.

        :returns: Deferred firing with ``None``.
        :raises QuotaExceeded: (in the Deferred) the index is full without the queue.
        """

        def admitted(reply):
            if reply != 1:
                raise QuotaExceeded("queues", max_queues)

        return self.run("queue_admit", project, queue, queue, int(max_queues)).addCallback(
            admitted
        )
