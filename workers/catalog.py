"""Activities that read the published catalog for account workflows.

They query the ``catalog/default`` workflow through the worker's Temporal client: workflows
may not read files or call out, so what they load enters through here.

A publish is announced to every running account (``announce_catalog``, listed from
Temporal's visibility), and each then reads the index again: with a book of accounts that
is a burst of checks. So a check reads the published hash alone (from the catalog
workflow's memo, which the server answers without a worker), unless this worker already
holds the announced catalog's index, and the worker keeps the index of the
last catalog it read: the full catalog (every plan) is read once per worker and publish, not
once per account.
"""

from __future__ import annotations

import asyncio
import concurrent.futures

from temporalio import activity
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from engine.journeys import _plan_cache
from engine.journeys._catalog import (
    CATALOG_SIGNAL,
    CATALOG_WORKFLOW_ID,
    MEMO_HASH,
    Catalog,
    CatalogIndex,
    CatalogNotice,
    IndexRequest,
    PlanRequest,
)
from engine.language._plan import Plan

RUNNING_ACCOUNTS = "WorkflowType = 'Account' AND ExecutionStatus = 'Running'"
# Signals in flight at once: enough to keep the server busy, not so many that an
# announcement starves the accounts' own events on a small cluster.
_IN_FLIGHT = 32


class CatalogActivities:
    """Bound to a client; register ``catalog_index`` and ``resolve_plan`` on the worker."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._read: Catalog | None = None
        """The catalog this worker read last, whose plans new enrollments start from."""
        self._index: CatalogIndex | None = None
        """That catalog's index, made once per read (its hash says which)."""
        self._loading: concurrent.futures.Future[object] | None = None
        """The catalog read a plan's loader started, while it is under way."""

    async def _current(self) -> Catalog:
        catalog = await self._query_current()
        if self._read is None or self._read.hash != catalog.hash:
            self._read, self._index = catalog, catalog.index()
        # Accounts enroll from the plans held by hash (engine.journeys._plan_cache).
        _plan_cache.keep(catalog.plans.values())
        return catalog

    def loader(self, loop: asyncio.AbstractEventLoop) -> _plan_cache.Loader:
        """What a workflow activation that does not hold a plan calls, from its thread: the
        published catalog is read on ``loop`` (the worker's), once for any number of asks
        while a read is under way."""

        def load(plan_hash: str) -> concurrent.futures.Future[object]:
            loading = self._loading
            if loading is None or loading.done():
                loading = asyncio.run_coroutine_threadsafe(self._current(), loop)
                self._loading = loading
            return loading

        return load

    async def _query_current(self) -> Catalog:
        handle = self._client.get_workflow_handle(CATALOG_WORKFLOW_ID)
        catalog = await handle.query("current", result_type=Catalog | None)  # type: ignore[arg-type]
        if catalog is None:
            raise ApplicationError(
                "no playbooks published yet: run `playbook publish DIR`",
                type="NothingPublished",
                non_retryable=True,
            )
        return catalog  # type: ignore[no-any-return]

    async def _published_hash(self) -> str | None:
        """The hash of the published catalog; None when the catalog workflow cannot say.

        Read from the catalog's memo (a describe the server answers alone); a catalog run
        whose memo does not have it (one a worker from before the memo ran) answers the
        query."""
        handle = self._client.get_workflow_handle(CATALOG_WORKFLOW_ID)
        described = await handle.describe()
        kept = await described.memo_value(MEMO_HASH, None, type_hint=str)
        if kept is not None:
            return kept
        try:
            return await handle.query("hash", result_type=str | None)  # type: ignore[no-any-return, arg-type]
        except WorkflowQueryFailedError:  # a worker from before the hash query answered
            return None

    @activity.defn(name="catalog_index")
    async def catalog_index(self, request: IndexRequest) -> CatalogIndex | None:
        """The slim catalog, or None when the caller already has the current one."""
        held = self._index
        if held is not None and request.announced_hash == held.hash:
            return None if held.hash == request.known_hash else held
        published = await self._published_hash()
        if published is not None and published == request.known_hash:
            return None
        if published is None or self._index is None or self._index.hash != published:
            await self._current()
        assert self._index is not None  # set by _current
        return None if self._index.hash == request.known_hash else self._index

    @activity.defn(name="resolve_plan")
    async def resolve_plan(self, request: PlanRequest) -> Plan:
        """The plan of one playbook in the catalog the account enrolls from (read once per
        worker and catalog), or in the current one when the request names none."""
        held = self._read
        wanted = request.catalog_hash
        catalog = held if held and wanted and held.hash == wanted else await self._current()
        plan = catalog.plans.get(request.name)
        if plan is None:
            raise ApplicationError(
                f"playbook {request.name!r} is not published",
                type="NotPublished",
                non_retryable=True,
            )
        return plan

    @activity.defn(name="announce_catalog")
    async def announce_catalog(self, notice: CatalogNotice) -> int:
        """Signal every running account that ``notice.hash`` is published; returns how many.

        Idempotent: an account that already has the hash ignores the notice, so a retry
        starts the list again. An account that ended meanwhile is skipped.
        """
        slots = asyncio.Semaphore(_IN_FLIGHT)
        sent = 0
        failures: list[RPCError] = []

        async def tell(workflow_id: str) -> None:
            nonlocal sent
            try:
                await self._client.get_workflow_handle(workflow_id).signal(CATALOG_SIGNAL, notice)
                sent += 1
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    failures.append(error)
            finally:
                slots.release()

        tasks: set[asyncio.Task[None]] = set()
        listed = 0
        try:
            async for execution in self._client.list_workflows(RUNNING_ACCOUNTS, page_size=500):
                await slots.acquire()
                if failures:  # the retry starts the list again
                    raise failures[0]
                task = asyncio.create_task(tell(execution.id))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                listed += 1
                if listed % 500 == 0:
                    activity.heartbeat(listed)
            await asyncio.gather(*tasks)
            if failures:
                raise failures[0]
        except RPCError as error:
            if error.status == RPCStatusCode.UNIMPLEMENTED:
                raise ApplicationError(
                    "this Temporal server keeps no visibility (a time-skipping test server): "
                    "accounts read the new catalog when their next run starts",
                    type="NoVisibility",
                    non_retryable=True,
                ) from None
            raise
        finally:
            for task in tasks:
                task.cancel()
        activity.logger.info("catalog %s announced to %d accounts", notice.hash, sent)
        return sent
