"""The customer-success dashboard's numbers, computed from plain inputs.

Two sources feed it (``workers.dashboard_sources`` gathers them): what Temporal's visibility
store says now (:class:`Live`: counts by tier and segment, escalations, renewals, runs), and
the account history the workflows keep in the store (ARR, segment and tier changes, lifecycle
events, journey outcomes), which Temporal does not keep. This module only does arithmetic on
them, with no I/O, so every metric can be checked against a hand-computed book in a test, and
the terminal report and the web page show the same :class:`Report`.

The definitions (also in the README) follow seed 001's dashboard and the seeds' targets.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from engine.dashboard._forecast import (
    Coverage,
    Forecast,
    Pipeline,
    Satisfaction,
    coverage,
    forecast,
    pipeline,
    satisfaction,
)
from engine.dashboard._lift import ExperimentLift
from engine.dashboard._overrides import LISTED, OverrideRow
from engine.dashboard._period import Period
from engine.dashboard._retention import (
    CHURN_EVENT,  # noqa: F401 (the dashboard's event names, read from here)
    SIGNED_EVENT,
    NewCustomers,
    Retention,
    new_customer_retention,
    previous,
    retention,
    starting_values,
)
from engine.dashboard._settings import DashboardSettings
from engine.journeys._messages import HistoryChange, JourneyRecord

AT_RISK_TIERS = ("at-risk", "critical")
"""Tiers that count as at risk (seed 001: "At-Risk (40-59)", "Critical (<40)")."""
DEFAULT_TIERS = ("healthy", "good", "at-risk", "critical")
DEFAULT_LADDER = ("csm", "manager", "executive")
RENEWED_EVENT = "renewal.signed"
EXPANDED_EVENT = "expansion.closed-won"
ONBOARDED_EVENT = "onboarding.completed"
RENEWAL_WINDOW = timedelta(days=90)
RECENT = timedelta(days=180)
"""How far back a renewal.signed or an expansion counts for an upcoming renewal."""


class Renewing(BaseModel):
    """An account whose renewal date is in the window, as visibility lists it."""

    account_id: str
    renewal_date: datetime
    tier: str | None = None


class Escalation(BaseModel):
    """A running journey at an escalation tier."""

    account_id: str
    playbook: str
    tier: str


class Live(BaseModel):
    """What Temporal's visibility store says now: counts, never a workflow's history."""

    accounts: int = 0
    tiers: dict[str, int] = Field(default_factory=dict)
    """Running accounts per health tier, in the health model's order (healthiest first)."""
    segments: dict[str, dict[str, int]] = Field(default_factory=dict)
    """Per segment: running accounts per tier, and ``total``."""
    at_risk: dict[str, str] = Field(default_factory=dict)
    """The accounts in an at-risk tier, and their tier."""
    interventions: int = 0
    """Running journeys of retain-stage playbooks (churn prevention and the like)."""
    escalated: dict[str, int] = Field(default_factory=dict)
    """Running journeys at each escalation tier, lowest tier first."""
    escalations: list[Escalation] = Field(default_factory=list)
    renewing: list[Renewing] = Field(default_factory=list)
    running: dict[str, int] = Field(default_factory=dict)
    """Running journeys per playbook."""
    enrolled: dict[str, int] = Field(default_factory=dict)
    """Journeys per playbook started in the period: from the store's decision log, since a
    closed run leaves visibility when retention deletes it."""
    bands: dict[str, str] = Field(default_factory=dict)
    """Each tier's score band from the health model, e.g. ``80-100``."""
    intervened: list[str] = Field(default_factory=list)
    """Accounts with a running journey of a retain-stage playbook."""
    retain_playbooks: bool = True
    """Whether any published playbook has ``stage: retain`` (else coverage is n/a)."""
    expanding: int | None = None
    """Running journeys of expand-stage playbooks; None when no playbook has that stage."""
    components: list[str] = Field(default_factory=list)
    """The health model's components (NPS and CSAT are reported when it has them)."""
    contact_holds: dict[str, tuple[int, int]] = Field(default_factory=dict)
    """Per playbook, customer emails deferred and dropped under the contact policy in the
    period (from the store's decision log)."""


class TierRow(BaseModel):
    tier: str
    band: str = ""
    count: int
    share: float
    at_start: int | None
    """Accounts in this tier when the period began (from recorded tier changes)."""
    change: int | None


class SegmentRow(BaseModel):
    segment: str
    total: int
    tiers: dict[str, int]


class Health(BaseModel):
    accounts: int
    tiers: list[TierRow]
    unscored: int
    segments: list[SegmentRow]


class AccountRow(BaseModel):
    account_id: str
    tier: str | None
    arr: float


class RenewalRow(AccountRow):
    renewal_date: datetime
    confirmed: bool
    expansion: bool


