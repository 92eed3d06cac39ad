"""Claim operations: create, get, renew and release."""

from zaqar_tw.core import validation as v
from zaqar_tw.core.operation import Operations, operation
from zaqar_tw.errors import BadRequest, ClaimDoesNotExist


class ClaimOperations(Operations):
    """Every claim operation of the API."""

    @operation("claims:create", "Claim could not be created.")
    async def create(self, ctx, queue, limit, body):
        """Claim up to ``limit`` messages; the body may give ``ttl`` and ``grace``.

        :returns: ``(claim_id, messages)``, or ``(None, [])`` when nothing was claimable.
        """
        limit = v.check_limit(
            v.as_int(limit, "limit"), self.limits.max_messages_per_claim_or_pop
        )
        document = v.parse_document(body, required=False)
        ttl, grace = self._lease({} if document is None else document)
        claim_id, messages = await self.storage.claims.create(
            ctx.project, queue, ttl, grace, limit
        )
        return claim_id, await self.filtered(ctx, queue, messages)

    @operation("claims:get", "Claim could not be queried.")
    async def get(self, ctx, queue, claim_id):
        """:returns: ``{"id", "ttl", "age", "messages"}``.
        :raises NotFound: the claim is unknown or expired.
        """
        found = await self.storage.claims.get(ctx.project, queue, claim_id)
        if found is None:
            raise ClaimDoesNotExist(claim_id, queue, ctx.project)
        claim, messages = found
        return dict(claim, messages=await self.filtered(ctx, queue, messages))

    @operation("claims:update", "Claim could not be updated.")
    async def update(self, ctx, queue, claim_id, body):
        """Renew a claim with the body's ``ttl`` and ``grace`` (each defaults to the
        configured default).

        :raises NotFound: the claim is unknown or expired.
        """
        ttl, grace = self._lease(v.parse_document(body))
        if not await self.storage.claims.update(ctx.project, queue, claim_id, ttl, grace):
            raise ClaimDoesNotExist(claim_id, queue, ctx.project)

    @operation("claims:delete", "Claim could not be deleted.")
    async def delete(self, ctx, queue, claim_id):
        """Release a claim; an unknown one is no error."""
        await self.storage.claims.delete(ctx.project, queue, claim_id)

    def _lease(self, document):
        """The checked ``(ttl, grace)`` of a claim body; JSON ``null`` means the default, as
        python-zaqarclient sends it for values the caller left out."""
        document = v.require_object(document)
        ttl = v.checked_field(
            document, "ttl", int, self.limits.default_claim_ttl, null_means_default=True
        )
        grace = v.checked_field(
            document, "grace", int, self.limits.default_claim_grace, null_means_default=True
        )
        if not v.MIN_CLAIM_TTL <= ttl <= self.limits.max_claim_ttl:
            raise BadRequest(
                f"The TTL for a claim may not exceed {self.limits.max_claim_ttl} seconds, and "
                "must be at least 60 seconds long."
            )
        if not v.MIN_CLAIM_GRACE <= grace <= self.limits.max_claim_grace:
            raise BadRequest(
                f"The grace for a claim may not exceed {self.limits.max_claim_grace} seconds, "
                "and must be at least 60 seconds long."
            )
        return ttl, grace
