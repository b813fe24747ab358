"""Evaluating compiled conditions against facts, and recording what was seen.

The evaluator is a pure function of a condition and :class:`~engine.language._facts.Facts`,
so workflows can call it (it is deterministic and reads no clock) and the "why" of every
decision can show the exact values each rule saw. An unknown value makes a comparison false:
a rule about the renewal date does not fire for an account that has none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import cel

from engine.language._by_segment import for_facts
from engine.language._counts import CEL_FUNCTION, cel_counts, count_events
from engine.language._durations import duration_seconds
from engine.language._facts import Facts
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

_PROGRAMS: dict[str, Any] = {}
_T = TypeVar("_T")


@dataclass
class Verdict:
    """The result of a condition and the values it read, by field name."""

    result: bool
    seen: dict[str, Any] = field(default_factory=dict)


def evaluate(condition: ConditionPlan, facts: Facts) -> Verdict:
    """Evaluate ``condition``; ``seen`` records every value it read."""
    seen: dict[str, Any] = {}
    return Verdict(_eval(condition, facts, seen), seen)


def _eval(cond: ConditionPlan, facts: Facts, seen: dict[str, Any]) -> bool:
    return by_kind(_EVALUATORS, cond)(cond, facts, seen)


def _all(cond: AllPlan, facts: Facts, seen: dict[str, Any]) -> bool:
    return all(_eval(c, facts, seen) for c in cond.items)


def _any(cond: AnyPlan, facts: Facts, seen: dict[str, Any]) -> bool:
    return any(_eval(c, facts, seen) for c in cond.items)


def _not(cond: NotPlan, facts: Facts, seen: dict[str, Any]) -> bool:
    return not _eval(cond.item, facts, seen)


def _compare(cond: ComparePlan, facts: Facts, seen: dict[str, Any]) -> bool:
    value = facts.value(cond.field)
    seen[cond.field] = value
    if cond.by_segment:
        # Which threshold applied is part of what the rule saw.
        seen["account.segment"] = facts.account.get("segment")
    return compare(value, cond.op, for_facts(cond.value, cond.by_segment, facts))


def _change(cond: ChangePlan, facts: Facts, seen: dict[str, Any]) -> bool:
    delta = change(facts, cond.field, cond.window_seconds)
    seen[f"change({cond.field}, {cond.window_seconds // 86_400}d)"] = delta
    if cond.by_segment:
        seen["account.segment"] = facts.account.get("segment")
    return compare(delta, cond.op, for_facts(cond.value, cond.by_segment, facts))


def _count(cond: CountPlan, facts: Facts, seen: dict[str, Any]) -> bool:
    count = count_events(facts.events, cond.event, cond.window_seconds, _epoch(facts))
    seen[f"count({cond.event}, {_days(cond.window_seconds)})"] = count
    return compare(count, cond.op, cond.value)


def _expression(cond: CelPlan, facts: Facts, seen: dict[str, Any]) -> bool:
    return _cel(cond.expression, facts, seen)


# By the condition's class, looked up before any isinstance: in the workflow sandbox every
# isinstance is a chain of Python calls (it unwraps proxies), and conditions are evaluated
# hundreds of times in an account's task.
_EVALUATORS: dict[type, Callable[[Any, Facts, dict[str, Any]], bool]] = {
    AllPlan: _all,
    AnyPlan: _any,
    NotPlan: _not,
    ComparePlan: _compare,
    ChangePlan: _change,
    CountPlan: _count,
    CelPlan: _expression,
}


def by_kind(table: dict[type, _T], cond: ConditionPlan) -> _T:
    """``table``'s entry for the condition's class (or a class it derives from)."""
    found = table.get(type(cond))
    if found is not None:
        return found
    for kind, entry in table.items():
        if isinstance(cond, kind):
            return entry
    raise TypeError(f"not a condition: {type(cond).__name__}")


def compare(value: Any, op: str, target: Any) -> bool:
    """``value op target``, false whenever value is unknown or the types do not compare."""
    if value is None:
        return False
    try:
        if op == "eq":
            return bool(value == target)
        if op == "ne":
            return bool(value != target)
        if op == "lt":
            return bool(value < target)
        if op == "lte":
            return bool(value <= target)
        if op == "gt":
            return bool(value > target)
        if op == "gte":
            return bool(value >= target)
        if op == "in":
            return value in target
        if op == "not_in":
            return value not in target
        if op == "contains":
            return isinstance(value, list | tuple | set) and target in value
    except TypeError:
        return False
    raise ValueError(f"unknown operator {op!r}")


def change(facts: Facts, field: str, window_seconds: int) -> float | None:
    """The value now minus the value ``window_seconds`` ago (or the oldest reading since)."""
    now = facts.value(field)
    samples = facts.history.get(field) or []
    if now is None or not samples:
        return None
    cutoff = int(facts.now.timestamp()) - window_seconds
    before = [s for s in samples if s.at <= cutoff]
    base = before[-1] if before else samples[0]
    return float(now) - base.value


def program(expression: str) -> Any:
    """``expression`` compiled, once per process (the evaluator and the wake-up timing both
    read it, at every evaluation)."""
    compiled = _PROGRAMS.get(expression)
    if compiled is None:
        compiled = _PROGRAMS[expression] = cel.compile(expression)
    return compiled


def _epoch(facts: Facts) -> int:
    return int(facts.now.timestamp())


def _days(seconds: int) -> str:
    return f"{seconds // 86_400}d" if seconds % 86_400 == 0 else f"{seconds}s"


def _cel(expression: str, facts: Facts, seen: dict[str, Any]) -> bool:
    compiled = program(expression)
    context: Any = facts.cel_context()
    for name in compiled.variables():
        if name in context:
            seen[name] = context[name]
    if CEL_FUNCTION in compiled.functions():
        now = _epoch(facts)
        for event, window in cel_counts(expression):
            count = count_events(facts.events, event, window, now)
            seen[f"count({event}, {_days(window)})"] = count

        def event_count(event: str, over: str) -> int:
            # Validation made both arguments quoted constants (engine.language._counts).
            return count_events(facts.events, event, duration_seconds(over), now)

        context = cel.Context(variables=context, functions={CEL_FUNCTION: event_count})
    try:
        result = compiled.execute(context)
    except (TypeError, ValueError, RuntimeError) as exc:
        seen[f"cel error: {expression}"] = str(exc).split("\n")[0]
        return False
    return result is True
