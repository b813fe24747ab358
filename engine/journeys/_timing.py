"""When a condition can change by the passing of time alone: the wake-ups of waiting workflows.

Most conditions read values that change only when new facts arrive (a health score, an
attribute), and the signal carrying those facts wakes the workflow. A few read the calendar:
``days_to_renewal`` and the other day counts move at each midnight (in the account's time
zone, ``Facts.zone``; UTC without one), and ``change(field,
over)`` moves whenever a reading leaves its window. A workflow that waits on a condition asks
:func:`next_change` for the first moment its result may differ and sleeps until then, instead
of waking every day to look: a year of an idle account is a handful of timers, not 365, which
is what lets a simulation run months in seconds. Pure and deterministic, like the evaluator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.journeys._evaluate import by_kind, evaluate, program
from engine.language._by_segment import for_facts
from engine.language._counts import cel_counts
from engine.language._facts import Facts, midnight
from engine.language._plan import (
    AllPlan,
    AnyPlan,
    CelPlan,
    ChangePlan,
    ComparePlan,
    ConditionPlan,
    CountPlan,
    NotPlan,
)

_DAY = timedelta(days=1)
# How each day count moves from one day to the next.
_DAY_COUNTS = {"days_since_enrollment": 1, "days_since_start": 1, "days_to_renewal": -1}
# Moments tried before settling for a wake-up at the last of them.
_LOOK_AHEAD = 500


def next_change(condition: ConditionPlan, facts: Facts) -> datetime | None:
    """The earliest moment after ``facts.now`` at which ``condition`` may evaluate otherwise
    with no new facts, or None when only new facts can change it.

    Never later than the real change; it may be earlier (a wake-up that finds nothing new).
    """
    moments, daily = _moments(condition, facts)
    now = facts.now
    if daily:
        moments = {m for m in moments if m < daily} | {daily}
    ahead = sorted(m for m in moments if m > now)[:_LOOK_AHEAD]
    if not ahead:
        return None
    # Between two of these moments nothing the condition reads changes, so the result at
    # each one is the result until the next: the first that differs is the change.
    held = evaluate(condition, facts).result
    for moment in ahead:
        if moment == daily:
            return moment  # a CEL expression reads a day count: no cheaper bound than that
        if evaluate(condition, facts.model_copy(update={"now": moment})).result != held:
            return moment
    return None if len(ahead) < _LOOK_AHEAD else ahead[-1]


def sleep_at_most(
    limit: timedelta | None, conditions: list[ConditionPlan | None], facts: Facts
) -> timedelta | None:
    """``limit``, or less when the calendar can turn one of ``conditions`` before then (at
    least a second); None to sleep until a signal."""
    waits = [limit] if limit is not None else []
    for condition in conditions:
        moment = next_change(condition, facts) if condition is not None else None
        if moment is not None:
            waits.append(max(moment - facts.now, timedelta(seconds=1)))
    return min(waits, default=None)


def _moments(condition: ConditionPlan, facts: Facts) -> tuple[set[datetime], datetime | None]:
    """Every moment a value the condition reads can move, and the next midnight if one
    moves daily in a way only re-evaluation can follow (a CEL expression)."""
    return by_kind(_MOVERS, condition)(condition, facts)


def _group_moments(
    condition: AllPlan | AnyPlan, facts: Facts
) -> tuple[set[datetime], datetime | None]:
    moments: set[datetime] = set()
    daily: datetime | None = None
    for item in condition.items:
        more, every = _moments(item, facts)
        moments |= more
        daily = daily or every
    return moments, daily


def _not_moments(condition: NotPlan, facts: Facts) -> tuple[set[datetime], datetime | None]:
    return _moments(condition.item, facts)


def _compare_moments(condition: ComparePlan, facts: Facts) -> tuple[set[datetime], datetime | None]:
    step = _DAY_COUNTS.get(condition.field)
    value = facts.value(condition.field) if step else None
    if step is None or value is None:
        return set(), None
    days = _days_to_flip(value, step, for_facts(condition.value, condition.by_segment, facts))
    return {_day_start(facts, d) for d in days}, None


def _change_moments(condition: ChangePlan, facts: Facts) -> tuple[set[datetime], datetime | None]:
    return _window_moves(condition, facts), None


def _count_moments(condition: CountPlan, facts: Facts) -> tuple[set[datetime], datetime | None]:
    return _events_leaving(facts, condition.event, condition.window_seconds), None


def _cel_moments(condition: CelPlan, facts: Facts) -> tuple[set[datetime], datetime | None]:
    counted: set[datetime] = set()
    for event, window in cel_counts(condition.expression):
        counted |= _events_leaving(facts, event, window)
    if set(program(condition.expression).variables()) & (_DAY_COUNTS.keys() | {"today"}):
        return counted, _day_start(facts, 1)
    return counted, None


_Moments = Callable[[Any, Facts], tuple[set[datetime], datetime | None]]
# By the condition's class before any isinstance, as the evaluator (engine.journeys._evaluate)
# and for the same reason: isinstance is costly in the workflow sandbox.
_MOVERS: dict[type, _Moments] = {
    AllPlan: _group_moments,
    AnyPlan: _group_moments,
    NotPlan: _not_moments,
    ComparePlan: _compare_moments,
    ChangePlan: _change_moments,
    CountPlan: _count_moments,
    CelPlan: _cel_moments,
}


def _events_leaving(facts: Facts, event: str, window: int) -> set[datetime]:
    """The moments counted events pass out of the window, lowering the count."""
    now = int(facts.now.timestamp())
    leaving = (at + window for at in facts.events.get(event, ()))
    return {datetime.fromtimestamp(at, UTC) for at in leaving if at > now}


def _days_to_flip(value: int, step: int, target: Any) -> set[int]:
    """Days from today after which ``value``, moving by ``step`` a day, may compare otherwise
    with ``target`` (a number, or a list for ``in``)."""
    numbers = [
        t
        for t in (target if isinstance(target, list | tuple) else [target])
        if isinstance(t, int | float) and not isinstance(t, bool)
    ]
    # A comparison with a number flips only as the count passes next to the number; a
    # count never equals a text, so a text never flips anything.
    near = {v for t in numbers for v in range(math.floor(t) - 1, math.ceil(t) + 2)}
    return {(v - value) * step for v in near if (v - value) * step >= 1}


def _window_moves(condition: ChangePlan, facts: Facts) -> set[datetime]:
    """The moments readings pass out of the window, changing the value compared."""
    samples = facts.history.get(condition.field) or []
    if facts.value(condition.field) is None:
        return set()
    now = int(facts.now.timestamp())
    leaving = (s.at + condition.window_seconds for s in samples)
    return {datetime.fromtimestamp(at, UTC) for at in leaving if at > now}


def _day_start(facts: Facts, days: int) -> datetime:
    """The midnight ``days`` days after today's in the account's zone, in UTC."""
    if facts.zone is None:
        now = facts.now
        return datetime(now.year, now.month, now.day, tzinfo=UTC) + days * _DAY
    day = facts.today() + days * _DAY
    start = midnight(day.isoformat(), facts.zone)
    assert start is not None
    return start
