"""Key names of the Redis store.

Every key of one queue carries the hash tag ``{<project>/<queue>}`` so that a script touching
them all stays in one cluster slot.  The project id may be any string, so ``%``, ``{``, ``}``
and ``/`` are percent-escaped in it; queue names (``^[a-zA-Z0-9_.-]{1,64}$``) need no escaping.

Per queue (``T`` the tag):

==================  ====  =====================================================================
``zq:T:q``          hash  ``m`` metadata (JSON), ``c`` created (ms), ``r`` last message rank
``zq:T:ids``        zset  every message id, scored by rank (enqueue order)
``zq:T:free``       zset  the ids that may be claimed (not held, not delayed), scored by rank
``zq:T:delay``      zset  the ids posted with a delay, scored by the time they become available
                          (ms), until a script moves them to ``free``
``zq:T:exp``        zset  every message id, scored by its expiry time (ms)
``zq:T:msgs``       hash  message id -> msgpack record (see ``common.lua``)
``zq:T:bodies``     hash  message id -> body as JSON bytes
``zq:T:claims``     hash  claim id -> msgpack claim record
``zq:T:cexp``       zset  claim id, scored by its expiry time (ms)
``zq:T:subs``       hash  subscription id -> msgpack record (see ``subscription_common.lua``)
``zq:T:subids``     zset  every subscription id, score 0 (listed by lex range, i.e. by id)
``zq:T:suburis``    hash  subscriber URI -> subscription id (one subscription per URI)
==================  ====  =====================================================================

:func:`queue_keys` names ``q`` and the message and claim keys, :func:`subscription_keys`
``q`` and the subscription keys: a purge removes the former but ``q``, a queue delete both.
:func:`post_keys` adds ``subids`` to the former: a post counts the subscriptions, so that the
notifications need no extra round trip on a queue without any.

Per project (tag ``{<project>}``, another slot than the queues'):

=======================  ======  ===============================================================
``zp:{P}:queues``        zset    queue names (score 0, listed by lex range)
``zp:{P}:rate:<name>``   string  a token bucket's theoretical arrival time (ms, see
                                 ``rate_take.lua``); absent means full
=======================  ======  ===============================================================

The queue's own keys are the truth; the index may briefly name a queue that a concurrent
delete removed, so listings check the queue exists.  With a queue quota, a queue is admitted
to the index (``queue_admit.lua``) before it is created; a queue that is deleted while a
request creates it may be left indexed without existing (it then holds a place of the
quota until the name is used or deleted again), or re-indexed after another queue took its
place (the project is then over its quota by that queue).
"""

from functools import lru_cache

QUEUE_KEY_SUFFIXES = ("q", "ids", "free", "exp", "msgs", "bodies", "claims", "cexp", "delay")
SUBSCRIPTION_KEY_SUFFIXES = ("q", "subs", "subids", "suburis")


def escape_project(project):
    """:returns: ``project`` with ``%``, ``{``, ``}`` and ``/`` percent-escaped."""
    return (
        (project or "")
        .replace("%", "%25")
        .replace("{", "%7B")
        .replace("}", "%7D")
        .replace("/", "%2F")
    )


def _queue_prefix(project, queue):
    return "zq:{%s/%s}:" % (escape_project(project), queue)


@lru_cache(maxsize=4096)
def queue_keys(project, queue):
    """:returns: the tuple of the queue's hash, message and claim keys, in the order the
    queue scripts expect as KEYS."""
    prefix = _queue_prefix(project, queue)
    return tuple(prefix + suffix for suffix in QUEUE_KEY_SUFFIXES)


@lru_cache(maxsize=4096)
def post_keys(project, queue):
    """:returns: :func:`queue_keys` and the ``subids`` key: the KEYS of ``message_post``."""
    return queue_keys(project, queue) + (_queue_prefix(project, queue) + "subids",)


@lru_cache(maxsize=4096)
def subscription_keys(project, queue):
    """:returns: the tuple of the queue's hash and subscription keys, in the order the
    subscription scripts expect as KEYS."""
    prefix = _queue_prefix(project, queue)
    return tuple(prefix + suffix for suffix in SUBSCRIPTION_KEY_SUFFIXES)


def queue_index_key(project):
    """:returns: the key of the project's queue-name index."""
    return "zp:{%s}:queues" % escape_project(project)


def rate_key(project, name):
    """:returns: the key of the project's token bucket ``name``."""
    return "zp:{%s}:rate:%s" % (escape_project(project), name)


def queue_index_keys(project, name):
    """:returns: the KEYS of ``queue_admit``: the project's index (``name`` is not part of
    it)."""
    return (queue_index_key(project),)


def rate_keys(project, name):
    """:returns: the KEYS of ``rate_take``: the bucket's key."""
    return (rate_key(project, name),)
