"""Token buckets of projects in SQLite: :class:`SQLiteRateStore`.

A bucket is kept as the generic cell rate algorithm keeps it: one number, its "theoretical
arrival time" ``tat`` (ms of the clock).  It is full while ``tat <= now`` and otherwise holds
``(now + burst * interval - tat) / interval`` tokens, ``interval`` being the ms it takes to
gain one; taking a token moves ``tat`` one interval later.  The Redis store keeps the same
number (``rate_take.lua``).
"""

import math

from zope.interface import implementer

from zaqar_store_sqlite.rows import now_ms
from zaqar_tw.interfaces import IRateStore


@implementer(IRateStore)
class SQLiteRateStore:
    """The ``IRateStore`` of the SQLite store: a take is one transaction.

    :param database: the :class:`~zaqar_store_sqlite.database.Database`.
    :param clock: the ``IReactorTime`` "now" comes from.
    """

    def __init__(self, database, clock):
        self._database = database
        self._clock = clock

    def take(self, project, bucket, rate, burst):
        return self._database.write(
            _take, project, bucket, 1000.0 / rate, int(burst), now_ms(self._clock)
        )


# On the writer thread, inside a transaction.


def _take(connection, project, name, interval, burst, now):
    row = connection.execute(
        "SELECT tat FROM rate_buckets WHERE project = ? AND name = ?", (project, name)
    ).fetchone()
    tat = max(now, row[0] if row else now)
    room = now + burst * interval - tat  # the tokens held, in ms of refill
    taken = room >= interval
    if taken:
        tat += interval
        room -= interval
        connection.execute(
            "INSERT OR REPLACE INTO rate_buckets (project, name, tat, expires) "
            "VALUES (?, ?, ?, ?)",
            (project, name, tat, math.ceil(tat)),
        )
    left = math.floor(room / interval)
    wait = math.ceil(interval - (room - left * interval)) if left < burst else 0
    return taken, left, wait / 1000
