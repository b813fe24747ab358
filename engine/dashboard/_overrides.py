"""Health overrides in force, as the dashboard lists them.

A CSM's override (engine.journeys._overrides) changes the score conditions read, but the
dashboard's tiers and at-risk list count the model's score (the ``HealthTier`` search
attribute): a CS leader has to see where people disagree with the model, and for how long.
The account workflows record each override set, cleared and expired in the decision log;
:func:`in_force` reads the latest of each account's from there (the log outlives Temporal's
retention and needs no query of a workflow), and the model's score now comes from visibility.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel

RULE = "account.health.override"
"""The rule of an override's decisions (engine.journeys._overrides.RULE)."""
LISTED = 100
"""At most this many overrides are listed (the ones ending soonest); the count says all."""

# Decisions recorded before ``seen`` carried who and why say them only in words
# (engine.journeys._overrides.describe): "... UTC, by WHO: WHY".
_DESCRIBED = re.compile(r" UTC, by (?P<by>[^:]*): (?P<reason>.*)\Z", re.DOTALL)


class OverrideRow(BaseModel):
    """One account's override in force, beside what the model says now."""

    account_id: str
    score: float
    by: str
    reason: str
    at: datetime
    until: datetime
    model_score: float | None = None
    model_tier: str | None = None


class OverrideDecision(BaseModel):
    """The latest override decision of one account, as the decision log keeps it."""

    account_id: str
    kind: str
    at: datetime
    seen: dict[str, Any]
    detail: str


def in_force(latest: list[OverrideDecision], now: datetime) -> list[OverrideRow]:
    """The overrides still in force at ``now``, ending soonest first: an account's latest
    decision set one (not cleared or expired since) whose ``until`` is still ahead (the
    account may not have recorded the expiry yet)."""
    rows = []
    for decision in latest:
        if decision.kind != "override":
            continue
        try:
            until = datetime.fromisoformat(str(decision.seen.get("until")))
            score = float(decision.seen["health.score"])
        except (KeyError, TypeError, ValueError):
            continue  # not an override this engine wrote: nothing to show for certain
        if until.tzinfo is None or until <= now:
            continue
        by, reason = decision.seen.get("by"), decision.seen.get("reason")
        if not isinstance(by, str) or not isinstance(reason, str):
            found = _DESCRIBED.search(decision.detail)
            by, reason = (found["by"], found["reason"]) if found else ("-", decision.detail)
        rows.append(
            OverrideRow(
                account_id=decision.account_id,
                score=score,
                by=by,
                reason=reason,
                at=decision.at,
                until=until,
            )
        )
    return sorted(rows, key=lambda r: (r.until, r.account_id))


def model(row: OverrideRow) -> str:
    """The model's score and tier now, in words."""
    if row.model_score is None:
        return "no score yet"
    return f"{row.model_score:g}" + (f" ({row.model_tier})" if row.model_tier else "")


def summary(row: OverrideRow) -> str:
    """The override in one cell: ``75 by dana until 2027-01-10 09:00 UTC: renewal confirmed``."""
    return f"{row.score:g} by {row.by} until {row.until:%Y-%m-%d %H:%M} UTC: {row.reason}"
