"""Condition evaluation: deterministic answers from facts, with the values each rule saw."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter

from engine.journeys._evaluate import evaluate
from engine.journeys._timing import next_change
from engine.language._facts import Facts, Health, Sample
from engine.language._plan import ConditionPlan

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = 86_400
CONDITION: TypeAdapter[ConditionPlan] = TypeAdapter(ConditionPlan)


def facts(**overrides: object) -> Facts:
    base: dict[str, object] = {
        "now": NOW,
        "health": Health(score=42.0, tier="at-risk", trend="declining", components={"usage": 30}),
        "history": {
            "health.score": [
                Sample(at=int(NOW.timestamp()) - 40 * DAY, value=75.0),
                Sample(at=int(NOW.timestamp()) - 20 * DAY, value=60.0),
                Sample(at=int(NOW.timestamp()), value=42.0),
            ]
        },
        "account": {
            "segment": "enterprise",
            "arr": 120_000,
            "renewal_date": "2026-08-30",
            "start_date": "2025-09-01",
            "tags": ["strategic"],
            "attributes": {"region": "emea"},
        },
        "enrolled_at": datetime(2026, 5, 25, tzinfo=UTC),
    }
    return Facts.model_validate({**base, **overrides})


def cond(data: dict[str, object]) -> ConditionPlan:
    return CONDITION.validate_python(data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"kind": "compare", "field": "health.score", "op": "lt", "value": 50}, True),
        ({"kind": "compare", "field": "health.tier", "op": "in", "value": ["critical"]}, False),
        ({"kind": "compare", "field": "health.components.usage", "op": "lte", "value": 30}, True),
        (
            {"kind": "compare", "field": "account.tags", "op": "contains", "value": "strategic"},
            True,
        ),
        (
            {"kind": "compare", "field": "account.attributes.region", "op": "eq", "value": "emea"},
            True,
        ),
        ({"kind": "compare", "field": "days_to_renewal", "op": "eq", "value": 90}, True),
        ({"kind": "compare", "field": "days_since_enrollment", "op": "eq", "value": 7}, True),
        ({"kind": "compare", "field": "days_since_start", "op": "gt", "value": 270}, True),
        (
            {
                "kind": "change",
                "field": "health.score",
                "window_seconds": 30 * DAY,
                "op": "lte",
                "value": -30,
            },
            True,
        ),
        (
            {
                "kind": "change",
                "field": "health.score",
                "window_seconds": 10 * DAY,
                "op": "lte",
                "value": -30,
            },
            False,
        ),
        ({"kind": "cel", "expression": "health.score < 50.0 && 'strategic' in account.tags"}, True),
        ({"kind": "cel", "expression": "account.arr > 100000 && days_to_renewal <= 90"}, True),
        (
            {
                "kind": "not",
                "item": {
                    "kind": "compare",
                    "field": "health.trend",
                    "op": "eq",
                    "value": "declining",
                },
            },
            False,
        ),
        (
            {
                "kind": "any",
                "items": [
                    {"kind": "compare", "field": "health.score", "op": "gt", "value": 90},
                    {
                        "kind": "compare",
                        "field": "account.segment",
                        "op": "eq",
                        "value": "enterprise",
                    },
                ],
            },
            True,
        ),
    ],
)
def test_conditions(data: dict[str, object], expected: bool) -> None:
    """Each condition form gives the answer computed by hand from the facts."""
    assert evaluate(cond(data), facts()).result is expected


def test_unknown_values_make_comparisons_false() -> None:
    """An account with no renewal date matches neither `lte` nor `gt` on days_to_renewal."""
    bare = facts(account={})
    for op in ("lte", "gt", "ne"):
        data = {"kind": "compare", "field": "days_to_renewal", "op": op, "value": 90}
        assert evaluate(cond(data), bare).result is False


def test_cel_errors_are_false_and_recorded() -> None:
    """A CEL expression that fails at run time is false, and the error is in `seen`."""
    verdict = evaluate(cond({"kind": "cel", "expression": "account.arr > 'x'"}), facts())
    assert verdict.result is False
    assert any(key.startswith("cel error") for key in verdict.seen)


def test_seen_records_the_values_read() -> None:
    """The verdict lists every field the condition read, with its value."""
    data = {
        "kind": "all",
        "items": [
            {"kind": "compare", "field": "health.score", "op": "lt", "value": 50},
            {
                "kind": "change",
                "field": "health.score",
                "window_seconds": 30 * DAY,
                "op": "lte",
                "value": -15,
            },
        ],
    }
    verdict = evaluate(cond(data), facts())
    assert verdict.seen == {"health.score": 42.0, "change(health.score, 30d)": -33.0}


@pytest.mark.parametrize("window_days", [1, 14, 30])
def test_a_run_s_trimmed_history_measures_every_change_as_the_whole_one(window_days: int) -> None:
    """Facts cut down for a run (Facts.for_run) give the same change, and the same moment it
    can next flip, as the whole history: at the cut and at every hour of the 60 days after."""
    start = int(NOW.timestamp())
    samples = [
        Sample(at=start - d * DAY - 3_600 * (d % 5), value=50 + (d * 7) % 23)
        for d in range(400, -1, -6)
    ]
    whole = facts(history={"health.score": samples, "health.components.usage": samples})
    window = window_days * DAY
    trimmed = whole.for_run({"health.score": window})
    assert set(trimmed.history) == {"health.score"}
    assert len(trimmed.history["health.score"]) < len(samples)
    condition = CONDITION.validate_python(
        {
            "kind": "change",
            "field": "health.score",
            "window_seconds": window,
            "op": "lte",
            "value": -5,
        }
    )
    for hour in range(0, 60 * 24):
        later = {"now": datetime.fromtimestamp(start + hour * 3_600, UTC)}
        a, b = whole.model_copy(update=later), trimmed.model_copy(update=later)
        assert evaluate(condition, a).seen == evaluate(condition, b).seen
        assert next_change(condition, a) == next_change(condition, b)


def test_facts_for_a_run_that_measures_nothing_carry_no_history() -> None:
    """No change condition in the run: no readings travel; None (an older enrollment): all."""
    assert facts().for_run({}).history == {}
    assert facts().for_run(None).history == facts().history


def test_a_condition_of_a_derived_class_is_evaluated_and_timed_as_its_base() -> None:
    """Conditions are dispatched by class; a class derived from one (none ships) still finds
    its base's rule, in the evaluator and in the wake-up timing alike."""
    base = cond({"kind": "compare", "field": "days_to_renewal", "op": "lte", "value": 30})

    class Derived(type(base)):  # type: ignore[misc]
        pass

    derived = Derived.model_validate(base.model_dump())
    near = facts(account={"renewal_date": "2026-07-05"})
    assert evaluate(derived, near) == evaluate(base, near)
    assert next_change(derived, near) == next_change(base, near) is not None


def test_something_not_a_condition_is_refused_by_name() -> None:
    """A value that is no condition fails with its class named, not with a wrong answer."""
    with pytest.raises(TypeError, match="not a condition: dict"):
        evaluate({"kind": "compare"}, facts())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a condition: dict"):
        next_change({"kind": "compare"}, facts())  # type: ignore[arg-type]
