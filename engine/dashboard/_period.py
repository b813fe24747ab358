"""The dashboard's reporting period, as people write it: ``30d`` or ``START..END``.

Read at the edges (``playbook report --period``, the dashboard page's ``?period=``) into a
:class:`Period`; anything else is one line saying how to write one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from engine.dashboard._retention import Window
from engine.language._errors import PlaybookError


class PeriodError(PlaybookError):
    """A period that cannot be read; the message says how to write one."""


class Period(Window):
    """The reporting window ``[start, end)``, with how to name it."""

    label: str


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
"""A period lies within these: the store's history and Temporal's timestamps start in 1970,
and a date near year 9999 has no next day (``9999-12-31`` as an end overflowed)."""
MAX_PERIOD_DAYS = 3660
"""Ten years: longer than any retention or renewal question, and a bound on the work."""


def parse_period(text: str, now: datetime) -> Period:
    """``30d`` (the last 30 days up to now), or ``START..END`` with dates (``2026-01-01``,
    the end date included) or UTC times (``2026-01-01T09:00:00Z``, the end excluded).

    Raises :class:`PeriodError` (one line) for anything else: a reversed or empty period,
    one longer than ``MAX_PERIOD_DAYS``, or one reaching outside 1970 to 2999.
    """
    text = text.strip()
    # ASCII digits only: `\d` would take Arabic-Indic digits too; such a period is a typo.
    days = re.fullmatch(r"([0-9]{1,5})d", text)
    if days:
        count = int(days.group(1))
        if not 1 <= count <= MAX_PERIOD_DAYS:
            raise PeriodError(f"period {_shown(text)}: from 1d to {MAX_PERIOD_DAYS}d")
        return Period(start=now - timedelta(days=count), end=now, label=f"last {count} days")
    first, sep, last = text.partition("..")
    if not sep:
        raise PeriodError(
            f"period {_shown(text)}: write 30d, 90d or START..END (2026-01-01..2026-03-31)"
        )
    start, end = _moment(first, text, end=False), _moment(last, text, end=True)
    if end <= start:
        raise PeriodError(f"period {_shown(text)}: the end must come after the start")
    if end - start > timedelta(days=MAX_PERIOD_DAYS):
        raise PeriodError(f"period {_shown(text)}: at most {MAX_PERIOD_DAYS} days")
    return Period(start=start, end=end, label=f"{first.strip()} to {last.strip()}")


def _moment(part: str, text: str, end: bool) -> datetime:
    part = part.strip()
    refused = PeriodError(
        f"period {_shown(text)}: {_shown(part)} is not a date (YYYY-MM-DD) or UTC time "
        "from 1970 to 2999"
    )
    if not part.isascii():
        raise refused
    is_date = re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", part) is not None
    try:
        if is_date:
            moment = datetime.combine(datetime.fromisoformat(part).date(), time(), UTC)
        else:
            moment = datetime.fromisoformat(part.replace("Z", "+00:00"))
            moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise refused from None
    # Checked before the end date gains its day: 9999-12-31 has no next one.
    if not EARLIEST <= moment < LATEST:
        raise refused
    return moment + timedelta(days=1) if end and is_date else moment


def _shown(text: str) -> str:
    """``text`` quoted for a one-line message, cut short: a period is never long."""
    return repr(text if len(text) <= 60 else text[:57] + "...")
