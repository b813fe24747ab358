"""workers.evictions: full garbage collections follow the workflows a worker lets go."""

from __future__ import annotations

import asyncio
import gc
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker, WorkflowRunner

from engine.client._converter import DATA_CONVERTER
from tests.workers.sandboxed import Echo
from tests.workers.test_sandbox import _ContextCodec
from workers import evictions
from workers.sandbox import CountingSandbox, counts_evictions, workflow_runner


@pytest.fixture
def full_collections() -> Iterator[list[int]]:
    """Full collections seen while the test runs, Python's own ones switched off (an explicit
    gc.collect still runs); pacing off again after it."""
    seen: list[int] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            seen.append(1)

    was_enabled = gc.isenabled()
    gc.disable()
    gc.callbacks.append(callback)
    try:
        yield seen
    finally:
        gc.callbacks.remove(callback)
        evictions.stop_pacing()
        if was_enabled:
            gc.enable()


def _evict(times: int) -> None:
    for _ in range(times):
        evictions.evicted()


def test_a_full_collection_follows_each_quarter_of_the_cache_evicted(
    full_collections: list[int],
) -> None:
    """With a cache of 800, every 200th eviction runs a full collection, and only those."""
    evictions.pace(800)
    _evict(199)
    assert full_collections == []
    _evict(1)
    assert len(full_collections) == 1
    _evict(250)
    assert len(full_collections) == 2


def test_a_small_cache_still_waits_for_the_fewest_evictions(full_collections: list[int]) -> None:
    """However small the cache, collections come no oftener than every MIN_EVICTIONS."""
    evictions.pace(8)
    _evict(evictions.MIN_EVICTIONS - 1)
    assert full_collections == []
    _evict(1)
    assert len(full_collections) == 1


def test_any_full_collection_restarts_the_count(full_collections: list[int]) -> None:
    """A full collection of Python's own (or anyone's) frees what was evicted before it."""
    evictions.pace(400)
    _evict(60)
    gc.collect()
    _evict(60)
    assert len(full_collections) == 1


def test_evictions_lead_to_nothing_unless_paced(full_collections: list[int]) -> None:
    """Off by default (tests, simulations: Python's thresholds collect) and after stop_pacing."""
    evictions.stop_pacing()
    _evict(1_000)
    assert full_collections == []


async def test_the_collection_runs_on_the_workers_loop(full_collections: list[int]) -> None:
    """Reported from a workflow thread, the collection waits for the event loop: outside the
    activation, whose deadlock timeout it would otherwise spend."""
    evictions.pace(400, asyncio.get_running_loop())
    thread = threading.Thread(target=_evict, args=(100,))
    thread.start()
    thread.join()
    assert full_collections == []
    await asyncio.sleep(0.01)
    assert len(full_collections) == 1


def test_a_closed_loop_collects_at_once(full_collections: list[int]) -> None:
    """A worker's loop already closed (a shutdown) leaves the collection to the thread."""
    loop = asyncio.new_event_loop()
    loop.close()
    evictions.pace(400, loop)
    _evict(100)
    assert len(full_collections) == 1


def _runners() -> dict[str, WorkflowRunner]:
    return {
        "engine's": workflow_runner(DATA_CONVERTER),
        "with a converter that takes context": workflow_runner(
            DataConverter(payload_codec=_ContextCodec())
        ),
        "stock for a baseline": CountingSandbox(),
    }


@pytest.mark.parametrize("name", list(_runners()))
async def test_each_sandbox_reports_every_workflow_it_lets_go(
    name: str, skipping_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs that end are evicted from the cache; each sandbox this worker can have reports
    every one of them, once."""
    assert counts_evictions()
    reported: list[int] = []
    monkeypatch.setattr(evictions, "evicted", lambda: reported.append(1))
    queue = f"q-{uuid.uuid4()}"
    async with Worker(
        skipping_env.client,
        task_queue=queue,
        workflows=[Echo],
        workflow_runner=_runners()[name],
        max_cached_workflows=2,
    ):
        for n in range(5):
            result = await skipping_env.client.execute_workflow(
                Echo.run, {"n": n}, id=f"wf-{uuid.uuid4()}", task_queue=queue
            )
            assert result == {"n": n + 1}
        for _ in range(100):
            if len(reported) >= 5:
                break
            await asyncio.sleep(0.05)
    assert len(reported) == 5
