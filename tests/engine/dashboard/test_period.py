"""Reporting periods as people write them: read, or refused in one line that says how."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.dashboard._period import PeriodError, parse_period

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def test_periods_are_read_or_refused_in_one_line() -> None:
    """30d, dates (end included) and times are read; anything else names how to write it."""
    period = parse_period("2026-04-01..2026-06-30", NOW)
    assert period.start == _at("2026-04-01") and period.end == _at("2026-07-01")
    last = parse_period("30d", NOW)
    assert (last.end - last.start).days == 30 and last.end == NOW
    timed = parse_period("2026-06-01T10:00:00Z..2026-06-01T11:00:00Z", NOW)
    assert timed.start.hour == 10 and timed.end.hour == 11
    for bad, says in [
        ("soon", "write 30d, 90d or START..END"),
        ("2026-13-01..2026-14-01", "is not a date"),
        ("2026-05-01..2026-04-01", "the end must come after the start"),
        ("0d", "from 1d to 3660d"),
    ]:
        with pytest.raises(PeriodError, match=says):
            parse_period(bad, NOW)


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("0001-01-01..9999-12-31", "'0001-01-01' is not a date .* from 1970 to 2999"),
        ("2026-01-01..9999-12-31", "'9999-12-31' is not a date .* from 1970 to 2999"),
        ("1969-12-31..1970-01-02", "'1969-12-31' is not a date"),
        ("0001-01-01T00:00:00+01:00..2026-01-01", "is not a date"),
        ("2000-01-01..2026-01-01", "at most 3660 days"),
        ("3661d", "from 1d to 3660d"),
        ("9" * 5000 + "d", "write 30d, 90d or START..END"),
        ("\u0663\u0660d", "write 30d, 90d or START..END"),
        ("\u0662\u0660\u0662\u0666-\u0660\u0661-\u0660\u0661..2026-02-01", "is not a date"),
        ("2026-02-01..2026-01-01", "the end must come after the start"),
        ("2026-01-01T10:00:00Z..2026-01-01T10:00:00Z", "the end must come after the start"),
        ("..", "'' is not a date"),
        ("2026-01-01..2026-02-01..2026-03-01", "is not a date"),
    ],
)
def test_periods_out_of_bounds_reversed_or_garbled_are_refused(bad: str, says: str) -> None:
    """Periods reaching outside 1970-2999, over ten years, reversed, empty or in other
    scripts' digits are one-line refusals, never an overflow; long input is cut short."""
    with pytest.raises(PeriodError, match=says) as refused:
        parse_period(bad, NOW)
    assert len(str(refused.value)) < 300 and "\n" not in str(refused.value)
