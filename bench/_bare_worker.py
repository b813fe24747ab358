"""A bare Temporal worker in a process of its own, so a benchmark reads its CPU alone.

The engine's worker runs as ``playbook worker``; its baseline must run the same way (its own
process, the same data converter, the same cache size, the same process-wide settings
(garbage collection, workers.payload_passes), the SDK's defaults otherwise) for
CPU-seconds to compare.

    .venv/bin/python -m bench._bare_worker ADDRESS TASK_QUEUE [CACHED_WORKFLOWS]
"""

from __future__ import annotations

import asyncio
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from bench._bare import BareWaiting
from engine.client._converter import DATA_CONVERTER
from workers import payload_passes
from workers.sandbox import CountingSandbox
from workers.worker import tune_gc


async def main(address: str, task_queue: str, cached: int) -> None:
    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    payload_passes.install()  # as the engine's worker does: the SDK's no-op passes skipped
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[BareWaiting],
        max_cached_workflows=cached,
        # The SDK's sandbox, reporting evictions: the two workers collect garbage alike.
        workflow_runner=CountingSandbox(),
    ):
        tune_gc(cached)  # as `playbook worker` does
        await asyncio.Event().wait()  # until the benchmark terminates the process


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1000))
