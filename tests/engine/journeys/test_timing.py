"""When a condition can change by time alone: exact wake-ups for waiting workflows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter

from engine.journeys._evaluate import evaluate
from engine.journeys._timing import next_change
from engine.language._facts import Facts, Health, Sample
from engine.language._plan import ConditionPlan

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = 86_400
CONDITION: TypeAdapter[ConditionPlan] = TypeAdapter(ConditionPlan)


def at(days: float) -> int:
    return int(NOW.timestamp() + days * DAY)


FACTS = Facts(
    now=NOW,
    health=Health(score=52.0, tier="at-risk", components={"usage": 30}),
    history={
        "health.score": [
            Sample(at=at(-20), value=80.0),
            Sample(at=at(-9), value=70.0),
            Sample(at=at(-2), value=52.0),
        ]
    },
    account={"renewal_date": "2026-08-30", "start_date": "2025-09-01", "segment": "smb"},
    enrolled_at=datetime(2026, 5, 25, tzinfo=UTC),
)


def compare(field: str, op: str, value: object) -> dict[str, object]:
    return {"kind": "compare", "field": field, "op": op, "value": value}


def drop(days: int, op: str, value: float) -> dict[str, object]:
    return {"kind": "change", "field": "health.score", "window_seconds": days * DAY, "op": op,
            "value": value}  # fmt: skip


# Each reads the calendar in its own way; the brute-force test below checks them all.
TIMED = [
    compare("days_to_renewal", "lte", 60),
    compare("days_to_renewal", "eq", 80),
    compare("days_since_enrollment", "gte", 30),
    compare("days_since_enrollment", "in", [10, 20, 45]),
    compare("days_since_start", "gt", 300.5),
    drop(14, "lte", -15),
    drop(3, "lt", -10),
    {"kind": "any", "items": [compare("health.tier", "eq", "critical"), drop(14, "lte", -15)]},
    {
        "kind": "all",
        "items": [
            compare("days_to_renewal", "lte", 75),
            {"kind": "not", "item": compare("days_since_enrollment", "lt", 40)},
        ],
    },
]


def first_flip(condition: ConditionPlan, facts: Facts, horizon_days: int = 400) -> datetime | None:
    """The first whole hour at which the result differs from now's, by trying every hour."""
    held = evaluate(condition, facts).result
    start = facts.now.replace(minute=0, second=0, microsecond=0)
    for hour in range(1, horizon_days * 24):
        moment = start + timedelta(hours=hour)
        if evaluate(condition, facts.model_copy(update={"now": moment})).result != held:
            return moment
    return None


@pytest.mark.parametrize("raw", TIMED, ids=lambda raw: str(raw)[:60])
def test_the_wake_up_is_the_moment_the_result_first_changes(raw: dict[str, object]) -> None:
    """Trying every hour of the next 400 days finds the first change exactly where
    next_change said (all the moments involved fall on whole hours here)."""
    condition = CONDITION.validate_python(raw)
    assert next_change(condition, FACTS) == first_flip(condition, FACTS)


def test_a_day_count_wakes_at_the_midnight_it_crosses_the_line() -> None:
    """days_to_renewal <= 60 with the renewal 90 days off turns true 30 days later, at 00:00."""
    condition = CONDITION.validate_python(
        {"kind": "compare", "field": "days_to_renewal", "op": "lte", "value": 60}
    )
    assert next_change(condition, FACTS) == datetime(2026, 7, 1, tzinfo=UTC)


def test_a_drop_wakes_when_its_first_reading_leaves_the_window() -> None:
    """80 -> 52 is a 28-point drop; in 5 days the base becomes the 70 reading (-18: still a
    drop, no wake-up needed), in 12 days the 52 reading (0): that is the wake-up."""
    condition = CONDITION.validate_python(drop(14, "lte", -15))
    assert evaluate(condition, FACTS).result
    assert next_change(condition, FACTS) == datetime.fromtimestamp(at(12), UTC)


@pytest.mark.parametrize(
    "raw",
    [
        {"kind": "compare", "field": "health.score", "op": "lt", "value": 40},
        {"kind": "compare", "field": "account.segment", "op": "eq", "value": "smb"},
        {"kind": "cel", "expression": "health.score < 40 && account.segment == 'smb'"},
        # Moving away from the line: never crosses it again.
        {"kind": "compare", "field": "days_since_enrollment", "op": "lt", "value": 3},
    ],
)
def test_conditions_that_only_new_facts_can_change_need_no_wake_up(raw: dict[str, object]) -> None:
    """Health, attributes and a count already past its line: None, the account sleeps."""
    assert next_change(CONDITION.validate_python(raw), FACTS) is None


def test_an_unknown_date_needs_no_wake_up() -> None:
    """An account with no renewal date has no days_to_renewal: nothing to wait for."""
    condition = CONDITION.validate_python(
        {"kind": "compare", "field": "days_to_renewal", "op": "lte", "value": 60}
    )
    assert next_change(condition, FACTS.model_copy(update={"account": {}})) is None


def test_cel_reading_a_day_count_wakes_every_midnight() -> None:
    """A CEL expression is opaque: one that reads a day count is re-read the next midnight."""
    condition = CONDITION.validate_python(
        {"kind": "cel", "expression": "days_to_renewal < 30 || health.score < 20"}
    )
    assert next_change(condition, FACTS) == datetime(2026, 6, 2, tzinfo=UTC)


def test_today_in_cel_is_the_journeys_date_and_turns_at_midnight() -> None:
    """``today`` is the clock's date as ISO text: a trial that ends 2026-06-03 has not ended
    on 06-01, has on 06-03; the expression is looked at again each midnight."""
    condition = CONDITION.validate_python(
        {"kind": "cel", "expression": "account.attributes.trial_end <= today"}
    )
    facts = FACTS.model_copy(update={"account": {"attributes": {"trial_end": "2026-06-03"}}})
    verdict = evaluate(condition, facts)
    assert (verdict.result, verdict.seen["today"]) == (False, "2026-06-01")
    assert next_change(condition, facts) == datetime(2026, 6, 2, tzinfo=UTC)
    later = facts.model_copy(update={"now": datetime(2026, 6, 3, 0, 0, tzinfo=UTC)})
    assert evaluate(condition, later).result is True
