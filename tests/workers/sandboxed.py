"""Workflows for tests/workers/test_sandbox.py, in a module of their own as the sandbox
re-imports a workflow's module for every run."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow


@workflow.defn
class Echo:
    """Returns what it is given: a payload in and a payload out through the converter."""

    @workflow.run
    async def run(self, value: dict[str, int]) -> dict[str, int]:
        return {key: number + 1 for key, number in value.items()}


@workflow.defn
class ReadsTheClock:
    """Reads the wall clock: the sandbox must refuse it."""

    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()


@workflow.defn
class CancelsAFiredTimer:
    """Waits up to ``wait`` seconds for a flag that a timer of ``trigger`` seconds sets after a
    local activity of ``hold`` seconds: with ``wait`` between ``trigger`` and ``trigger + hold``
    the wait's timer fires on the server while the task that ends the wait (and cancels it) is
    still with the worker."""

    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self, trigger: float, hold: float, wait: float) -> str:
        async def set_go() -> None:
            await workflow.sleep(trigger)
            await workflow.execute_local_activity(
                "hold", hold, start_to_close_timeout=timedelta(seconds=30)
            )
            self.go = True

        setter = asyncio.create_task(set_go())
        try:
            await workflow.wait_condition(lambda: self.go, timeout=timedelta(seconds=wait))
        except TimeoutError:
            return "timed out"
        await setter
        # Not in the task that ends the wait: a completion beside a buffered fire is refused
        # by any server (the fire must be seen first).
        await workflow.sleep(1)
        return "met"
