"""The engine's Temporal worker: every workflow and activity on one task queue.

One place lists what a worker runs, so `playbook worker`, `make demo` and the tests register
the same workflows; the action activities are passed in (tests pass recorders).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from engine.journeys import _plan_cache
from engine.journeys._account import AccountWorkflow
from engine.journeys._catalog import CatalogWorkflow
from engine.journeys._run import PlaybookRunWorkflow
from workers import evictions, payload_passes
from workers.catalog import CatalogActivities
from workers.sandbox import counts_evictions, workflow_runner

WORKFLOWS: list[type] = [AccountWorkflow, PlaybookRunWorkflow, CatalogWorkflow]


def build_worker(
    client: Client,
    task_queue: str,
    actions: Sequence[Callable[..., Any]],
    catalog: CatalogActivities | None = None,
    **options: Any,
) -> Worker:
    """A worker for ``task_queue`` with the action activities ``actions``.

    ``workers.activities.Actions(...).activities()`` in production; tests pass recorders.
    ``catalog`` serves the published catalog; by default it is read from the catalog
    workflow, a simulation passes one that holds the set it simulates.
    """
    catalog = catalog or CatalogActivities(client)
    payload_passes.install()
    # A plan an enrolling account does not find in this process is read from the catalog
    # on the worker's event loop (engine.journeys._plan_cache); built outside one, none is.
    with contextlib.suppress(RuntimeError):
        _plan_cache.set_loader(task_queue, catalog.loader(asyncio.get_running_loop()))
    options.setdefault("workflow_runner", workflow_runner(client.data_converter))
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            *actions,
            catalog.catalog_index,
            catalog.resolve_plan,
            catalog.announce_catalog,
        ],
        **options,
    )


FULL_COLLECTION_EVERY = 1_000
"""Collections of the middle generation between two full ones (Python's default: 10)."""


def tune_gc(cached_workflows: int) -> None:
    """Garbage collection for a worker process whose cache holds ``cached_workflows``,
    called once it has imported what it runs, on its event loop.

    A worker's heap is mostly long-lived: every cached workflow keeps its sandbox's modules
    (about 0.25 MiB each). With Python's default thresholds a full collection walks all of
    them whenever the cache has grown by a quarter: in bench.reaction's worker, 8 full
    collections of up to 233 ms in a run, each one a sample of 300 ms where the rest took 80.
    The young generations stay as they are (a workflow's garbage is young: its activation's
    payloads and commands); full collections wait for 1,000 middle ones instead of 10, and
    what the process imported at start is frozen out of them (gc.freeze). An evicted
    workflow's sandbox, though, is old garbage only a full collection frees, so full
    collections follow evictions instead (workers.evictions: one per quarter of the cache
    evicted). Where the sandbox cannot count evictions, the thresholds stay Python's.
    """
    gc.freeze()
    if not counts_evictions():
        return
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
    loop = None
    with contextlib.suppress(RuntimeError):
        loop = asyncio.get_running_loop()
    evictions.pace(cached_workflows, loop)
