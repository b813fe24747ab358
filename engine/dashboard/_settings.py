"""The dashboard's targets and renewal odds: configuration, not constants in the layout.

The seeds disagree (seed 001: GRR above 92%, NRR above 110%; seed 004: GRR 90-95%), so a CS
team sets its own with ``PLAYBOOK_DASHBOARD_TARGETS`` and ``PLAYBOOK_DASHBOARD_CHURN_RISK``
(``workers.settings`` reads them); these defaults are seed 001's.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator

TARGETS: dict[str, float] = {
    "grr": 0.92,
    "nrr": 1.10,
    "time_to_value_days": 14.0,
    "onboarding_completion": 0.90,
    "new_customer_retention": 0.90,
}
"""Seed 001's targets: GRR > 92%, NRR > 110%, time to first value < 14 days, onboarding
completion 90%+ (seed 004), 90-day retention of new customers 90%+."""
ABOVE = {"grr", "nrr", "onboarding_completion", "new_customer_retention"}
"""Targets met at or above their value; the rest (time to value) below it."""

CHURN_RISK: dict[str, float] = {"healthy": 0.05, "good": 0.125, "at-risk": 0.40, "critical": 0.60}
"""Seed 001's "renewal risk by health": healthy under 5%, good 10-15%, at-risk 30-50%,
critical over 60%; the renewal forecast's expected revenue keeps ARR x (1 - risk)."""


class DashboardSettings(BaseModel):
    """Targets (``grr=0.92``) and churn risk per health tier (``critical=0.6``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    targets: dict[str, float] = Field(default_factory=lambda: dict(TARGETS))
    churn_risk: dict[str, float] = Field(default_factory=lambda: dict(CHURN_RISK))

    @field_validator("targets", mode="after")
    @classmethod
    def _targets(cls, value: dict[str, float]) -> dict[str, float]:
        for name, number in value.items():
            if name not in TARGETS:
                raise ValueError(f"unknown target {name!r} (targets: {', '.join(TARGETS)})")
            if not math.isfinite(number) or not 0 < number <= 1000:
                raise ValueError(f"{name}: a number above 0, e.g. {name}={TARGETS[name]:g}")
        return {**TARGETS, **value}

    @field_validator("churn_risk", mode="after")
    @classmethod
    def _risk(cls, value: dict[str, float]) -> dict[str, float]:
        for name, number in value.items():
            if not name or not math.isfinite(number) or not 0 <= number <= 1:
                raise ValueError(f"{name or '(no tier)'}=: a churn risk from 0 to 1, e.g. 0.4")
        return {**CHURN_RISK, **value}
