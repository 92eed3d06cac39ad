"""Sharing a queue: the data of a pre-signed URL for some of its paths (spec 1.2
``POST /v2/queues/Q/share``, 3.12).  Nothing is stored: the URL is its own proof."""

from zaqar_tw.auth.signed_url import NO_KEY
from zaqar_tw.core import validation as v
from zaqar_tw.core.operation import Operations, operation
from zaqar_tw.errors import BadRequest

KNOWN_KEYS = frozenset(("paths", "methods", "expires"))
# What a queue's pre-signed URL may cover, below /v2/queues/Q/.
SHAREABLE_PATHS = frozenset(("messages", "subscriptions", "claims"))
SHAREABLE_METHODS = frozenset(("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"))
DEFAULT_PATHS = ["messages"]
DEFAULT_METHODS = ["GET"]


class ShareOperations(Operations):
    """The share operation.

    :param signer: the service's :class:`~zaqar_tw.auth.signed_url.UrlSigner` (after the
        parts every operation group takes).
    """

    def __init__(self, *parts, signer):
        super().__init__(*parts)
        self.signer = signer

    @operation("queues:share", "Queue could not be shared.")
    async def create(self, ctx, queue, body):
        """Sign a URL for paths of ``queue`` in the caller's project.

        :param body: ``{"paths", "methods", "expires"}``, each optional (defaults:
            ``["messages"]``, ``["GET"]``, a day from now); raw bytes or a decoded document.
        :returns: ``{"paths", "methods", "project", "expires", "signature"}``, paths as full
            request paths, paths and methods sorted.
        :raises BadRequest: a malformed request, or no signing key configured.
        """
        document = v.require_object(v.parse_document(body))
        unknown = set(document) - KNOWN_KEYS
        if unknown:
            raise BadRequest(f"Unknown keys: {_set_text(unknown)}")
        paths = _names(document, "paths", DEFAULT_PATHS, SHAREABLE_PATHS)
        if not self.signer.can_sign:
            raise BadRequest(NO_KEY)
        methods = _names(document, "methods", DEFAULT_METHODS, SHAREABLE_METHODS)
        try:
            return self.signer.sign(
                [f"/v2/queues/{queue}/{path}" for path in paths],
                methods,
                ctx.project,
                document.get("expires"),
            )
        except ValueError as exc:
            raise BadRequest(str(exc)) from None


def _set_text(values):
    """Values as Python writes a set of them (``{'foo'}``), sorted, so that the text is the
    reference's and the same every time."""
    return "{" + ", ".join(sorted({repr(value) for value in values})) + "}"


def _names(document, key, default, allowed):
    """The list under ``key`` (``default`` when absent or empty), each item one of
    ``allowed``.

    :raises BadRequest: not a list, or with other items.
    """
    names = document.get(key) or default
    if not isinstance(names, list):
        raise BadRequest(f"`{key}` should be a list")
    invalid = [name for name in names if not (isinstance(name, str) and name in allowed)]
    if invalid:
        raise BadRequest(f"Invalid {key}: {_set_text(invalid)}")
    return names
