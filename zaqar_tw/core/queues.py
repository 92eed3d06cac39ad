"""Queue operations: list, create, metadata, update (JSON patch), delete, stats, purge."""

import orjson
from twisted.logger import Logger

from zaqar_tw.core import validation as v
from zaqar_tw.core.operation import Operations, operation
from zaqar_tw.errors import (
    BadRequest,
    Conflict,
    InvalidBody,
    MetadataChanged,
    QueueDoesNotExist,
    UnsupportedMediaType,
)

JSON_PATCH = "application/openstack-messaging-v2.0-json-patch"
PATCH_OPS = ("add", "remove", "replace")
RESOURCE_TYPES = ("messages", "subscriptions")
# Tries of a metadata update against concurrent updates of the same queue.
PATCH_ATTEMPTS = 100

log = Logger()


def _warn_dead_lettering(ctx, name, keys):
    """Dead-lettering is not built: a queue that asks for it is accepted (clients such as
    Zaqar's tempest tests set these keys and expect 201), and the operator is told."""
    if keys:
        log.warn(
            "queue {project}/{queue} sets {keys}, but dead-letter queues are not built yet: "
            "its messages stay in it however often they are claimed",
            project=ctx.project, queue=name, keys=", ".join(keys),
        )


class QueueOperations(Operations):
    """Every queue operation of the API."""

    @operation("queues:get_all", "Queues could not be listed.", scoped=False)
    async def list(self, ctx, marker=None, limit=None, detailed=None, with_count=None,
                   raw=False):
        """:param raw: show detailed metadata as stored, without reserved defaults
            (WebSocket).
        :returns: ``{"queues": [{"name"[, "metadata"]}], "count": int | None}``."""
        limit = v.check_limit(
            v.as_int(limit, "limit"), self.limits.max_queues_per_page, wording="no"
        )
        detailed = v.as_bool(detailed, "detailed")
        with_count = v.as_bool(with_count, "with_count")
        queues = await self.storage.queues.list(
            ctx.project, marker=marker, limit=limit, detailed=detailed
        )
        if detailed and not raw:
            queues = [
                {"name": q["name"], "metadata": v.with_reserved_defaults(q["metadata"], self.limits)}
                for q in queues
            ]
        count = await self.storage.queues.count(ctx.project) if with_count else None
        return {"queues": queues, "count": count}

    @operation("queues:create", "Queue could not be created.")
    async def create(self, ctx, name, body):
        """Create the queue unless it exists (its metadata is then left alone).

        :returns: whether it was created.
        """
        self._check_size(v.size_of(body), BadRequest)
        document = v.parse_document(body, required=False)
        metadata = {} if document is None else v.require_object(document)
        v.check_reserved_metadata(metadata, self.limits, "Invalid API request")
        if self.filters:
            await self.filters.check_metadata(metadata, ctx)
        created = await self.storage.queues.create(
            ctx.project, name, metadata, **self.project_limits.quotas(ctx, "max_queues")
        )
        if created:
            _warn_dead_lettering(ctx, name, v.dead_letter_keys(metadata))
        return created

    @operation("queues:get", "Queue metadata could not be retrieved.")
    async def get(self, ctx, name, raw=False):
        """:returns: the metadata, with reserved defaults unless ``raw`` (``{}`` for a queue
        that does not exist: queues are lazy)."""
        metadata = await self.storage.queues.get_metadata(ctx.project, name) or {}
        return metadata if raw else v.with_reserved_defaults(metadata, self.limits)

    @operation("queues:update", "Queue could not be updated.")
    async def update(self, ctx, name, body, media_type=None):
        """Apply a JSON patch (spec 3.10) to the metadata.

        :param media_type: the request's content type, which must be exactly the JSON-patch
            media type (checked first); ``None`` skips the check (WebSocket).
        :returns: the resulting metadata with reserved defaults.
        """
        if media_type is not None and media_type != JSON_PATCH:
            raise UnsupportedMediaType(
                "Accepted media type for PATCH: {'Accept-Patch': '%s'}." % JSON_PATCH
            )
        if not body:
            raise InvalidBody("PATCH body could not be empty for update.")
        changes = v.parse_document(body)
        if not isinstance(changes, list):
            raise InvalidBody("Document type not supported.")
        changes = [_checked_change(change) for change in changes]
        # Read, patch, then write only over what was read: a concurrent update makes the
        # write fail, and the patch is applied again to the newer metadata.
        for _ in range(PATCH_ATTEMPTS):
            stored = await self.storage.queues.get_metadata(ctx.project, name)
            if stored is None:
                raise QueueDoesNotExist(name, ctx.project)
            metadata = await self._patched(ctx, stored, changes)
            try:
                written = await self.storage.queues.set_metadata(
                    ctx.project, name, metadata, expected=stored
                )
            except MetadataChanged:
                continue
            if not written:
                raise QueueDoesNotExist(name, ctx.project)
            set_now = {key: value for op, key, value in changes if op != "remove"}
            _warn_dead_lettering(ctx, name, v.dead_letter_keys(set_now))
            return v.with_reserved_defaults(metadata, self.limits)
        raise Conflict(
            "The queue's metadata kept changing while this update was applied; retry it."
        )

    async def _patched(self, ctx, stored, changes):
        """The metadata ``stored`` with ``changes`` applied, checked.

        :raises ZaqarError: a change conflicts, or the result is invalid.
        """
        metadata = dict(stored)
        reserved = v.with_reserved_defaults({}, self.limits)
        for op, key, value in changes:
            _apply(metadata, reserved, op, key, value)
        self._check_size(len(orjson.dumps(metadata)), InvalidBody)
        v.check_reserved_metadata(metadata, self.limits, "Invalid request body")
        if self.filters:
            await self.filters.check_metadata(metadata, ctx)
        return metadata

    @operation("queues:delete", "Queue could not be deleted.")
    async def delete(self, ctx, name):
        """Delete the queue and everything in it; a missing queue is no error."""
        await self.storage.queues.delete(ctx.project, name)

    @operation("queues:stats", "Queue stats could not be read.")
    async def stats(self, ctx, name):
        """:returns: ``{"messages": {"claimed", "free", "total"[, "oldest", "newest"]}}``,
        zeros for a queue that does not exist."""
        stats = await self.storage.queues.stats(ctx.project, name)
        counts = {key: stats[key] for key in ("claimed", "free", "total")}
        if counts["total"] and stats.get("oldest") and stats.get("newest"):
            ends = [stats["oldest"]]
            if stats["newest"] is not stats["oldest"]:
                ends.append(stats["newest"])
            ends = await self.filtered(ctx, name, ends)
            counts["oldest"], counts["newest"] = ends[0], ends[-1]
        return {"messages": counts}

    @operation("queues:purge", "Queue could not be purged.")
    async def purge(self, ctx, name, body):
        """Delete the queue's messages and/or subscriptions, keeping the queue."""
        document = v.parse_document(body, required=False)
        types = list(RESOURCE_TYPES)
        if document is not None:
            document = v.require_object(document)
            if "resource_types" not in document:
                raise BadRequest('Post body must contain key "resource_types".')
            types = document["resource_types"]
            if not isinstance(types, list) or not set(map(_hashable, types)) <= set(
                RESOURCE_TYPES
            ):
                raise BadRequest(
                    "Resource types must be a sub set of {'messages', 'subscriptions'}."
                )
        if "messages" in types:
            await self.storage.queues.purge(ctx.project, name)
        if "subscriptions" in types:
            await self.storage.subscriptions.purge(ctx.project, name)

    def _check_size(self, size, error):
        if size > self.limits.max_queue_metadata:
            raise error(f"Queue metadata is too large. Max size: {self.limits.max_queue_metadata}")


