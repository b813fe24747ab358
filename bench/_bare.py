"""The baseline: bare Temporal, a workflow that waits for a signal and then runs one activity.

Kept in a module of its own because workflows defined in ``__main__`` fail sandbox validation.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow


@workflow.defn(name="BareReaction")
class BareReaction:
    def __init__(self) -> None:
        self._go = False

    @workflow.signal
    def go(self) -> None:
        self._go = True

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._go)
        await workflow.execute_activity(
            "bare_act", workflow.info().workflow_id, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn(name="BareEnrollment")
class BareEnrollment:
    """The scale baseline: started by signal-with-start, one activity, then a long timer."""

    def __init__(self) -> None:
        self._go = False

    @workflow.signal
    def go(self) -> None:
        self._go = True

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._go)
        await workflow.execute_activity(
            "bare_enrolled", start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.sleep(timedelta(days=30))


@workflow.defn(name="BareTicker")
class BareTicker:
    """The simulation's floor: one timer a day, nothing else (an account waking daily)."""

    @workflow.run
    async def run(self, days: int) -> int:
        for _ in range(days):
            await workflow.sleep(timedelta(days=1))
        return days
