"""The engine's Temporal worker: every workflow and activity on one task queue.

One place lists what a worker runs, so `playbook worker`, `make demo` and the tests register
the same workflows; the action activities are passed in (tests pass recorders).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from engine.journeys._account import AccountWorkflow
from engine.journeys._catalog import CatalogWorkflow
from engine.journeys._run import PlaybookRunWorkflow
from workers.catalog import CatalogActivities
from workers.sandbox import workflow_runner

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
