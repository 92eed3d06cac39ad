"""Key names of the Redis store.

Every key of one queue carries the hash tag ``{<project>/<queue>}`` so that a script touching
them all stays in one cluster slot.  The project id may be any string, so ``%``, ``{``, ``}``
and ``/`` are percent-escaped in it; queue names (``^[a-zA-Z0-9_.-]{1,64}$``) need no escaping.

Per queue (``T`` the tag):

==================  ====  =====================================================================
``zq:T:q``          hash  ``m`` metadata (JSON), ``c`` created (ms), ``r`` last message rank
``zq:T:ids``        zset  every message id, scored by rank (enqueue order)
``zq:T:free``       zset  the ids not held by a claim, scored by rank
``zq:T:exp``        zset  every message id, scored by its expiry time (ms)
``zq:T:msgs``       hash  message id -> msgpack record (see ``common.lua``)
``zq:T:bodies``     hash  message id -> body as JSON bytes
``zq:T:claims``     hash  claim id -> msgpack claim record
``zq:T:cexp``       zset  claim id, scored by its expiry time (ms)
==================  ====  =====================================================================

Per project: ``zp:{<project>}:queues``, a zset of queue names (score 0, listed by lex range).
The queue's own keys are the truth; this index may briefly name a queue that a concurrent
delete removed, so listings check the queue exists.
"""

from functools import lru_cache

QUEUE_KEY_SUFFIXES = ("q", "ids", "free", "exp", "msgs", "bodies", "claims", "cexp")


def escape_project(project):
    """:returns: ``project`` with ``%``, ``{``, ``}`` and ``/`` percent-escaped."""
    return (
        (project or "")
        .replace("%", "%25")
        .replace("{", "%7B")
        .replace("}", "%7D")
        .replace("/", "%2F")
    )


@lru_cache(maxsize=4096)
def queue_keys(project, queue):
    """:returns: the tuple of the queue's keys, in the order the scripts expect as KEYS."""
    prefix = "zq:{%s/%s}:" % (escape_project(project), queue)
    return tuple(prefix + suffix for suffix in QUEUE_KEY_SUFFIXES)


def queue_index_key(project):
    """:returns: the key of the project's queue-name index."""
    return "zp:{%s}:queues" % escape_project(project)
