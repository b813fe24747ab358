"""The goal and the exit of a run: when each fires, a condition held for its window if the
playbook gives one (``goal: {when: ..., for: 14d}``).

Kept apart from the run's interpreter (``engine.journeys._run``), which asks :meth:`check`
whenever facts or an event arrive and when the calendar turns, and sleeps no longer than
:meth:`next_due`. Deterministic: time is the facts' ``now``, the workflow's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.journeys._evaluate import evaluate
    from engine.language._facts import Facts
    from engine.language._plan import Plan, TriggerPlan

Name = Literal["goal", "exit"]

# A held goal fires a second after its window fills. A ladder recovery with the same window
# started at the same reading (churn prevention holds both for 14 days) then steps down
# first, as the playbooks describe, and the two never share a timer instant: the
# time-skipping test server stops moving time when a workflow task cancels a timer that
# fires while the task runs, which a goal ending the run at the recovery's instant would do.
_AFTER = timedelta(seconds=1)


@dataclass(frozen=True)
class Fired:
    """A trigger that fired: which, the values it saw, and the reason the run ends with."""

    name: Name
    seen: dict[str, Any]
    reason: str


@dataclass
class Endings:
    """The goal and exit of one run, and when each held condition will have held long
    enough (a condition seen false starts its window again)."""

    _since: dict[Name, datetime] = field(default_factory=dict)
    _due: dict[Name, datetime] = field(default_factory=dict)

    def check(self, plan: Plan, facts: Callable[[], Facts], event: str | None) -> Fired | None:
        """The trigger that fires now, if any: an event that arrived, or a condition that
        holds (and has held for the trigger's ``for``)."""
        triggers: tuple[tuple[Name, TriggerPlan | None], ...] = (
            ("goal", plan.goal),
            ("exit", plan.exit),
        )
        for name, trigger in triggers:
            if trigger is None:
                continue
            if trigger.event is not None and event == trigger.event:
                return Fired(name, {"event": event}, f"{name}: {event}")
            if trigger.when is not None:
                now = facts()
                verdict = evaluate(trigger.when, now)
                if self._held(name, trigger, verdict.result, now.now):
                    return Fired(name, verdict.seen, _reason(name, trigger))
        return None

    def next_due(self) -> datetime | None:
        """When a condition holding now will have held for its window; None if none is."""
        return min(self._due.values(), default=None)

    def _held(self, name: Name, trigger: TriggerPlan, holds: bool, now: datetime) -> bool:
        if not trigger.for_seconds:
            return holds
        if not holds:
            self._since.pop(name, None)
            self._due.pop(name, None)
            return False
        since = self._since.setdefault(name, now)
        due = self._due[name] = since + timedelta(seconds=trigger.for_seconds) + _AFTER
        return now >= due


def _reason(name: Name, trigger: TriggerPlan) -> str:
    if not trigger.for_seconds:
        return f"{name}: condition held"
    return f"{name}: condition held for {_duration(trigger.for_seconds)}"


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    text = (f"{days}d" if days else "") + (f"{hours}h" if hours else "")
    text += f"{rest // 60}m" if rest >= 60 else ""
    return text or f"{seconds}s"
