"""Health overrides: a person's score for an account, with a reason and an expiry.

A CSM who knows better than the model ("the champion confirmed the renewal yesterday") sets
the score conditions use until a date; the model keeps scoring every reading, and both are
shown (status, why, the account page). The account workflow holds the override
(:class:`HealthOverride` in its state), applies it to the facts every condition reads
(:func:`effective`), and ends it with a durable timer at ``until`` or when cleared; either way
its entries are evaluated again and its journeys get the model's health back.

The rules (:func:`override_problem`) are applied at the edge (``playbook override``, the API)
with the wall clock and again in the workflow's update validator with the workflow clock, so a
simulation's override is checked against its own days. Pure, no I/O: the sandbox runs it.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, ConfigDict

import engine.journeys._scoring as _scoring
from engine.journeys._messages import OverrideRequest
from engine.language._facts import Health
from engine.language._plan import HealthModelPlan

MAX_REASON = 500
MAX_BY = 200
MAX_AHEAD = timedelta(days=400)
"""How far ahead an override may last: a person's judgement goes stale; set it again."""
RULE = "account.health.override"
"""The rule of the decisions an override makes in ``why``."""


class HealthOverride(BaseModel):
    """The override in force: the score conditions use until ``until``, who set it and why."""

    model_config = ConfigDict(frozen=True)

    score: float
    reason: str
    by: str
    at: datetime
    until: datetime


def override_problem(request: OverrideRequest, now: datetime) -> str | None:
    """Why ``request`` cannot be taken at ``now``, in one line; None when it can."""
    if not request.by or len(request.by) > MAX_BY or _control(request.by):
        return f"who overrides is 1-{MAX_BY} characters without control characters"
    if request.clear:
        return None if len(request.reason) <= MAX_REASON else _reason_problem(request.reason)
    score = request.score
    if score is None or not math.isfinite(score) or not 0 <= score <= 100:
        return f"the score must be a number from 0 to 100, not {score!r:.20}"
    problem = _reason_problem(request.reason)
    if problem:
        return problem
    until = request.until
    if until is None or until.tzinfo is None:
        return "until must be a date or a moment with its time zone (2027-01-10, 2027-01-10T09:00Z)"
    if until <= now:
        return f"until {until:%Y-%m-%d %H:%M} UTC has passed (now {now:%Y-%m-%d %H:%M} UTC)"
    if until > now + MAX_AHEAD:
        return f"until may be at most {MAX_AHEAD.days} days ahead; set it again when it expires"
    return None


def _reason_problem(reason: str) -> str | None:
    if not reason.strip() or len(reason) > MAX_REASON:
        return f"the reason is 1-{MAX_REASON} characters (it is {len(reason)})"
    if _control(reason):
        return "the reason holds a control character; write it on one line"
    return None


def _control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def effective(
    health: Health,
    override: HealthOverride | None,
    model: HealthModelPlan | None,
    segment: object = None,
) -> Health:
    """The health conditions read: the model's, with the override's score (and the tier
    that score falls in, by the segment's tiers) while one is in force; trend and
    components stay the model's."""
    if override is None:
        return health
    tier = _scoring.tier(model, override.score, segment) if model is not None else health.tier
    return health.model_copy(update={"score": override.score, "tier": tier})


def describe(override: HealthOverride, model_score: float | None) -> str:
    """The override in words, for ``why`` and status."""
    model = "no score yet" if model_score is None else f"{model_score:g}"
    return (
        f"health score {override.score:g} (the model says {model}) until"
        f" {override.until:%Y-%m-%d %H:%M} UTC, by {override.by}: {override.reason}"
    )


def parse_until(text: str) -> datetime:
    """``until`` as written: a date (``2027-01-10``, its 00:00 UTC) or a moment with its time
    zone (``2027-01-10T09:00Z``). ValueError with the one-line reason otherwise."""
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"until {text[:40]!r} is not a date (2027-01-10) or a moment") from None
    if moment.tzinfo is None:
        raise ValueError(f"until {text[:40]!r} has no time zone: write 2027-01-10T09:00Z")
    return moment.astimezone(UTC)
