"""How the dashboard words a figure that needs more than a number: intervention coverage,
expected renewal revenue, satisfaction readings. Each says over what it was measured, or
``n/a`` and why (engine.dashboard._layout.na), never a number made up.
"""

from __future__ import annotations

from engine.dashboard._forecast import Measure
from engine.dashboard._layout import money, na, pct
from engine.dashboard._numbers import AtRisk, Renewals, Report


def coverage(a: AtRisk) -> str:
    c = a.coverage
    if c is None or c.rate is None:
        return na(c.reason if c else "not computed")
    return f"{c.covered} of {a.accounts} at-risk accounts have a retain play ({pct(c.rate)})"


def expected(n: Renewals) -> str:
    f = n.forecast
    if f is None or not n.count:
        return na("no renewals in the window") if n.count == 0 else "n/a"
    if f.expected_revenue is None:
        return na(f"no health tier with a churn risk for {', '.join(f.unweighed[:5])}")
    return money(f.expected_revenue)


def measured(measure: Measure | None, reason: str) -> str:
    """An average component reading and over how many accounts, or n/a and why."""
    if measure is None or measure.average is None:
        return na(reason)
    return f"{measure.average:.1f} of 100 (latest reading of {accounts(measure.accounts)})"


def accounts(count: int) -> str:
    return f"{count} account{'' if count == 1 else 's'}"


def onboarding_nps(report: Report) -> str:
    s = report.satisfaction
    if s is None or s.nps is None:
        return na(s.reason if s else "the health model has no NPS component")
    if s.nps.onboarding_average is None:
        return na("no account that signed in the last 90 days has an NPS reading")
    return (
        f"{s.nps.onboarding_average:.1f} of 100"
        f" (latest reading of {accounts(s.nps.onboarding_accounts)} signed in the last 90 days)"
    )
