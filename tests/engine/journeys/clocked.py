"""A workflow that reads the journey's clock, for tests/engine/journeys/test_clock.py (a module
of its own: the sandbox imports it afresh, without the test's imports)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import engine.journeys._clock as _clock


def _ahead() -> int:
    return int((_clock.now() - workflow.now()).total_seconds())


@workflow.defn(name="ReadsTheJourneyClock")
class ReadsTheJourneyClock:
    """Reads how far its journey clock runs ahead, once as it starts and once when told."""

    def __init__(self) -> None:
        self._told = False

    @workflow.signal
    def tell(self) -> None:
        self._told = True

    @workflow.run
    async def run(self) -> list[int]:
        first = _ahead()
        await workflow.wait_condition(lambda: self._told)
        return [first, _ahead()]
