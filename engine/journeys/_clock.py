"""The journey's clock: workflow time, on the account's calendar.

In production this is ``workflow.now()``. A simulation runs on a time-skipping server whose
clock starts at today and only moves forward, while the account it simulates lives on its
own dates (a backtest of last year, a renewal in 2028). Rather than shift the account's
dates to the server's calendar (conditions would then compare shifted dates with the
ones written in the playbook), the simulation gives each account workflow an offset in its
memo, and every date the journey reads or records is the server's time plus that offset.
Timers sleep for differences of two such moments, so they are unaffected.

Every moment in ``engine.journeys`` comes from :func:`now`; a workflow that starts another
passes :func:`memo` on, so the whole journey shares one calendar.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

MEMO_KEY = "clock_offset_seconds"
# The last run's offset, by run id: the memo is set as a run starts and never upserted, and
# decoding it is a payload conversion, at every moment a journey reads (a dozen in an
# account's task). One entry, replaced whole, so workflows on other threads (this module
# passes through the sandbox) at worst read it again.
_last: tuple[str, int] = ("", 0)


def now() -> datetime:
    """The journey's present moment: the workflow's time plus the memo's offset, if any."""
    return workflow.now() + _offset()


def memo() -> dict[str, Any] | None:
    """The memo a workflow started from this one carries: None (nothing sent) in production,
    so the commands of a production journey are the same as before the offset existed."""
    seconds = _offset_seconds()
    return {MEMO_KEY: seconds} if seconds else None


def memo_for(offset: timedelta) -> dict[str, Any] | None:
    """The memo that starts an account workflow ``offset`` ahead of the server's clock."""
    seconds = int(offset.total_seconds())
    return {MEMO_KEY: seconds} if seconds else None


def _offset() -> timedelta:
    seconds = _offset_seconds()
    return timedelta(seconds=seconds) if seconds else timedelta(0)


def _offset_seconds() -> int:
    global _last
    run_id = workflow.info().run_id
    last = _last
    if last[0] == run_id:
        return last[1]
    value = workflow.memo_value(MEMO_KEY, 0, type_hint=int)
    seconds = value if isinstance(value, int) else 0
    _last = (run_id, seconds)
    return seconds
