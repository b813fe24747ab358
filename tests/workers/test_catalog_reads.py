"""workers.catalog: an account's check for a newer published set reads the published hash
alone, from the catalog workflow's memo (a describe: no worker in the way), and the worker
reads the full catalog (every plan) once per publish, not once per account and check.

On the time-skipping server with the real catalog workflow; reads counted by a client
interceptor.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import (
    Client,
    DescribeWorkflowInput,
    Interceptor,
    OutboundInterceptor,
    QueryWorkflowInput,
    WorkflowExecutionDescription,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine import load
from engine.client._start import publish
from engine.journeys._catalog import (
    CatalogWorkflow,
    IndexRequest,
    PlanRequest,
    build_catalog,
)
from tests.engine.journeys.old_catalog import MemolessCatalog
from workers.catalog import CatalogActivities
from workers.sandbox import workflow_runner

SHIPPED = Path(__file__).parents[2] / "playbooks"


class _Counted(Interceptor):
    def __init__(self) -> None:
        self.queries: list[str] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        counter = self

        class Outbound(OutboundInterceptor):
            async def query_workflow(self, input: QueryWorkflowInput) -> Any:
                counter.queries.append(input.query)
                return await super().query_workflow(input)

            async def describe_workflow(
                self, input: DescribeWorkflowInput
            ) -> WorkflowExecutionDescription:
                counter.queries.append("describe")
                return await super().describe_workflow(input)

        return Outbound(next)


def _catalog(folder: Path) -> Any:
    book = load([folder])
    return build_catalog(book.plans(), book.health_plan())  # type: ignore[arg-type]


def _counted_client(env: WorkflowEnvironment) -> tuple[Client, _Counted]:
    """A client to ``env`` whose reads of workflows are counted."""
    counted = _Counted()
    config = env.client.config()
    config["interceptors"] = [counted]
    return Client(**config), counted


def _catalog_worker(client: Client, queue: str, catalog: type = CatalogWorkflow) -> Worker:
    """A worker running the catalog workflow (``catalog``'s code) on ``queue``."""
    return Worker(
        client,
        task_queue=queue,
        workflows=[catalog],
        activities=[CatalogActivities(client).announce_catalog],
        workflow_runner=workflow_runner(client.data_converter),
    )


async def test_checks_ask_for_the_hash_and_read_each_catalog_once(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Three accounts' first checks read the catalog once; a check by an account that has
    the current one gets None from the hash alone (the memo: no query); after a publish,
    the next check reads the new catalog once and hands out its index."""
    client, counted = _counted_client(skipping_env)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    shutil.copytree(SHIPPED, tmp_path / "set")
    first = _catalog(tmp_path / "set")
    activities = CatalogActivities(client)
    async with _catalog_worker(client, queue):
        await publish(client, first, queue)
        counted.queries.clear()
        indexes = [await activities.catalog_index(IndexRequest()) for _ in range(3)]
        assert {index.hash for index in indexes if index} == {first.hash}
        assert counted.queries == ["describe", "current", "describe", "describe"]

        counted.queries.clear()
        assert await activities.catalog_index(IndexRequest(known_hash=first.hash)) is None
        assert counted.queries == ["describe"]

        onboarding = tmp_path / "set" / "onboarding.yaml"
        onboarding.write_text(onboarding.read_text().replace("version: 1", "version: 2", 1))
        second = _catalog(tmp_path / "set")
        await publish(client, second, queue)
        counted.queries.clear()
        newer = await activities.catalog_index(IndexRequest(known_hash=first.hash))
        again = await activities.catalog_index(IndexRequest(known_hash=first.hash))
        assert newer is not None and again is not None
        assert newer.hash == again.hash == second.hash != first.hash
        assert counted.queries == ["describe", "current", "describe"]

        # An announced catalog the worker holds is answered from memory: an announcement to
        # every account costs no query per account.
        counted.queries.clear()
        told = IndexRequest(known_hash=first.hash, announced_hash=second.hash)
        assert (await activities.catalog_index(told)) == newer
        assert (
            await activities.catalog_index(
                IndexRequest(known_hash=second.hash, announced_hash=second.hash)
            )
            is None
        )
        assert counted.queries == []

        # An enrollment asks for the plan of the catalog it decided from: the one the worker
        # read is answered from memory; another hash (or none) asks for the current one.
        plan = await activities.resolve_plan(
            PlanRequest(name="onboarding", catalog_hash=second.hash)
        )
        assert plan == second.plans["onboarding"] and counted.queries == []
        await activities.resolve_plan(PlanRequest(name="onboarding", catalog_hash=first.hash))
        await activities.resolve_plan(PlanRequest(name="onboarding"))
        assert counted.queries == ["current", "current"]


async def test_a_catalog_without_the_memo_is_asked_by_query(
    skipping_env: WorkflowEnvironment,
) -> None:
    """A catalog run from before the memo still answers: its hash by query, as before."""
    client, counted = _counted_client(skipping_env)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    published = _catalog(SHIPPED)
    activities = CatalogActivities(client)
    async with _catalog_worker(client, queue, MemolessCatalog):
        await publish(client, published, queue)
        counted.queries.clear()
        index = await activities.catalog_index(IndexRequest())
        assert index is not None and index.hash == published.hash
        assert await activities.catalog_index(IndexRequest(known_hash=published.hash)) is None
        assert counted.queries == ["describe", "hash", "current", "describe", "hash"]


async def test_nothing_published_is_still_refused(skipping_env: WorkflowEnvironment) -> None:
    """Before the first publish the check fails as before: nothing to enroll from."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    client = skipping_env.client
    async with _catalog_worker(client, queue):
        await client.start_workflow(
            CatalogWorkflow.run, None, id="catalog/default", task_queue=queue
        )
        with pytest.raises(Exception, match="no playbooks published yet"):
            await CatalogActivities(client).catalog_index(IndexRequest())
