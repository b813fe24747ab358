"""Entry rules: which published playbooks an account enters now, and why not the others.

The account workflow asks :meth:`EntryRules.due` after every event and whenever a time-based
rule may have changed (:meth:`EntryRules.next_wake`); the rules read the account's state
(catalog index, enrollments, attributes, what fired before) and record every skip with its
reason. Kept apart from the workflow's message loop (``engine.journeys._account``) so the
decisions read on their own; they see the workflow only through :class:`Account`, so this
module does not import it. Runs inside that workflow, so it is as deterministic as the
workflow is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import engine.journeys._clock as _clock
    from engine.journeys._account_state import AccountState
    from engine.journeys._catalog import EntrySummary
    from engine.journeys._evaluate import evaluate
    from engine.journeys._timing import next_change
    from engine.journeys._windows import journey_zone
    from engine.language._facts import (
        BUILTIN_DATES,
        Facts,
        anchor_date,
        anchor_problem,
        anchor_value,
    )

_TICK = timedelta(days=1)
"""How often an idle account looked for a newer catalog before publishes were announced
(and, in runs from before exact wake-ups, re-reads its time-based rules)."""
PAUSED = "account paused"
"""The skip reason while an account is paused; it lifts at the resume."""

EXACT_DATES = "entries-exact-dates"
"""workflow.patched id: an ``at`` + ``when`` entry decides on its date (the first evaluation
at or after it) and a condition that does not hold then spends the date; accounts that
reached such a date before replay the old way (the date waited for the condition)."""

Due = list[tuple[EntrySummary, dict[str, Any], str]]
"""Entries that fire, each with the values its rule saw and the rule (entry.when, ...)."""


@dataclass
class _Firing:
    """One firing of an entry's trigger: its rule, the values seen, whether its condition
    holds, what makes the firing new (the date; None for an event, each one new) and when
    the condition was read, for the skip's reason."""

    rule: str
    seen: dict[str, Any]
    holds: bool
    key: str | None
    moment: str


def segment_refusal(entry: EntrySummary, segment: Any) -> str | None:
    """Why an account of ``segment`` may not enter ``entry``'s playbook, or None."""
    if entry.segments and segment not in entry.segments:
        return f"segment {segment!r} not in {', '.join(entry.segments)}"
    return None


class Account(Protocol):
    """What the entry rules use of the account workflow that owns them."""

    @property
    def state(self) -> AccountState: ...

    def facts(self) -> Facts: ...

    def record(
        self, kind: str, entry: EntrySummary, rule: str, seen: dict[str, Any], detail: str
    ) -> None: ...


