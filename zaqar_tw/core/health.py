"""Liveness and health: ping and the detailed admin health check."""

import uuid

from zaqar_tw.core.operation import Operations, operation
from zaqar_tw.errors import StoreUnavailable

HEALTH_QUEUE = "zaqar-health"


class HealthOperations(Operations):
    """Ping and the admin health check."""

    @operation("ping:get", "Ping could not be answered.", scoped=False)
    async def ping(self, ctx):
        """:returns: whether the store answers."""
        try:
            return bool(await self.storage.ping())
        except StoreUnavailable:
            return False

    @operation("health:get", "Health status could not be read.", scoped=False)
    async def status(self, ctx):
        """Run a real create, post, claim, list and delete cycle on a throw-away project and
        time each step.

        :returns: ``{"storage_reachable": bool, "operation_status": {name: {"succeeded",
            "seconds", "ref"}}}``.
        """
        if not await self.storage.ping():
            return {"storage_reachable": False, "operation_status": {}}
        project = f"zaqar-health-{uuid.uuid4().hex}"
        store = self.storage
        status = {}

        async def step(name, action):
            started = self.clock.seconds()
            try:
                result = await action()
                status[name] = {"succeeded": True, "seconds": self._since(started), "ref": None}
                return result
            except StoreUnavailable:
                raise
            except Exception as error:  # the report is the point: record, don't fail
                status[name] = {"succeeded": False, "seconds": self._since(started),
                                "ref": str(error)}
                return None

        try:
            await step("create_queue", lambda: store.queues.create(project, HEALTH_QUEUE, {}))
            posted = await step("post_messages", lambda: store.messages.post(
                project, HEALTH_QUEUE,
                [{"ttl": 60, "delay": 0, "body": {"health": i}} for i in range(3)], "health",
            ))
            ids = posted[0] if posted else []
            claimed = await step("claim_messages", lambda: store.claims.create(
                project, HEALTH_QUEUE, 60, 60, 1))
            await step("list_messages", lambda: store.messages.list(
                project, HEALTH_QUEUE, limit=10, echo=True, include_claimed=True))
            if ids:
                await step("delete_messages", lambda: store.messages.delete(
                    project, HEALTH_QUEUE, ids[-1]))
            if claimed and claimed[0]:
                await step("delete_claim", lambda: store.claims.delete(
                    project, HEALTH_QUEUE, claimed[0]))
            await step("bulk_delete_messages", lambda: store.messages.bulk_delete(
                project, HEALTH_QUEUE, ids))
        finally:
            await step("delete_queue", lambda: store.queues.delete(project, HEALTH_QUEUE))
        return {"storage_reachable": True, "operation_status": status}

    def _since(self, started):
        return round(self.clock.seconds() - started, 6)
