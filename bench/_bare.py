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


# The floor of our own architecture: an account-like parent that starts a journey-like child
# per signal, whose first task runs the activity. Same steps in a row as an engine
# enrollment (signal-with-start, parent task, child start, child's first task, activity),
# none of the engine's work inside them.


@workflow.defn(name="BareAccount")
class BareAccount:
    """Waits for ``go`` signals; each one starts a :class:`BareJourney` and waits for it to
    have started, as the account workflow awaits each enrollment's child start."""

    def __init__(self) -> None:
        self._asked = 0
        self._started = 0

    @workflow.signal
    def go(self) -> None:
        self._asked += 1

    @workflow.run
    async def run(self, activity: str) -> None:
        info = workflow.info()
        while True:
            await workflow.wait_condition(lambda: self._asked > self._started)
            self._started += 1
            await workflow.start_child_workflow(
                BareJourney.run,
                args=[activity, info.workflow_id],
                id=f"{info.workflow_id}/journey/{self._started}",
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            )


@workflow.defn(name="BareJourney")
class BareJourney:
    """Runs one activity at its first task, then waits on a long timer like a journey."""

    @workflow.run
    async def run(self, activity: str, key: str) -> None:
        await workflow.execute_activity(activity, key, start_to_close_timeout=timedelta(seconds=10))
        await workflow.sleep(timedelta(days=30))


@workflow.defn(name="BareWaiting")
class BareWaiting:
    """The daily refresh's floor: waits on a long timer and takes a reading per signal."""

    def __init__(self) -> None:
        self._last: float | None = None

    @workflow.signal
    def reading(self, value: float) -> None:
        self._last = value

    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(timedelta(days=30))
