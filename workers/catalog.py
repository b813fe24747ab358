"""Activities that read the published catalog for account workflows.

They query the ``catalog/default`` workflow through the worker's Temporal client: workflows
may not read files or call out, so what they load enters through here.

Every account checks every few minutes whether a newer set is published: with a book of
accounts, that is the catalog workflow's busiest query. So the check asks for the hash alone
and the worker keeps the index of the last catalog it read: the full catalog (every plan)
is read once per worker and publish, not once per account and check.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.exceptions import ApplicationError

from engine.journeys._catalog import (
    CATALOG_WORKFLOW_ID,
    Catalog,
    CatalogIndex,
    IndexRequest,
    PlanRequest,
)
from engine.language._plan import Plan


class CatalogActivities:
    """Bound to a client; register ``catalog_index`` and ``resolve_plan`` on the worker."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._index: CatalogIndex | None = None
        """The index of the catalog this worker read last (its hash says which)."""

    async def _current(self) -> Catalog:
        handle = self._client.get_workflow_handle(CATALOG_WORKFLOW_ID)
        catalog = await handle.query("current", result_type=Catalog | None)  # type: ignore[arg-type]
        if catalog is None:
            raise ApplicationError(
                "no playbooks published yet: run `playbook publish DIR`",
                type="NothingPublished",
                non_retryable=True,
            )
        return catalog  # type: ignore[no-any-return]

    @activity.defn(name="catalog_index")
    async def catalog_index(self, request: IndexRequest) -> CatalogIndex | None:
        """The slim catalog, or None when the caller already has the current one."""
        handle = self._client.get_workflow_handle(CATALOG_WORKFLOW_ID)
        try:
            published = await handle.query("hash", result_type=str | None)  # type: ignore[arg-type]
        except WorkflowQueryFailedError:  # a worker from before the hash query answered
            published = None
        if published is not None and published == request.known_hash:
            return None
        if published is None or self._index is None or self._index.hash != published:
            self._index = (await self._current()).index()
        return None if self._index.hash == request.known_hash else self._index

    @activity.defn(name="resolve_plan")
    async def resolve_plan(self, request: PlanRequest) -> Plan:
        """The current plan of one playbook, for a new enrollment."""
        catalog = await self._current()
        plan = catalog.plans.get(request.name)
        if plan is None:
            raise ApplicationError(
                f"playbook {request.name!r} is not published",
                type="NotPublished",
                non_retryable=True,
            )
        return plan
