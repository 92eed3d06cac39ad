"""The Lua scripts of the Redis store, loaded from the ``.lua`` files beside this module.

Each queue script is ``common.lua`` followed by its own file; it receives the queue's keys
(:func:`zaqar_tw.storage.redis.keys.queue_keys`) as KEYS and "now" in milliseconds as ARGV[1].
"""

import hashlib
from dataclasses import dataclass
from importlib.resources import files

NAMES = (
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


@dataclass(frozen=True)
class Script:
    """One Lua script: its name, source and SHA1 (for ``EVALSHA``)."""

    name: str
    source: bytes
    sha: str


def _read(name):
    return files(__package__).joinpath(f"{name}.lua").read_bytes()


def load_scripts():
    """:returns: a dict of script name to :class:`Script`, for every name of :data:`NAMES`."""
    common = _read("common")
    scripts = {}
    for name in NAMES:
        source = common + b"\n-- " + name.encode() + b".lua\n" + _read(name)
        scripts[name] = Script(name, source, hashlib.sha1(source).hexdigest())
    return scripts
