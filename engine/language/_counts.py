"""Event counts in conditions: how many times an event came within a window.

Seed 004's expansion trigger needs "an executive meeting in the last 90 days"; that is a
count of a lifecycle event over a window, written as a structured condition
(``{count: {event: exec.meeting, over: 90d, gte: 1}}``) or in CEL
(``event_count("exec.meeting", "90d") >= 1``). Both read the account's bounded event log,
kept here too (:func:`keep_event`): per event name the moments it came (seconds since the
epoch), at most :data:`MAX_PER_EVENT` of them and none older than :data:`MAX_WINDOW_SECONDS`,
for at most :data:`MAX_EVENTS` names. A window may therefore look back at most that far.

The CEL function's arguments must be quoted constants, so what an expression counts is known
from its text: the account sends a run only the events its plan counts
(``engine.language._plan_reads.history_windows``), and a waiting workflow wakes when a counted
event leaves its window (``engine.journeys._timing``). Pure and deterministic.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from engine.language._base import EventName, Model
from engine.language._durations import DURATION_PATTERN, Duration, duration_seconds
from engine.language._errors import Code

COUNT_OPERATORS = ("eq", "lt", "lte", "gt", "gte")
MAX_WINDOW_DAYS = 400
MAX_WINDOW_SECONDS = MAX_WINDOW_DAYS * 86_400
"""How far back the account keeps events, so how far back a count may look."""
MAX_PER_EVENT = 400
"""Moments kept per event name: a count reads at most this many."""
MAX_EVENTS = 100
"""Event names kept per account; past it, the name whose last event is oldest is dropped."""
CEL_FUNCTION = "event_count"
EVENT_KEY = "event:"
"""The prefix of a counted event in a plan's history windows (``event:exec.meeting``)."""
_CALL = re.compile(r"\bevent_count\s*\(")
_LITERAL_CALL = re.compile(
    r"""\bevent_count\s*\(\s*(["'])([^"'\\]*)\1\s*,\s*(["'])([^"'\\]*)\3\s*\)"""
)
_EVENT = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_DURATION = re.compile(DURATION_PATTERN)


class CountSpec(Model):
    """What to count and the bound: ``{event: exec.meeting, over: 90d, gte: 1}``."""

    event: EventName
    """The lifecycle event to count, as ``entry.event`` names one."""
    over: Duration
    """The window: events that came within this long before now count (at most 400d)."""
    eq: int | None = Field(default=None, ge=0)
    """Holds when the count is exactly this."""
    lt: int | None = Field(default=None, ge=0)
    """Holds when the count is below this."""
    lte: int | None = Field(default=None, ge=0)
    """Holds when the count is at most this."""
    gt: int | None = Field(default=None, ge=0)
    """Holds when the count is above this."""
    gte: int | None = Field(default=None, ge=0)
    """Holds when the count is at least this."""

    @model_validator(mode="after")
    def _one_operator_and_a_kept_window(self) -> CountSpec:
        given = [op for op in COUNT_OPERATORS if getattr(self, op) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                Code.CONDITION_OPERATOR,
                "count of {event} needs exactly one operator of {ops}; found {found}",
                {
                    "event": self.event,
                    "ops": ", ".join(COUNT_OPERATORS),
                    "found": ", ".join(given) or "none",
                },
            )
        if not 0 < duration_seconds(self.over) <= MAX_WINDOW_SECONDS:
            raise PydanticCustomError(
                Code.CONDITION_VALUE,
                "count over '{over}': the window is more than nothing and at most {days}d"
                " (the account keeps {days} days of events)",
                {"over": self.over, "days": MAX_WINDOW_DAYS},
            )
        return self

    @property
    def operator(self) -> Literal["eq", "lt", "lte", "gt", "gte"]:
        op = next(op for op in COUNT_OPERATORS if getattr(self, op) is not None)
        return op  # type: ignore[return-value]

    @property
    def value(self) -> int:
        found: int = getattr(self, self.operator)
        return found


class Count(Model):
    """How often an event came in a window:
    ``{count: {event: exec.meeting, over: 90d, gte: 1}}``."""

    count: CountSpec
    """The event, the window and one bound (eq, lt, lte, gt or gte)."""


def count_events(events: dict[str, list[int]], name: str, window: int, now: int) -> int:
    """How many ``name`` events came in the ``window`` seconds up to ``now`` (after
    ``now - window``, at or before ``now``)."""
    return sum(1 for at in events.get(name, ()) if now - window < at <= now)


def keep_event(events: dict[str, list[int]], name: str, at: int) -> None:
    """Add an event that came at ``at`` to the account's log, within its bounds."""
    moments = events.setdefault(name, [])
    moments.append(at)
    cutoff = at - MAX_WINDOW_SECONDS
    del moments[: max(0, len(moments) - MAX_PER_EVENT)]
    while moments and moments[0] <= cutoff:
        moments.pop(0)
    while len(events) > MAX_EVENTS:
        oldest = min(events, key=lambda n: (events[n][-1] if events[n] else 0, n))
        del events[oldest]


def cel_counts(expression: str) -> list[tuple[str, int]]:
    """The (event, window seconds) of every well-formed ``event_count`` call in
    ``expression``; calls that are not (checked by :func:`cel_count_problems`) are left out."""
    found = []
    for match in _LITERAL_CALL.finditer(expression):
        event, over = match.group(2), match.group(4)
        if _EVENT.fullmatch(event) and _DURATION.fullmatch(over):
            found.append((event, duration_seconds(over)))
    return found


def cel_count_problems(expression: str) -> list[tuple[str, int]]:
    """What is wrong with each ``event_count`` call, with its offset in ``expression``."""
    problems = []
    literal = {m.start(): m for m in _LITERAL_CALL.finditer(expression)}
    for call in _CALL.finditer(expression):
        match = literal.get(call.start())
        if match is None:
            problems.append(
                (
                    "event_count takes a quoted event name and a quoted duration,"
                    ' as in event_count("exec.meeting", "90d")',
                    call.start(),
                )
            )
            continue
        event, over = match.group(2), match.group(4)
        if not _EVENT.fullmatch(event):
            problems.append((f"event_count: {event[:40]!r} is not an event name", call.start()))
        elif not _DURATION.fullmatch(over) or not 0 < duration_seconds(over) <= MAX_WINDOW_SECONDS:
            problems.append(
                (
                    f"event_count: {over[:40]!r} is not a window from 1s to {MAX_WINDOW_DAYS}d"
                    " (the account keeps that many days of events)",
                    call.start(),
                )
            )
    return problems
