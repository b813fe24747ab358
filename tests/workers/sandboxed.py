"""Workflows for tests/workers/test_sandbox.py, in a module of their own as the sandbox
re-imports a workflow's module for every run."""

from __future__ import annotations

from datetime import datetime

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