class AtRisk(BaseModel):
    accounts: int
    share: float
    arr: float
    interventions: int
    escalated: dict[str, int]
    resolved: int
    """Accounts that moved from an at-risk tier to a better one during the period."""
    listed: list[AccountRow]
    escalations: list[Escalation]
    coverage: Coverage | None = None


class Renewals(BaseModel):
    days: int
    count: int
    confirmed: int
    at_risk: int
    with_expansion: int
    arr: float
    listed: list[RenewalRow]
    forecast: Forecast | None = None


class Onboarding(BaseModel):
    onboarded: int
    median_days_to_value: float | None
    journeys_ended: int
    reached_goal: int
    completion_rate: float | None
    new_customers: NewCustomers | None = None


class PlaybookRow(BaseModel):
    playbook: str
    running: int
    enrolled: int
    completed: int
    """Journeys that ended in the period, however they ended."""
    goal: int
    escalated: int
    median_ack_seconds: dict[str, float]
    emails_deferred: int = 0
    """Customer emails the contact policy made wait, in the period."""
    emails_dropped: int = 0
    """Customer emails the contact policy did not send, in the period."""


class Report(BaseModel):
    """Everything the dashboard shows, for ``--json``, the terminal and the web page."""

    generated_at: datetime
    period: Period
    health: Health
    at_risk: AtRisk
    renewals: Renewals
    retention: Retention
    onboarding: Onboarding
    playbooks: list[PlaybookRow]
    previous: Retention | None = None
    """Retention of the period of the same length just before; None before history."""
    pipeline: Pipeline | None = None
    satisfaction: Satisfaction | None = None
    targets: dict[str, float] = Field(default_factory=lambda: DashboardSettings().targets)
    experiments: list[ExperimentLift] = Field(default_factory=list)
    """Outcomes per arm of every playbook experiment (engine.dashboard._lift)."""
    overrides: list[OverrideRow] = Field(default_factory=list)
    """Health overrides in force, ending soonest first (at most ``_overrides.LISTED``)."""
    overridden: int = 0
    """How many accounts have an override in force (``overrides`` may list fewer)."""


def build_report(
    period: Period,
    live: Live,
    changes: list[HistoryChange],
    journeys: list[JourneyRecord],
    now: datetime,
    settings: DashboardSettings | None = None,
    overrides: list[OverrideRow] | None = None,
) -> Report:
    """The dashboard for ``period``; ``changes`` are every recorded change before its end,
    ``journeys`` the runs that ended in it, ``overrides`` the health overrides in force."""
    settings = settings or DashboardSettings()
    onboarding = _onboarding(period, changes, journeys)
    onboarding.new_customers = new_customer_retention(period, changes)
    return Report(
        generated_at=now,
        period=period,
        health=_health(period, live, changes),
        at_risk=_at_risk(period, live, changes),
        renewals=_renewals(live, changes, now, settings.churn_risk),
        retention=retention(period, changes),
        previous=previous(period, changes),
        onboarding=onboarding,
        playbooks=_playbooks(live, journeys),
        pipeline=pipeline(live.expanding),
        satisfaction=satisfaction(
            live.components,
            {kind: latest(changes, kind, period.end) for kind in ("nps", "csat")},
            {
                c.account_id
                for c in changes
                if c.kind == "lifecycle"
                and c.new == SIGNED_EVENT
                and period.end - timedelta(days=90) <= c.at < period.end
            },
        ),
        targets=dict(settings.targets),
        overrides=(overrides or [])[:LISTED],
        overridden=len(overrides or []),
    )


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def latest(changes: list[HistoryChange], kind: str, before: datetime) -> dict[str, str | None]:
    """Each account's last recorded value of ``kind`` before ``before``."""
    found: dict[str, str | None] = {}
    for change in changes:
        if change.kind == kind and change.at < before:
            found[change.account_id] = change.new
    return found


def _arr(value: str | None) -> float:
    try:
        return float(value) if value is not None else 0.0
    except ValueError:
        return 0.0


def _health(period: Period, live: Live, changes: list[HistoryChange]) -> Health:
    at_start: dict[str, int] = defaultdict(int)
    # Customers from before history began count in the tier they were first recorded in.
    for tier in starting_values(changes, "tier", period)[0].values():
        if tier is not None:
            at_start[tier] += 1
    rows = [
        TierRow(
            tier=tier,
            band=live.bands.get(tier, ""),
            count=count,
            share=_share(count, live.accounts),
            at_start=at_start.get(tier, 0),
            change=count - at_start.get(tier, 0),
        )
        for tier, count in live.tiers.items()
    ]
    segments = [
        SegmentRow(
            segment=name,
            total=counts.get("total", 0),
            tiers={t: n for t, n in counts.items() if t != "total"},
        )
        for name, counts in live.segments.items()
    ]
    return Health(
        accounts=live.accounts,
        tiers=rows,
        unscored=live.accounts - sum(live.tiers.values()),
        segments=segments,
    )


