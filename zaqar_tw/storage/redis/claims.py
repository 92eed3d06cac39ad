"""Claims (leases on messages) in Redis: :class:`RedisClaimStore`."""

import re

import orjson
from twisted.internet import defer
from zope.interface import implementer

from zaqar_tw.interfaces import IClaimStore
from zaqar_tw.uuids import uuid4

_CLAIM_ID = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def _known_form(claim_id):
    """Whether ``claim_id`` could be one of ours (anything else is simply unknown)."""
    return isinstance(claim_id, str) and _CLAIM_ID.match(claim_id) is not None


@implementer(IClaimStore)
class RedisClaimStore:
    """The ``IClaimStore`` of the Redis store: every operation is one script."""

    def __init__(self, runner):
        self._runner = runner

    def create(self, project, queue, ttl, grace, limit):
        claim_id = uuid4()
        d = self._runner.run(
            "claim_create", project, queue, claim_id, int(ttl), int(grace), int(limit)
        )

        def claimed(raw):
            messages = orjson.loads(raw)
            return (claim_id, messages) if messages else (None, [])

        return d.addCallback(claimed)

    def get(self, project, queue, claim_id):
        if not _known_form(claim_id):
            return defer.succeed(None)
        d = self._runner.run("claim_get", project, queue, claim_id)

        def found(raw):
            if raw is None:
                return None
            claim = orjson.loads(raw)
            return claim["claim"], claim["messages"]

        return d.addCallback(found)

    def update(self, project, queue, claim_id, ttl, grace):
        if not _known_form(claim_id):
            return defer.succeed(False)
        d = self._runner.run("claim_update", project, queue, claim_id, int(ttl), int(grace))
        return d.addCallback(lambda reply: reply == 1)

    def delete(self, project, queue, claim_id):
        if not _known_form(claim_id):
            return defer.succeed(None)
        d = self._runner.run("claim_delete", project, queue, claim_id)
        return d.addCallback(lambda _: None)
