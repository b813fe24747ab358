"""engine.journeys._clock: each run on its own calendar, however its tasks interleave."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine.journeys._clock import memo_for
from tests.engine.journeys.clocked import ReadsTheJourneyClock
from workers.sandbox import workflow_runner


async def test_each_run_reads_its_own_offset_between_other_runs_tasks(
    dev_env: WorkflowEnvironment,
) -> None:
    """Runs with different offsets (and one with none) on one worker each read their own, at
    start and after the others have read theirs (the offset is kept per run, not per worker)."""
    client = dev_env.client
    queue = f"q-{uuid.uuid4()}"
    offsets = [timedelta(days=10), timedelta(0), timedelta(days=3, seconds=7)]
    async with Worker(
        client,
        task_queue=queue,
        workflows=[ReadsTheJourneyClock],
        workflow_runner=workflow_runner(client.data_converter),
    ):
        handles = [
            await client.start_workflow(
                ReadsTheJourneyClock.run,
                id=f"clock-{index}-{uuid.uuid4()}",
                task_queue=queue,
                memo=memo_for(offset),
            )
            for index, offset in enumerate(offsets)
        ]
        for handle in (handles[1], handles[0], handles[2]):
            await handle.signal(ReadsTheJourneyClock.tell)
        results = await asyncio.gather(*(handle.result() for handle in handles))
    assert results == [[int(o.total_seconds())] * 2 for o in offsets]
