"""One durable timer kept for as long as its deadline holds.

An account waits for its next event with a timeout: the next moment a time-based rule can
change (an entry date, a cooldown's end, the end of an override). A fresh timeout per wait
cancels and restarts the timer on every event, two commands and two history events for
each reading although the deadline did not move. The alarm keeps one timer per deadline:
an event that leaves the deadline where it was costs no command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import engine.journeys._clock as _clock


class Alarm:
    """A timer to a deadline, replaced only when the deadline changes."""

    def __init__(self, summary: str) -> None:
        self._summary = summary
        self._deadline: datetime | None = None
        self._timer: asyncio.Task[None] | None = None
        self._rang = False

    async def wait(self, wake: timedelta | None, until: Callable[[], bool]) -> None:
        """Wait for ``until`` or for ``wake`` from now, whichever comes first.

        ``wake`` None waits for ``until`` alone. The timer of an earlier wait keeps running
        when its deadline is the same moment.
        """
        deadline = None if wake is None else _clock.now() + wake
        if deadline != self._deadline:
            self._set(deadline, wake)
        await workflow.wait_condition(lambda: self._rang or until())
        if self._rang:
            self._rang, self._deadline, self._timer = False, None, None

    def _set(self, deadline: datetime | None, wake: timedelta | None) -> None:
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()
        self._deadline, self._timer, self._rang = deadline, None, False
        if wake is not None:
            self._timer = asyncio.create_task(self._ring(wake))

    async def _ring(self, wake: timedelta) -> None:
        await workflow.sleep(wake, summary=self._summary)
        self._rang = True
