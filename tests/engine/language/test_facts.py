"""engine.language._facts: date attributes read the same whatever form they come in."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from engine.language._facts import Facts, anchor_date, midnight

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class _Text(str):
    """Text of a class derived from str (a CRM client's own string type)."""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-07-01", datetime(2026, 7, 1, tzinfo=UTC)),
        ("2026-07-01T15:30:00Z", datetime(2026, 7, 1, tzinfo=UTC)),
        (_Text("2026-07-01"), datetime(2026, 7, 1, tzinfo=UTC)),
        (date(2026, 7, 1), datetime(2026, 7, 1, tzinfo=UTC)),
        (datetime(2026, 7, 1, 15, 30, tzinfo=UTC), datetime(2026, 7, 1, 15, 30, tzinfo=UTC)),
        (None, None),
        ("soon", None),
        (20260701, None),
    ],
)
def test_a_date_attribute_is_a_moment_whatever_its_form(value: object, expected: object) -> None:
    """Text, text of a derived class, dates and moments become moments; nothing else does."""
    assert midnight(value) == expected


@pytest.mark.parametrize(
    ("renewal", "days"),
    [("2026-07-01", 30), (date(2026, 7, 1), 30), (_Text("2026-06-11"), 10), (None, None)],
)
def test_days_to_renewal_counts_from_any_date_form(renewal: object, days: int | None) -> None:
    """days_to_renewal reads the renewal date as text or as a date alike; none means unknown."""
    facts = Facts(now=NOW, account={"renewal_date": renewal})
    assert facts.value("days_to_renewal") == days


def test_an_anchor_in_a_zone_falls_at_its_local_midnight() -> None:
    """A date anchors 00:00 where the account lives, given in UTC."""
    anchored = anchor_date({"renewal_date": "2026-07-01"}, "renewal_date", "America/New_York")
    assert anchored == datetime(2026, 7, 1, 4, 0, tzinfo=UTC)
