"""Seed 001's figures on a book whose history starts inside the period (the engine first ran
on 2026-04-05, with three customers already on the books), each worked out by hand in the
comments: the starting book as of first record, GRR/NRR from day one, dilation, expansion
share, the previous period, 90-day retention of new customers, the renewal forecast,
intervention coverage, and the n/a figures with their reasons."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.dashboard._forecast import coverage, forecast
from engine.dashboard._numbers import Live, build_report
from engine.dashboard._period import parse_period
from engine.dashboard._settings import DashboardSettings
from engine.dashboard._view import sections
from engine.journeys._messages import ChangeKind, HistoryChange

NOW = datetime(2026, 9, 28, 12, tzinfo=UTC)
Q2 = parse_period("2026-04-01..2026-06-29", NOW)  # 90 days
Q3 = parse_period("2026-07-01..2026-09-28", NOW)  # 90 days; the previous one starts 04-02

_BOOK: list[tuple[str, str, ChangeKind, str | None, str]] = [
    # The engine's first day: three customers from before it, no contract.signed.
    ("acme", "2026-04-05", "arr", None, "100000"),
    ("acme", "2026-04-05", "tier", None, "healthy"),
    ("beta", "2026-04-05", "arr", None, "50000"),
    ("beta", "2026-04-05", "tier", None, "good"),
    ("gamma", "2026-04-05", "arr", None, "30000"),
    ("gamma", "2026-04-05", "tier", None, "at-risk"),
    ("acme", "2026-05-01", "arr", "100000", "120000"),
    ("newco", "2026-05-10", "arr", None, "20000"),
    ("newco", "2026-05-10", "lifecycle", None, "contract.signed"),
    ("newco", "2026-05-10", "tier", None, "good"),
    ("brief", "2026-05-20", "lifecycle", None, "contract.signed"),
    ("beta", "2026-06-01", "arr", "50000", "45000"),
    ("gamma", "2026-06-10", "lifecycle", None, "contract.cancelled"),
    # -- Q3 --
    ("brief", "2026-07-15", "lifecycle", None, "contract.cancelled"),
    ("beta", "2026-08-01", "arr", "45000", "55000"),
]
Row = tuple[str, str, ChangeKind, str | None, str]


def _changes(rows: list[Row], prefix: str) -> list[HistoryChange]:
    """(account, day, kind, old, new) rows as the store's changes, keyed ``prefix + index``."""
    return [
        HistoryChange(
            key=f"{prefix}{i}",
            account_id=a,
            at=datetime.fromisoformat(d).replace(tzinfo=UTC),
            kind=k,
            old=o,
            new=n,
        )
        for i, (a, d, k, o, n) in enumerate(rows)
    ]


BOOK = _changes(_BOOK, "k")


def test_customers_from_before_history_are_the_starting_book_not_new_business() -> None:
    """Q2: acme, beta and gamma join the starting book at their first ARR (180k); only newco,
    which signed, is new business; GRR and NRR are numbers from day one."""
    q2 = [c for c in BOOK if c.at < Q2.end]
    r = build_report(Q2, Live(), q2, [], NOW).retention
    assert (r.starting_accounts, r.starting_arr, r.as_of_accounts) == (3, 180_000, 3)
    assert r.history_starts == datetime(2026, 4, 5, tzinfo=UTC)
    # gamma cancelled: 30k churned; beta 50k -> 45k: 5k contraction; acme +20k expansion.
    assert (r.churned_arr, r.contraction, r.expansion, r.new_arr) == (30_000, 5_000, 20_000, 20_000)
    assert r.grr == pytest.approx((180_000 - 30_000 - 5_000) / 180_000)  # 80.6%
    assert r.nrr == pytest.approx((180_000 - 30_000 - 5_000 + 20_000) / 180_000)  # 91.7%
    assert r.dilation == pytest.approx(165_000 / 180_000)  # the cohort's ARR, end over start
    # ARR at the end: acme 120k + beta 45k + newco 20k (gamma cancelled) = 185k.
    assert r.ending_arr == 185_000
    assert r.expansion_share == pytest.approx(20_000 / 185_000)
    assert (r.expanded_accounts, r.average_expansion) == (1, 20_000)
    assert r.logo_churn == pytest.approx(1 / 3)


def test_tiers_at_the_start_count_customers_from_before_history() -> None:
    """Q2's health 'at period start': acme healthy, beta good, gamma at-risk (first records);
    newco signed in the period, so it was nowhere at the start."""
    q2 = [c for c in BOOK if c.at < Q2.end]
    live = Live(accounts=3, tiers={"healthy": 1, "good": 2, "at-risk": 0, "critical": 0})
    rows = {t.tier: t.at_start for t in build_report(Q2, live, q2, [], NOW).health.tiers}
    assert rows == {"healthy": 1, "good": 1, "at-risk": 1, "critical": 0}


def test_the_previous_period_and_new_customers_90_day_retention() -> None:
    """Q3 against the 90 days before it (04-02 to 07-01, the same figures as Q2); of the
    customers who signed 04-02 to 06-30, newco stayed its first 90 days and brief did not."""
    report = build_report(Q3, Live(), BOOK, [], NOW)
    r, p = report.retention, report.previous
    # Q3's book: acme 120k, beta 45k, newco 20k = 185k; beta 45k -> 55k: 10k expansion.
    assert (r.starting_arr, r.as_of_accounts, r.expansion) == (185_000, 0, 10_000)
    assert (r.grr, r.nrr) == (1.0, pytest.approx(195_000 / 185_000))
    assert p is not None and p.grr == pytest.approx(145_000 / 180_000)
    nc = report.onboarding.new_customers
    assert nc is not None and (nc.signed, nc.retained, nc.rate) == (2, 1, 0.5)
    grr = {row.key: row.cells for row in sections(report)[0].rows}["retention.grr"]
    assert grr == ["Gross revenue retention (GRR)", "100.0%", "92%+", "met", "80.6% (+19.4 pts)"]