class EntryRules:
    """The entry decisions of one account workflow."""

    def __init__(self, account: Account) -> None:
        self._account = account

    def due(self, event: str | None) -> Due:
        """Entries that fire now, by priority; records skips and their reasons."""
        state = self._account.state
        if state.catalog is None:
            return []
        facts = self._account.facts()
        due: Due = []
        segment = state.attributes.get("segment")
        for entry in state.catalog.entries:
            firing = self._fires(entry, facts, event)
            if firing is None:
                continue
            reason, lifts = segment_refusal(entry, segment), False
            if reason:
                firing.seen["segment"] = segment
            else:
                reason, lifts = self.blocked(entry, due)
            if reason != PAUSED and not firing.holds:
                # The date (or the event) was this entry's one chance, and its condition did
                # not hold then: spent, whatever else would have blocked it.
                reason, lifts = f"condition did not hold {firing.moment}", False
            if reason:
                if lifts and firing.rule == "entry.when":
                    # A block that lifts (cooldown, suppression) leaves the edge unconsumed,
                    # so an account still in the condition enters once the block is gone.
                    state.entry_held[entry.name] = False
                if reason == PAUSED and firing.rule == "entry.at":
                    # A date that comes while paused is kept for the resume.
                    state.dates_fired.pop(entry.name, None)
                self._skip(entry, firing, reason)
                continue
            state.last_skip.pop(entry.name, None)
            due.append((entry, firing.seen, firing.rule))
        return due

    def _skip(self, entry: EntrySummary, firing: _Firing, reason: str) -> None:
        """Record a skip once per firing and reason: an entry re-evaluated while the same
        block holds (every event, while still in the condition) does not flood the log, but
        a new firing (a new edge, date or event) refused again for the same reason shows."""
        state = self._account.state
        last = f"{firing.key}: {reason}"
        if firing.key is None or state.last_skip.get(entry.name) != last:
            self._account.record("skipped", entry, firing.rule, firing.seen, reason)
        state.last_skip[entry.name] = last

    def _fires(self, entry: EntrySummary, facts: Facts, event: str | None) -> _Firing | None:
        """Whether the entry's trigger fires now (its event, date or edge), and what its
        condition saw; a firing whose condition does not hold is a skip, not nothing."""
        plan = entry.entry
        state = self._account.state
        verdict = evaluate(plan.when, facts) if plan.when is not None else None
        seen = verdict.seen if verdict else {}
        holds = verdict.result if verdict else True
        if plan.event is not None:
            if event != plan.event:
                return None
            return _Firing(
                "entry.event", {**seen, "event": event}, holds, None, f"when {event} came"
            )
        if event is not None:
            return None
        if plan.at:
            target = self._entry_date(entry)
            if target is None:
                self._no_date(entry)
                return None
            if _clock.now() < target:
                return None
            key = target.isoformat()
            if state.dates_fired.get(entry.name) == key:
                return None  # this date was used (or spent) already; a moved date is new
            if not holds and not workflow.patched(EXACT_DATES):
                return None  # journeys from before: the date waited for the condition
            state.dates_fired[entry.name] = key
            seen = {**seen, "entry date": target.date().isoformat()}
            return _Firing("entry.at", seen, holds, key, "on the entry date")
        # A condition alone is edge-triggered: it enters when the condition turns true.
        was = state.entry_held.get(entry.name, False)
        state.entry_held[entry.name] = holds
        if not holds:
            state.last_skip.pop(entry.name, None)  # the next time it holds is a new firing
        if not holds or was:
            return None
        return _Firing("entry.when", seen, True, "when", "")

    def blocked(self, entry: EntrySummary, due: list[Any]) -> tuple[str | None, bool]:
        """Why the entry may not enroll now, and whether that block lifts by itself."""
        if self._account.state.paused is not None:
            return PAUSED, True
        enrollment = self._account.state.enrollments.get(entry.name)
        if enrollment is not None and enrollment.running:
            return "already running", False
        running = [n for n, e in self._account.state.enrollments.items() if e.running]
        starting = [d[0].name for d in due]
        for name in running + starting:
            other = self.summary(name)
            if other is not None and entry.name in other.suppresses:
                return f"suppressed while {name} runs", True
        if enrollment is None:
            return None, False
        policy = entry.reentry
        if policy.policy == "never":
            return f"re-entry never (cycle {enrollment.cycle} ran)", False
        until = self._cooldown_end(entry.name)
        if until is not None and _clock.now() < until:
            return f"in cooldown until {until:%Y-%m-%d %H:%M} UTC", True
        return None, False

    def _cooldown_end(self, name: str) -> datetime | None:
        enrollment = self._account.state.enrollments.get(name)
        summary = self.summary(name)
        if enrollment is None or enrollment.ended_at is None or summary is None:
            return None
        if summary.reentry.policy != "cooldown":
            return None
        return enrollment.ended_at + timedelta(seconds=summary.reentry.cooldown_seconds or 0)

    def summary(self, name: str) -> EntrySummary | None:
        catalog = self._account.state.catalog
        return next((e for e in catalog.entries if e.name == name), None) if catalog else None

    def _entry_date(self, entry: EntrySummary) -> datetime | None:
        at = entry.entry.at
        offset = at.get(str(self._account.state.attributes.get("segment"))) or at.get("default")
        if offset is None:
            return None
        state = self._account.state
        calendars = state.catalog.calendars if state.catalog else {}
        zone = journey_zone(calendars, state.attributes)
        base = anchor_date(state.attributes, offset.anchor, zone)
        return None if base is None else base + timedelta(seconds=offset.offset_seconds)

    def _no_date(self, entry: EntrySummary) -> None:
        """Record, once per value, an entry anchor that holds something other than a date
        (``go_live_date: soon``); an account without the attribute at all has no date and
        nothing to say, as one without a renewal date."""
        at = entry.entry.at
        attributes = self._account.state.attributes
        offset = at.get(str(attributes.get("segment"))) or at.get("default")
        value = anchor_value(attributes, offset.anchor) if offset else None
        if offset is None or value is None or offset.anchor in BUILTIN_DATES:
            return  # built-in dates are checked on the way in (engine.journeys._values)
        problem = anchor_problem(attributes, offset.anchor) or "no entry date"
        firing = _Firing("entry.at", {offset.anchor: value}, False, f"no date {value!r}", "")
        self._skip(entry, firing, f"{problem}: no entry date until it is one")

    def next_wake(self, exact: bool, daily: bool = True) -> timedelta | None:
        """How long until a time-based rule may change: an entry date, a cooldown's end, an
        entry condition that reads the calendar, or, with ``daily`` unless a simulation
        runs, the daily look for a newer catalog. None when only an event can change
        anything.

        Without ``exact`` (runs started before exact wake-ups) the account wakes daily.
        """
        now = _clock.now()
        state = self._account.state
        moments: list[datetime | None] = []
        if not exact or (daily and (state.catalog is None or not state.catalog.simulation)):
            moments.append(now + _TICK)
        if state.catalog:
            facts = self._account.facts() if exact else None
            for entry in state.catalog.entries:
                moments.append(self._entry_date(entry) if entry.entry.at else None)
                moments.append(self._cooldown_end(entry.name))
                if facts is not None and entry.entry.when is not None and not entry.entry.event:
                    moments.append(next_change(entry.entry.when, facts))
        ahead = [m for m in moments if m is not None and m > now]
        return max(min(ahead) - now, timedelta(seconds=1)) if ahead else None
