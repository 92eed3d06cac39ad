"""The Lua scripts of the Redis store, loaded from the ``.lua`` files beside this module.

Each script is a prelude followed by its own file, and receives "now" in milliseconds as
ARGV[1].  Queue scripts (messages, claims, queue metadata and stats) follow ``common.lua`` and
get :func:`~zaqar_tw.storage.redis.keys.queue_keys` as KEYS (``message_post``:
:func:`~zaqar_tw.storage.redis.keys.post_keys`); subscription scripts follow
``subscription_common.lua`` and get :func:`~zaqar_tw.storage.redis.keys.subscription_keys`.
Project scripts follow ``project_common.lua`` and get one project key:
``queue_admit`` the queue index, ``rate_take`` a token bucket.
"""

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from typing import Callable

from zaqar_tw.storage.redis.keys import (
    post_keys,
    queue_index_keys,
    queue_keys,
    rate_keys,
    subscription_keys,
)

QUEUE_SCRIPTS = (
    "queue_create",
    "queue_set_metadata",
    "queue_stats",
    "message_post",
    "message_list",
    "message_get",
    "message_delete",
    "message_bulk_delete",
    "message_pop",
    "claim_create",
    "claim_get",
    "claim_update",
    "claim_delete",
)

# Scripts whose KEYS are not their group's.
OWN_KEYS = {"message_post": post_keys, "queue_admit": queue_index_keys}

SUBSCRIPTION_SCRIPTS = (
    "subscription_create",
    "subscription_get",
    "subscription_list",
    "subscription_update",
    "subscription_confirm",
    "subscription_delete",
)

PROJECT_SCRIPTS = ("queue_admit", "rate_take")

# Scripts whose writes, if any, are housekeeping (expiry, delays, token buckets) that no
# client is told about: they need no WAIT for replicas.  Every other script writes.
UNACKNOWLEDGED = frozenset({
    "queue_stats", "message_list", "message_get", "claim_get", "subscription_get",
    "subscription_list", "rate_take",
})


@dataclass(frozen=True)
class Script:
    """One Lua script: its name, source, SHA1 (for ``EVALSHA``), the function giving its
    KEYS from ``(project, queue)``, and whether it writes what a client is acknowledged."""

    name: str
    source: bytes
    sha: str
    keys: Callable
    writes: bool = True


def _read(name):
    return files(__package__).joinpath(f"{name}.lua").read_bytes()


def load_scripts():
    """:returns: a dict of script name to :class:`Script`, for every name of
    :data:`QUEUE_SCRIPTS`, :data:`SUBSCRIPTION_SCRIPTS` and :data:`PROJECT_SCRIPTS`."""
    scripts = {}
    for prelude, keys, names in (
        ("common", queue_keys, QUEUE_SCRIPTS),
        ("subscription_common", subscription_keys, SUBSCRIPTION_SCRIPTS),
        ("project_common", rate_keys, PROJECT_SCRIPTS),
    ):
        head = _read(prelude)
        for name in names:
            source = head + b"\n-- " + name.encode() + b".lua\n" + _read(name)
            scripts[name] = Script(
                name, source, hashlib.sha1(source).hexdigest(), OWN_KEYS.get(name, keys),
                name not in UNACKNOWLEDGED,
            )
    return scripts
