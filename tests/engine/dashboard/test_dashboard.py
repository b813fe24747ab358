"""The dashboard's arithmetic on a known book: every metric equals the value worked out by hand
(the working is in the comments)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.dashboard._numbers import Live, Renewing, build_report
from engine.dashboard._period import parse_period
from engine.dashboard._view import sections
from engine.journeys._messages import ChangeKind, HistoryChange, JourneyRecord

PERIOD = parse_period("2026-04-01..2026-06-30", datetime(2026, 6, 30, 12, tzinfo=UTC))
NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


_CHANGES: list[tuple[str, str, ChangeKind, str | None, str]] = [
    # account, day, kind, old, new
    ("omega", "2026-01-01", "arr", None, "10000"),
    ("acme", "2026-01-10", "arr", None, "100000"),
    ("acme", "2026-01-10", "tier", None, "healthy"),
    ("acme", "2026-01-10", "lifecycle", None, "contract.signed"),
    ("beta", "2026-02-01", "arr", None, "50000"),
    ("beta", "2026-02-01", "tier", None, "good"),
    ("gamma", "2026-02-01", "arr", None, "20000"),
    ("gamma", "2026-02-01", "tier", None, "at-risk"),
    ("acme", "2026-03-01", "lifecycle", None, "onboarding.completed"),  # before the period
    ("delta", "2026-03-01", "arr", None, "30000"),
    ("delta", "2026-03-01", "tier", None, "healthy"),
    ("omega", "2026-03-15", "lifecycle", None, "contract.cancelled"),  # churned before
    ("acme", "2026-03-20", "tier", "healthy", "at-risk"),
    # -- the period starts 2026-04-01 --
    ("newco", "2026-04-20", "arr", None, "15000"),
    ("newco", "2026-04-20", "lifecycle", None, "contract.signed"),
    ("acme", "2026-05-01", "arr", "100000", "130000"),
    ("newer", "2026-05-01", "lifecycle", None, "contract.signed"),
    ("newco", "2026-05-02", "lifecycle", None, "onboarding.completed"),
    ("acme", "2026-05-05", "tier", "at-risk", "good"),
    ("beta", "2026-05-15", "arr", "50000", "40000"),
    ("newer", "2026-05-21", "lifecycle", None, "onboarding.completed"),
    ("gamma", "2026-06-01", "lifecycle", None, "contract.cancelled"),
    ("beta", "2026-06-10", "tier", "good", "critical"),
    ("delta", "2026-06-20", "lifecycle", None, "renewal.signed"),
]
CHANGES = [
    HistoryChange(key=f"k{i}", account_id=a, at=_at(d), kind=k, old=o, new=n)
    for i, (a, d, k, o, n) in enumerate(_CHANGES)
]


def _journey(
    account: str,
    playbook: str,
    stage: str,
    ended_by: str,
    tier: str | None = None,
    acks: dict[str, float] | None = None,
) -> JourneyRecord:
    return JourneyRecord.model_validate(
        {
            "workflow_id": f"playbook/{playbook}/{account}/1",
            "account_id": account,
            "playbook": playbook,
            "version": 1,
            "stage": stage,
            "cycle": 1,
            "enrolled_at": _at("2026-04-10"),
            "ended_at": _at("2026-06-01"),
            "outcome": "success" if ended_by == "goal" else "neutral",
            "ended_by": ended_by,
            "highest_tier": tier,
            "ack_seconds": acks or {},
        }
    )


JOURNEYS = [
    _journey("newco", "onboarding", "onboard", "goal"),
    _journey("newer", "onboarding", "onboard", "goal"),
    _journey("gamma", "onboarding", "onboard", "exit"),
    _journey("acme", "churn-prevention", "retain", "goal", "csm", {"csm": 3600}),
    _journey(
        "gamma", "churn-prevention", "retain", "exit", "manager", {"csm": 7200, "manager": 1800}
    ),
]

LIVE = Live(
    accounts=6,
    tiers={"healthy": 2, "good": 2, "at-risk": 1, "critical": 1},
    segments={"enterprise": {"total": 2, "healthy": 1, "critical": 1}},
    at_risk={"beta": "critical", "newer": "at-risk"},
    interventions=1,
    escalated={"csm": 0, "manager": 1, "executive": 0},
    renewing=[
        Renewing(account_id="acme", renewal_date=_at("2026-08-01"), tier="good"),
        Renewing(account_id="beta", renewal_date=_at("2026-08-15"), tier="critical"),
        Renewing(account_id="delta", renewal_date=_at("2026-09-01"), tier="healthy"),
    ],
    running={"churn-prevention": 1},
    enrolled={"churn-prevention": 2, "onboarding": 3},
)


def test_retention_follows_the_seeds_formulas() -> None:
    """GRR, NRR, logo churn, expansion and new ARR of a book worked out by hand."""
    r = build_report(PERIOD, LIVE, CHANGES, JOURNEYS, NOW).retention
    # Cohort at 2026-04-01: acme 100k, beta 50k, gamma 20k, delta 30k (omega churned in
    # March, newco had no ARR yet): 4 accounts, 200k.
    assert (r.starting_accounts, r.starting_arr) == (4, 200_000)
    # gamma cancelled in June: 20k churned; beta 50k -> 40k: 10k contraction;
    # acme 100k -> 130k: 30k expansion; newco's 15k is new business, outside the cohort.
    assert (r.churned_accounts, r.churned_arr) == (1, 20_000)
    assert (r.contraction, r.expansion, r.new_arr) == (10_000, 30_000, 15_000)
    assert r.grr == pytest.approx((200_000 - 20_000 - 10_000) / 200_000)  # 0.85
    assert r.nrr == pytest.approx((200_000 + 30_000 - 20_000 - 10_000) / 200_000)  # 1.00
    assert r.logo_churn == pytest.approx(1 / 4)


def test_health_distribution_and_its_trend() -> None:
    """Counts and shares now, against each account's last tier before the period began."""
    h = build_report(PERIOD, LIVE, CHANGES, JOURNEYS, NOW).health
    rows = {row.tier: row for row in h.tiers}
    # At 2026-04-01: acme at-risk (since March 20), beta good, gamma at-risk, delta healthy.
    assert {t: r.at_start for t, r in rows.items()} == {
        "healthy": 1,
        "good": 1,
        "at-risk": 2,
        "critical": 0,
    }
    assert {t: r.change for t, r in rows.items()} == {
        "healthy": 1,
        "good": 1,
        "at-risk": -1,
        "critical": 1,
    }
    assert rows["healthy"].share == pytest.approx(2 / 6)
    assert h.unscored == 0
    assert h.segments[0].segment == "enterprise" and h.segments[0].tiers["critical"] == 1