def test_before_history_there_is_no_previous_period_and_the_page_says_why() -> None:
    """Q2's previous quarter lies before the first record: n/a with the reason, and a note
    that the starting book is as of the first record."""
    q2 = [c for c in BOOK if c.at < Q2.end]
    report = build_report(Q2, Live(), q2, [], NOW)
    assert report.previous is None
    rows = {row.key: row.cells for row in sections(report)[0].rows}
    assert rows["retention.grr"][4] == "n/a: no history before this period"
    assert "history starts 2026-04-05" in rows["retention.as_of"][1]


def test_targets_come_from_the_settings() -> None:
    """A GRR target of 80% is shown as 80%+ and met by Q2's 80.6%; the others keep their
    defaults (NRR 110%+, missed by 91.7%)."""
    q2 = [c for c in BOOK if c.at < Q2.end]
    settings = DashboardSettings(targets={"grr": 0.80})
    rows = {
        row.key: row.cells
        for row in sections(build_report(Q2, Live(), q2, [], NOW, settings))[0].rows
    }
    assert rows["retention.grr"][2:4] == ["80%+", "met"]
    assert rows["retention.nrr"][2:4] == ["110%+", "missed"]


def test_the_renewal_forecast_weighs_arr_by_churn_risk_per_tier() -> None:
    """Expected revenue: 100k healthy x 0.95 + 50k critical x 0.40 + 10k confirmed = 125k;
    shares of the three renewals; an account without a known tier makes it n/a, named."""
    rows = [
        ("a", "healthy", 100_000.0, False, False),
        ("b", "critical", 50_000.0, False, True),
        ("c", "good", 10_000.0, True, False),
    ]
    f = forecast(rows, DashboardSettings().churn_risk)
    assert f.expected_revenue == pytest.approx(125_000)
    assert (f.confirmed_share, f.expansion_share) == (pytest.approx(1 / 3), pytest.approx(1 / 3))
    unknown = forecast([*rows, ("d", None, 5_000.0, False, False)], {"healthy": 0.05})
    assert unknown.expected_revenue is None and unknown.unweighed == ["b", "d"]
    assert forecast([], {}).confirmed_share is None


def test_intervention_coverage_of_at_risk_accounts() -> None:
    """One of two at-risk accounts has a retain play running; without at-risk accounts or
    without retain playbooks it is n/a, with the reason."""
    c = coverage(["a", "b"], {"b", "z"}, retain_playbooks=True)
    assert (c.covered, c.rate) == (1, 0.5)
    assert coverage([], set(), True).reason == "no account is at risk"
    assert coverage(["a"], {"a"}, False).reason == "no playbook has stage: retain"


def test_figures_without_data_say_n_a_and_why_never_a_number() -> None:
    """Pipeline value, expected expansion, NPS, CSAT and onboarding NPS: n/a with a reason."""
    rows = {
        row.key: row.cells[1]
        for section in sections(build_report(Q2, Live(), BOOK, [], NOW))
        for row in section.rows
    }
    for key in (
        "pipeline.opportunities",
        "pipeline.value",
        "renewals.expected_expansion",
        "satisfaction.nps",
        "satisfaction.csat",
        "onboarding.nps",
    ):
        assert rows[key].startswith("n/a: ") and len(rows[key]) > len("n/a: ") + 10, key


def test_nps_and_csat_are_the_average_latest_readings_of_their_components() -> None:
    """Q3 with an nps and a csat component: acme's nps 40 then 70, beta's 50, newco (signed
    2026-07-10, within 90 days of the end) 90: NPS (70+50+90)/3 = 70.0, onboarding NPS 90.0
    (newco alone); CSAT 80 from beta; a reading after the period's end is not counted."""
    readings: list[Row] = [
        ("acme", "2026-07-02", "nps", None, "40.0"),
        ("acme", "2026-08-02", "nps", "40.0", "70.0"),
        ("beta", "2026-08-03", "nps", None, "50"),
        ("newco2", "2026-07-10", "lifecycle", None, "contract.signed"),
        ("newco2", "2026-07-11", "nps", None, "90"),
        ("beta", "2026-08-03", "csat", None, "80"),
        ("beta", "2026-09-29", "csat", "80", "10"),  # after Q3's end
    ]
    book = BOOK + _changes(readings, "r")
    live = Live(components=["usage", "nps", "csat"])
    report = build_report(Q3, live, [c for c in book if c.at < Q3.end], [], NOW)
    assert report.satisfaction is not None and report.satisfaction.nps is not None
    assert (report.satisfaction.nps.average, report.satisfaction.nps.accounts) == (70.0, 3)
    assert report.satisfaction.nps.onboarding_average == 90.0
    rows = {row.key: row.cells[1] for section in sections(report) for row in section.rows}
    assert rows["satisfaction.nps"] == "70.0 of 100 (latest reading of 3 accounts)"
    assert rows["satisfaction.csat"] == "80.0 of 100 (latest reading of 1 account)"
    assert rows["onboarding.nps"].startswith("90.0 of 100 (latest reading of 1 account signed")
    # With the components but no readings yet: n/a, saying so.
    bare = build_report(Q3, live, BOOK, [], NOW)
    rows = {row.key: row.cells[1] for section in sections(bare) for row in section.rows}
    assert rows["satisfaction.nps"].startswith("n/a: no account has a reading of nps, csat")
