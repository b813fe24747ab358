"""A bare Temporal worker in a process of its own, so a benchmark reads its CPU alone.

The engine's worker runs as ``playbook worker``; its baseline must run the same way (its own
process, the same data converter, the same cache size, the same process-wide settings
(garbage collection, workers.payload_passes), the SDK's defaults otherwise) for
CPU-seconds to compare.

With ``--smtp PORT`` it also runs the enrollment baselines of bench.scale (BareEnrollment,
BareAccount and BareJourney), whose activity sends one email to the mail catcher on that
port, as the engine's welcome step does; the email's ``X-Bench-Key`` header names the
workflow, and the catcher counts it.

    .venv/bin/python -m bench._bare_worker ADDRESS TASK_QUEUE [CACHED_WORKFLOWS] [--smtp PORT]
"""

from __future__ import annotations

import argparse
import asyncio
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from bench._bare import BareAccount, BareEnrollment, BareJourney, BareWaiting
from engine.client._converter import DATA_CONVERTER
from workers import payload_passes
from workers.sandbox import CountingSandbox
from workers.worker import tune_gc


def mailing(smtp_port: int) -> list[Any]:
    """The enrollment baselines' activities: each sends one email through ``smtp_port``."""

    async def mail(key: str) -> None:
        message = EmailMessage()
        message["From"], message["To"] = "bench@localhost", "welcome@bench.example"
        message["Subject"], message["X-Bench-Key"] = "bare welcome", key
        message.set_content("bare")
        await aiosmtplib.send(message, hostname="127.0.0.1", port=smtp_port)

    @activity.defn(name="bare_enrolled")
    async def bare_enrolled() -> None:
        await mail(activity.info().workflow_id or "")

    @activity.defn(name="bare_journey_enrolled")
    async def bare_journey_enrolled(key: str) -> None:
        await mail(key)

    return [bare_enrolled, bare_journey_enrolled]


async def main(address: str, task_queue: str, cached: int, smtp_port: int | None) -> None:
    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    payload_passes.install()  # as the engine's worker does: the SDK's no-op passes skipped
    workflows: list[type] = [BareWaiting]
    activities: list[Any] = []
    if smtp_port is not None:
        workflows += [BareEnrollment, BareAccount, BareJourney]
        activities = mailing(smtp_port)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=workflows,
        activities=activities,
        max_cached_workflows=cached,
        # The SDK's sandbox, reporting evictions: the two workers collect garbage alike.
        workflow_runner=CountingSandbox(),
    ):
        tune_gc(cached)  # as `playbook worker` does
        await asyncio.Event().wait()  # until the benchmark terminates the process


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address")
    parser.add_argument("task_queue")
    parser.add_argument("cached", type=int, nargs="?", default=1000)
    parser.add_argument("--smtp", type=int, help="the mail catcher's port (enrollment baselines)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.address, arguments.task_queue, arguments.cached, arguments.smtp))