def test_at_risk_and_renewals() -> None:
    """ARR at risk joins the at-risk accounts with their latest ARR; renewals count the
    confirmed, the at-risk and the expanding among the accounts due in 90 days."""
    report = build_report(PERIOD, LIVE, CHANGES, JOURNEYS, NOW)
    a = report.at_risk
    # beta's ARR is 40k since May; newer never had one.
    assert (a.accounts, a.arr, a.interventions) == (2, 40_000, 1)
    assert a.share == pytest.approx(2 / 6)
    # acme went at-risk -> good on May 5; beta's move to critical is not a resolution.
    assert a.resolved == 1
    assert a.escalated == {"csm": 0, "manager": 1, "executive": 0}
    n = report.renewals
    # delta signed its renewal on June 20; beta is critical; acme's ARR rose in May.
    assert (n.count, n.confirmed, n.at_risk, n.with_expansion) == (3, 1, 1, 1)
    assert n.arr == 130_000 + 40_000 + 30_000


def test_onboarding_and_playbook_effectiveness() -> None:
    """Time to first value from contract.signed to onboarding.completed; completion and
    per-playbook counts from the journeys that ended in the period."""
    report = build_report(PERIOD, LIVE, CHANGES, JOURNEYS, NOW)
    o = report.onboarding
    # newco: Apr 20 -> May 2 = 12 days; newer: May 1 -> May 21 = 20 days; acme's was in March.
    assert o.onboarded == 2
    assert o.median_days_to_value == pytest.approx((12 + 20) / 2)
    assert (o.journeys_ended, o.reached_goal) == (3, 2)
    assert o.completion_rate == pytest.approx(2 / 3)
    rows = {row.playbook: row for row in report.playbooks}
    churn = rows["churn-prevention"]
    assert (churn.running, churn.enrolled, churn.completed, churn.goal, churn.escalated) == (
        1,
        2,
        2,
        1,
        2,
    )
    # csm acknowledged after 1 h and 2 h: median 1.5 h; the manager once, after 30 min.
    assert churn.median_ack_seconds == {"csm": 5400, "manager": 1800}
    onboarding = rows["onboarding"]
    assert (onboarding.enrolled, onboarding.completed, onboarding.goal) == (3, 3, 2)
    assert onboarding.escalated == 0
    assert (churn.emails_deferred, churn.emails_dropped) == (0, 0)


def test_emails_held_by_the_contact_policy_are_counted_per_playbook() -> None:
    """The period's deferrals and drops show on the playbook's row, also for a playbook with
    no journey running or ended (its row still appears), and in the rendered section."""
    live = LIVE.model_copy(update={"contact_holds": {"qbr": (4, 1), "onboarding": (2, 0)}})
    report = build_report(PERIOD, live, CHANGES, JOURNEYS, NOW)
    rows = {row.playbook: row for row in report.playbooks}
    assert (rows["qbr"].emails_deferred, rows["qbr"].emails_dropped) == (4, 1)
    assert (rows["onboarding"].emails_deferred, rows["onboarding"].emails_dropped) == (2, 0)
    [section] = [s for s in sections(report) if s.key == "playbooks"]
    assert section.headers[-2:] == ["emails deferred", "emails dropped"]
    [qbr] = [r for r in section.rows if r.key == "playbook.qbr"]
    assert qbr.cells[-2:] == ["4", "1"]
