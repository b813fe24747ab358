"""What a run of a plan reads of its account: the health values, the history windows, the
date anchors. The account workflow sends a running journey new facts only when something it
reads changed (engine.journeys._forwarding), and carries only the history windows it
measures; over-reading is safe, under-reading is not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from engine.language._counts import EVENT_KEY, cel_counts
from engine.language._plan import (
    CelPlan,
    ChangePlan,
    ComparePlan,
    CountPlan,
    NotifyNode,
    Plan,
    TierPlan,
    WaitNode,
)


def _walk(value: Any, visit: Callable[[Any], bool]) -> None:
    """Call ``visit`` on ``value`` and everything inside it (models, lists, mapping keys and
    values), not descending where ``visit`` returns True (it handled that part)."""
    if visit(value):
        return
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _walk(getattr(value, name), visit)
    elif isinstance(value, list | tuple):
        for item in value:
            _walk(item, visit)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(key, visit)
            _walk(item, visit)


def history_windows(plan: Plan) -> dict[str, int]:
    """For each field whose change a run of ``plan`` measures, the longest window it looks
    back over: the only history a run reads (its entry rule is the account's to evaluate).
    Each event it counts is there too, as ``event:NAME`` with its longest window."""
    windows: dict[str, int] = {}

    def longest(key: str, seconds: int) -> None:
        windows[key] = max(windows.get(key, 0), seconds)

    def visit(value: Any) -> bool:
        if isinstance(value, ChangePlan):
            longest(value.field, value.window_seconds)
            return True
        if isinstance(value, CountPlan):
            longest(EVENT_KEY + value.event, value.window_seconds)
            return True
        if isinstance(value, CelPlan):
            for event, seconds in cel_counts(value.expression):
                longest(EVENT_KEY + event, seconds)
            return True
        return False

    for name in Plan.model_fields:
        if name not in ("entry", "templates"):
            _walk(getattr(plan, name), visit)
    return windows


def date_anchors(plan: Plan) -> list[str]:
    """The anchors of the plan's date-anchored waits (``wait: until``), sorted: a run re-reads
    its wait's date when one of them changes (engine.journeys._run)."""
    anchors: set[str] = set()
    for node in plan.nodes.values():
        if isinstance(node, WaitNode) and node.until is not None:
            anchors.add(node.until.anchor)
    return sorted(anchors - {"enrolled"})


ALL_HEALTH = "health"
"""In ``health_reads``: the run reads the whole health (a template, a CEL expression, a chat
line), so every change of it matters."""


_NOT_THE_RUNS = ("entry", "name", "hash", "description", "source", "owner", "stage")
"""Plan fields a run never reads health through: the entry rule is the account's to
evaluate, the rest are names and texts for people."""


def _decision_reads(value: Any, reads: set[str]) -> bool:
    """Add to ``reads`` the health a condition ``value`` reads (a field compared or measured,
    all of it for a CEL expression that mentions health); True when ``value`` was one."""
    if isinstance(value, ComparePlan | ChangePlan):
        if value.field.startswith("health."):
            reads.add(value.field)
        return True
    if isinstance(value, CountPlan):
        return True  # events, not health: history_windows names them
    if isinstance(value, CelPlan):
        if "health" in value.expression.lower():
            reads.add(ALL_HEALTH)
        return True
    return False


def _health_read(plan: Plan, visit: Callable[[Any, set[str]], bool]) -> list[str]:
    """What ``visit`` adds to the set it is given, walking the fields a run reads."""
    reads: set[str] = set()
    for name in Plan.model_fields:
        if name not in _NOT_THE_RUNS:
            _walk(getattr(plan, name), lambda value: visit(value, reads))
    return [ALL_HEALTH] if ALL_HEALTH in reads else sorted(reads)


def health_reads(plan: Plan) -> list[str]:
    """The health values a run of ``plan`` reads (``health.score``, ``health.tier``,
    ``health.components.usage``...; ``[ALL_HEALTH]`` for all of it), so the account wakes the
    run only when one of them changes (engine.journeys._forwarding). The entry rule is the
    account's to evaluate, so it is left out.

    Over-reading is safe and under-reading is not: any text of the plan that mentions
    ``health`` (a template, a title, a CEL expression) and any chat message (its line shows
    the score and tier) count as reading all of it.
    """

    def visit(value: Any, reads: set[str]) -> bool:
        if _decision_reads(value, reads):
            return True
        chat = isinstance(value, NotifyNode) or (
            isinstance(value, TierPlan) and "chat" in value.via
        )
        if chat or (isinstance(value, str) and "health" in value.lower()):
            reads.add(ALL_HEALTH)
        return False

    return _health_read(plan, visit)


def health_wakes(plan: Plan) -> list[str]:
    """The health values the *decisions* of a run of ``plan`` read: the fields its conditions
    compare or measure (goal, exit, waits, branches, the ladder's tiers and recovery), all
    of health for a CEL condition that mentions it, and the tier an experiment's held-out
    ladder watches. What only its texts show (an email template, a chat line) is left out:
    an action renders the account's current health when it runs (``ActionRequest
    .fetch_health``), so a change of the score a journey shows but never decides on need
    not wake it. A subset of :func:`health_reads`; the entry rule is the account's."""
    wakes = _health_read(plan, _decision_reads)
    if plan.experiment is not None and ALL_HEALTH not in wakes:
        wakes = sorted({*wakes, "health.tier"})  # a held-out ladder waits for the critical tier
    return wakes