def _hashable(value):
    return value if isinstance(value, str) else repr(value)


def _checked_change(change):
    """One change of a queue PATCH as ``(op, key, value)``.

    :raises InvalidBody: the change is not a valid add/replace/remove of ``/metadata/<key>``.
    """
    if not isinstance(change, dict):
        raise InvalidBody("Document type not supported.")
    choices = ", ".join(PATCH_OPS)
    if "op" not in change:
        raise InvalidBody(
            f"Unable to find `op` in JSON Schema change. It must be one of the following: "
            f"{choices}."
        )
    op = change["op"]
    if op not in PATCH_OPS:
        raise InvalidBody(f"Invalid operation: `{op}`. It must be one of the following: {choices}.")
    if "path" not in change:
        raise InvalidBody("Unable to find 'path' in JSON Schema change")
    path = change["path"]
    if op != "remove" and "value" not in change:
        raise InvalidBody(f'Operation "{op}" requires a member named "value".')
    segments = _pointer_segments(path)
    if len(segments) != 2:
        raise InvalidBody("Invalid JSON pointer for this resource: '/metadata, e.g /metadata/key'")
    if op != "remove" and segments[0].lower() != "metadata":
        raise InvalidBody("The root of path must be metadata, e.g /metadata/key.")
    return op, segments[1], change.get("value")


def _pointer_segments(path):
    """The unescaped segments of a JSON pointer (RFC 6901).

    :raises InvalidBody: not a well-formed pointer.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidBody(f"Pointer `{path}` does not start with \"/\".")
    if path.endswith("/"):
        raise InvalidBody(f"Pointer `{path}` ends with \"/\".")
    if "//" in path:
        raise InvalidBody(f"Pointer `{path}` contains adjacent \"/\".")
    segments = path[1:].split("/")
    for segment in segments:
        if "~" in segment.replace("~0", "").replace("~1", ""):
            raise InvalidBody(
                f"Pointer `{path}` contains \"~\" not part of a recognized escape sequence."
            )
    return [s.replace("~1", "/").replace("~0", "~") for s in segments]


def _apply(metadata, reserved, op, key, value):
    """Apply one checked change to ``metadata`` in place.

    :raises Conflict: replace or remove of a key that is neither present nor reserved.
    """
    if op == "add":
        metadata[key] = value
    elif op == "replace":
        if key not in metadata and key not in reserved:
            raise Conflict(f"Can't replace non-existent object {key}.")
        metadata[key] = value
    elif key in metadata:
        del metadata[key]
    elif key not in reserved:
        raise Conflict(f"Can't remove non-existent object {key}.")