def _at_risk(period: Period, live: Live, changes: list[HistoryChange]) -> AtRisk:
    arr_now = latest(changes, "arr", period.end)
    resolved = {
        c.account_id
        for c in changes
        if c.kind == "tier"
        and period.start <= c.at < period.end
        and c.old in AT_RISK_TIERS
        and c.new is not None
        and c.new not in AT_RISK_TIERS
    }
    listed = [
        AccountRow(account_id=a, tier=t, arr=_arr(arr_now.get(a)))
        for a, t in sorted(live.at_risk.items())
    ]
    return AtRisk(
        accounts=len(listed),
        share=_share(len(listed), live.accounts),
        arr=sum(row.arr for row in listed),
        interventions=live.interventions,
        escalated=dict(live.escalated),
        resolved=len(resolved),
        listed=listed,
        escalations=live.escalations,
        coverage=coverage(
            [row.account_id for row in listed], set(live.intervened), live.retain_playbooks
        ),
    )


def _renewals(
    live: Live, changes: list[HistoryChange], now: datetime, churn_risk: dict[str, float]
) -> Renewals:
    arr_now = latest(changes, "arr", now + timedelta(seconds=1))
    recent = [c for c in changes if now - RECENT <= c.at]
    renewed = {c.account_id for c in recent if c.kind == "lifecycle" and c.new == RENEWED_EVENT}
    expanded = {c.account_id for c in recent if c.kind == "lifecycle" and c.new == EXPANDED_EVENT}
    expanded |= {
        c.account_id
        for c in recent
        if c.kind == "arr" and c.old is not None and _arr(c.new) > _arr(c.old)
    }
    listed = [
        RenewalRow(
            account_id=r.account_id,
            tier=r.tier,
            arr=_arr(arr_now.get(r.account_id)),
            renewal_date=r.renewal_date,
            confirmed=r.account_id in renewed,
            expansion=r.account_id in expanded,
        )
        for r in live.renewing
    ]
    ahead = forecast(
        [(r.account_id, r.tier, r.arr, r.confirmed, r.expansion) for r in listed], churn_risk
    )
    at_risk = sum(1 for r in listed if r.tier in AT_RISK_TIERS)
    ahead.at_risk_share = at_risk / len(listed) if listed else None
    return Renewals(
        days=RENEWAL_WINDOW.days,
        count=len(listed),
        confirmed=sum(1 for r in listed if r.confirmed),
        at_risk=at_risk,
        with_expansion=sum(1 for r in listed if r.expansion),
        arr=sum(r.arr for r in listed),
        listed=listed,
        forecast=ahead,
    )


def _onboarding(
    period: Period, changes: list[HistoryChange], journeys: list[JourneyRecord]
) -> Onboarding:
    signed: dict[str, datetime] = {}
    days: dict[str, float] = {}
    for change in changes:  # oldest first: the signing before each completion
        if change.kind != "lifecycle":
            continue
        if change.new == SIGNED_EVENT:
            signed[change.account_id] = change.at
        elif change.new == ONBOARDED_EVENT and period.start <= change.at < period.end:
            began = signed.get(change.account_id)
            if began is not None and change.account_id not in days:
                days[change.account_id] = (change.at - began).total_seconds() / 86400
    onboarding = [j for j in journeys if j.stage == "onboard"]
    goal = sum(1 for j in onboarding if j.ended_by == "goal")
    return Onboarding(
        onboarded=len(
            {
                c.account_id
                for c in changes
                if c.kind == "lifecycle"
                and c.new == ONBOARDED_EVENT
                and period.start <= c.at < period.end
            }
        ),
        median_days_to_value=statistics.median(days.values()) if days else None,
        journeys_ended=len(onboarding),
        reached_goal=goal,
        completion_rate=goal / len(onboarding) if onboarding else None,
    )


def _playbooks(live: Live, journeys: list[JourneyRecord]) -> list[PlaybookRow]:
    names = sorted(
        {*live.running, *live.enrolled, *live.contact_holds, *(j.playbook for j in journeys)}
    )
    rows = []
    for name in names:
        ended = [j for j in journeys if j.playbook == name]
        waits: dict[str, list[float]] = defaultdict(list)
        for journey in ended:
            for tier, seconds in journey.ack_seconds.items():
                waits[tier].append(seconds)
        rows.append(
            PlaybookRow(
                playbook=name,
                running=live.running.get(name, 0),
                enrolled=live.enrolled.get(name, 0),
                completed=len(ended),
                goal=sum(1 for j in ended if j.ended_by == "goal"),
                escalated=sum(1 for j in ended if j.highest_tier is not None),
                median_ack_seconds={t: statistics.median(s) for t, s in waits.items()},
                emails_deferred=live.contact_holds.get(name, (0, 0))[0],
                emails_dropped=live.contact_holds.get(name, (0, 0))[1],
            )
        )
    return rows
