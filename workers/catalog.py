"""Activities that read the published catalog for account workflows.

They query the ``catalog/default`` workflow through the worker's Temporal client: workflows
may not read files or call out, so what they load enters through here.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client
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
        catalog = await self._current()
        return None if catalog.hash == request.known_hash else catalog.index()

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
