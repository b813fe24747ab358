"""The forward-looking and coverage figures of seed 001's dashboard: the renewal forecast,
intervention coverage of at-risk accounts, the expansion pipeline and customer satisfaction.

Each is computed only from data the engine has; where it has none (opportunity amounts,
survey responses), the figure is ``None`` with a reason the page prints as "n/a (reason)",
never a made-up number.
"""

from __future__ import annotations

from pydantic import BaseModel

from engine.language._fields import satisfaction_measure


class Forecast(BaseModel):
    """The next 90 days' renewals, weighed by seed 001's churn risk per health tier."""

    confirmed_share: float | None
    at_risk_share: float | None
    expansion_share: float | None
    expected_revenue: float | None
    """Sum over the renewing accounts of ARR x (1 - churn risk of its tier); a confirmed
    renewal keeps all of it. None when an account has no tier the risk table knows."""
    unweighed: list[str]
    """Renewing accounts left out of the expected revenue: no tier, or one without a risk."""
    expected_expansion: float | None = None
    expected_expansion_reason: str = "no expansion amounts are recorded before they close"


def forecast(
    rows: list[tuple[str, str | None, float, bool, bool]], churn_risk: dict[str, float]
) -> Forecast:
    """``rows``: (account, tier, ARR, confirmed, with expansion) per renewing account."""
    count = len(rows)
    expected = 0.0
    unweighed = []
    for account, tier, arr, confirmed, _ in rows:
        if confirmed:
            expected += arr
        elif tier is not None and tier in churn_risk:
            expected += arr * (1 - churn_risk[tier])
        else:
            unweighed.append(account)
    return Forecast(
        confirmed_share=sum(r[3] for r in rows) / count if count else None,
        at_risk_share=None,  # filled by the caller, which knows the at-risk tiers
        expansion_share=sum(r[4] for r in rows) / count if count else None,
        expected_revenue=expected if count and not unweighed else None,
        unweighed=sorted(unweighed),
    )


class Coverage(BaseModel):
    """At-risk accounts with an intervention (a running ``stage: retain`` journey)."""

    covered: int
    rate: float | None
    reason: str = ""


def coverage(at_risk: list[str], intervened: set[str], retain_playbooks: bool) -> Coverage:
    if not retain_playbooks:
        return Coverage(covered=0, rate=None, reason="no playbook has stage: retain")
    covered = sum(1 for a in at_risk if a in intervened)
    if not at_risk:
        return Coverage(covered=0, rate=None, reason="no account is at risk")
    return Coverage(covered=covered, rate=covered / len(at_risk))


class Pipeline(BaseModel):
    """Open expansion opportunities: running journeys of ``stage: expand`` playbooks."""

    opportunities: int | None
    reason: str = ""
    value_reason: str = "the engine records no opportunity amounts (pipeline value, weighted"
    " forecast and top 5 need them)"


def pipeline(expanding: int | None) -> Pipeline:
    if expanding is None:
        return Pipeline(opportunities=None, reason="no playbook has stage: expand")
    return Pipeline(opportunities=expanding)


class Measure(BaseModel):
    """The average of a satisfaction component's latest reading over the accounts that have
    one (0-100, as the health model reads it), and over new customers' alone."""

    average: float | None
    accounts: int
    onboarding_average: float | None = None
    """Over accounts that signed a contract in the 90 days before the period's end."""
    onboarding_accounts: int = 0


class Satisfaction(BaseModel):
    """NPS and CSAT: the engine receives them only as health components, if at all."""

    components: list[str]
    reason: str
    nps: Measure | None = None
    csat: Measure | None = None


def satisfaction(
    components: list[str],
    latest: dict[str, dict[str, str | None]] | None = None,
    new_customers: set[str] | frozenset[str] = frozenset(),
) -> Satisfaction:
    """The satisfaction figures from the health model's NPS and CSAT components: ``latest``
    holds each account's last reading of each (``nps``, ``csat``, as the store records
    them), ``new_customers`` the accounts that signed in the last 90 days."""
    found = [c for c in components if satisfaction_measure(c) is not None]
    if not found:
        return Satisfaction(
            components=[],
            reason="the health model has no NPS or CSAT component, and no survey responses"
            " are recorded",
        )
    latest = latest or {}
    return Satisfaction(
        components=found,
        reason=f"no account has a reading of {', '.join(found)} yet (the health model reads"
        " them as 0-100 components; survey responses themselves are not recorded)",
        nps=_measure(latest.get("nps", {}), new_customers),
        csat=_measure(latest.get("csat", {}), new_customers),
    )


def _measure(values: dict[str, str | None], new_customers: set[str] | frozenset[str]) -> Measure:
    numbers = {a: float(v) for a, v in values.items() if v is not None and _number(v)}
    new = [v for a, v in numbers.items() if a in new_customers]
    return Measure(
        average=sum(numbers.values()) / len(numbers) if numbers else None,
        accounts=len(numbers),
        onboarding_average=sum(new) / len(new) if new else None,
        onboarding_accounts=len(new),
    )


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
