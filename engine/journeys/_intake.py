"""Intake: how an account takes a health reading or an attribute change into its state.

A reading's components are kept where a health model can score them, the score (given, or
the catalog's model's) becomes the account's health with its tier and trend, and every value
joins the history that conditions measure changes over; an attribute change is applied as
far as each value is usable (engine.journeys._values). What the dashboard needs (tier,
ARR and segment changes, satisfaction readings) is noted for the store. An event id seen
before is a duplicate, taken once. Kept apart from the workflow's message loop
(``engine.journeys._account``); it sees the workflow only through :class:`Account`. Runs
inside that workflow, so it is as deterministic as the workflow is.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import engine.journeys._clock as _clock
    import engine.journeys._scoring as _scoring
    import engine.journeys._values as _values
    from engine.journeys._account_patches import NAME_VALUES, SATISFACTION
    from engine.journeys._account_state import AccountState
    from engine.journeys._history import ChangeLog
    from engine.journeys._messages import AttributeChange, ChangeKind, HealthEvent
    from engine.language._facts import Health, Sample
    from engine.language._fields import satisfaction_measure

_HISTORY_DAYS = 400
_HISTORY_SAMPLES = 400
_IDS_KEPT = 2_000
_ABSENT = object()
_TRACKED: tuple[ChangeKind, ...] = ("arr", "segment")
"""Attributes whose changes the dashboard needs (with tier changes and lifecycle events)."""


class Account(Protocol):
    """What intake uses of the account workflow that owns it."""

    @property
    def state(self) -> AccountState: ...

    def patched(self, patch_id: str) -> bool: ...

    def not_applied(self, rule: str, detail: str, seen: dict[str, Any] | None = None) -> None: ...


class Intake:
    """The readings and attribute changes one account workflow takes."""

    def __init__(self, account: Account, changes: ChangeLog) -> None:
        self._account = account
        self._changes = changes
        self._seen: set[str] | None = None
        """The event ids kept in the state, as a set once the run first asks."""

    def apply(self, item: HealthEvent | AttributeChange) -> None:
        """Take a reading or an attribute change into the account's state."""
        state = self._account.state
        now = _clock.now()
        if isinstance(item, AttributeChange):
            changes = self._usable(item)
            for kind in _TRACKED:
                if kind in changes and changes[kind] != state.attributes.get(kind):
                    self._changes.note(kind, state.attributes.get(kind), changes[kind])
            if any(state.attributes.get(k, _ABSENT) != v for k, v in changes.items()):
                state.attributes_changed += 1
            state.attributes.update(changes)
        else:
            # A reading no health model can score (NaN, out of range) is left out; the
            # edge refuses them, this is for what got in before it did.
            components = {
                k: v for k, v in item.components.items() if math.isfinite(v) and 0 <= v <= 100
            }
            for name, value in components.items():
                measure = satisfaction_measure(name)
                was = state.components.get(name)
                if measure is not None and value != was and self._account.patched(SATISFACTION):
                    self._changes.note(measure, was, value)
            state.components.update(components)
            for name, value in components.items():
                self._sample(f"health.components.{name}", value, now)
            score = item.score
            model = state.catalog.health if state.catalog else None
            if score is None and model is not None and components:
                segment = state.attributes.get("segment")
                score = _scoring.score(model, segment, components, state.components)
            if score is not None:
                self._sample("health.score", score, now)
                history = state.history["health.score"]
                before = state.health.tier
                state.health = Health(
                    score=score,
                    tier=_scoring.tier(model, score, state.attributes.get("segment"))
                    if model
                    else None,
                    trend=_scoring.trend(model, history, int(now.timestamp())) if model else None,
                    components=dict(state.components),
                )
                if state.health.tier != before:
                    self._changes.note("tier", before, state.health.tier)
            else:
                state.health = state.health.model_copy(
                    update={"components": dict(state.components)}
                )

    def duplicate(self, event_id: str | None) -> bool:
        """Whether ``event_id`` was taken before; if not, it is remembered."""
        if event_id is None:
            return False
        ids = self._account.state.seen_ids
        if self._seen is None:
            self._seen = set(ids)
        if event_id in self._seen:
            return True
        ids.append(event_id)
        self._seen.add(event_id)
        if len(ids) > _IDS_KEPT:
            for old in ids[: len(ids) - _IDS_KEPT]:
                self._seen.discard(old)
            del ids[: len(ids) - _IDS_KEPT]
        return False

    def _usable(self, item: AttributeChange) -> dict[str, Any]:
        """The changes the account can take (engine.journeys._values); each one it cannot
        is left out and recorded, so one bad value never stops the account."""
        names = self._account.patched(NAME_VALUES)
        # Asked only when the change places the account on the calendar: other histories
        # keep their commands.
        zones = bool(set(item.set) & set(_values.CALENDAR_ATTRIBUTES)) and workflow.patched(
            _values.ZONE_VALUES
        )
        attributes = self._account.state.attributes
        kept, refused = _values.usable(item.set, attributes, names=names, zones=zones)
        for key, reason in refused:
            rule = f"account.attributes.{key}"
            self._account.not_applied(rule, reason, {"event_id": item.event_id})
        return kept

    def _sample(self, field: str, value: float, now: datetime) -> None:
        samples = self._account.state.history.setdefault(field, [])
        samples.append(Sample(at=int(now.timestamp()), value=float(value)))
        cutoff = int((now - timedelta(days=_HISTORY_DAYS)).timestamp())
        del samples[: max(0, len(samples) - _HISTORY_SAMPLES)]
        while samples and samples[0].at < cutoff and len(samples) > 1:
            samples.pop(0)
