"""The dashboard laid out once, for both of its faces: ``playbook report`` in the terminal
(rich tables, or plain tab-separated lines in pipes) and the web page ``playbook api`` serves.

Both render the same :class:`Section` list, so a number cannot read one way in the terminal
and another on the page. Each row has a stable ``key`` (``retention.grr``), which the page
carries as ``data-key`` for tests and scripts.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from engine.dashboard._numbers import Report


class Row(BaseModel):
    key: str
    cells: list[str]


class Section(BaseModel):
    key: str
    title: str
    headers: list[str]
    rows: list[Row]
    bars: list[tuple[str, float]] = Field(default_factory=list)
    """What the page draws as a bar chart: label and value."""


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def money(value: float) -> str:
    return f"-${-value:,.0f}" if value < 0 else f"${value:,.0f}"


def signed(value: int | None) -> str:
    return "n/a" if value is None else f"{value:+d}" if value else "0"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _check(value: float | None, target: float, above: bool) -> str:
    if value is None:
        return "-"
    return "met" if (value >= target if above else value < target) else "missed"


def sections(report: Report) -> list[Section]:
    """The dashboard, section by section, in the order seed 001's dashboard reads."""
    r, t = report.retention, report.targets
    out = [
        Section(
            key="retention",
            title="Retention",
            headers=["metric", "value", "target", ""],
            rows=[
                Row(
                    key="retention.grr",
                    cells=[
                        "Gross revenue retention (GRR)",
                        pct(r.grr),
                        "95%+",
                        _check(r.grr, t["grr"], True),
                    ],
                ),
                Row(
                    key="retention.nrr",
                    cells=[
                        "Net revenue retention (NRR)",
                        pct(r.nrr),
                        "110%+",
                        _check(r.nrr, t["nrr"], True),
                    ],
                ),
                Row(key="retention.logo_churn", cells=["Logo churn rate", pct(r.logo_churn)]),
                Row(key="retention.expansion", cells=["Expansion revenue", money(r.expansion)]),
                Row(key="retention.churned_arr", cells=["Churned ARR", money(r.churned_arr)]),
                Row(key="retention.contraction", cells=["Contraction", money(r.contraction)]),
                Row(
                    key="retention.starting",
                    cells=[
                        "Starting ARR (accounts)",
                        f"{money(r.starting_arr)} ({r.starting_accounts})",
                    ],
                ),
                Row(key="retention.new_arr", cells=["New business ARR", money(r.new_arr)]),
            ],
            bars=[
                ("starting", r.starting_arr),
                ("expansion", r.expansion),
                ("contraction", r.contraction),
                ("churned", r.churned_arr),
                ("new", r.new_arr),
            ],
        )
    ]
    h = report.health
    out.append(
        Section(
            key="health",
            title=f"Health distribution ({h.accounts} accounts)",
            headers=["tier", "accounts", "share", "at period start", "change"],
            rows=[
                Row(
                    key=f"health.{row.tier}",
                    cells=[
                        row.tier,
                        str(row.count),
                        pct(row.share),
                        str(row.at_start),
                        signed(row.change),
                    ],
                )
                for row in h.tiers
            ]
            + ([Row(key="health.unscored", cells=["no score yet", str(h.unscored)])]),
            bars=[(row.tier, float(row.count)) for row in h.tiers],
        )
    )
    tiers = [row.tier for row in h.tiers]
    out.append(
        Section(
            key="segments",
            title="Health by segment",
            headers=["segment", "accounts", *tiers],
            rows=[
                Row(
                    key=f"segments.{s.segment}",
                    cells=[s.segment, str(s.total), *(str(s.tiers.get(t, 0)) for t in tiers)],
                )
                for s in h.segments
            ],
        )
    )
    a = report.at_risk
    out.append(
        Section(
            key="at_risk",
            title="At risk",
            headers=["metric", "value"],
            rows=[
                Row(
                    key="at_risk.accounts",
                    cells=["Accounts at risk (share of book)", f"{a.accounts} ({pct(a.share)})"],
                ),
                Row(key="at_risk.arr", cells=["ARR at risk", money(a.arr)]),
                Row(
                    key="at_risk.interventions",
                    cells=["Intervention plays running", str(a.interventions)],
                ),
                *(
                    Row(key=f"at_risk.escalated.{tier}", cells=[f"Escalated to {tier}", str(n)])
                    for tier, n in a.escalated.items()
                ),
                Row(
                    key="at_risk.resolved",
                    cells=["Resolved this period (back to a better tier)", str(a.resolved)],
                ),
            ],
        )
    )
    out.append(
        Section(
            key="at_risk_accounts",
            title="Accounts at risk",
            headers=["account", "tier", "ARR"],
            rows=[
                Row(
                    key=f"account.{x.account_id}", cells=[x.account_id, x.tier or "-", money(x.arr)]
                )
                for x in a.listed
            ],
        )
    )
    out.append(
        Section(
            key="escalations",
            title="Escalations now",
            headers=["account", "playbook", "tier"],
            rows=[
                Row(
                    key=f"escalation.{e.account_id}.{e.playbook}",
                    cells=[e.account_id, e.playbook, e.tier],
                )
                for e in a.escalations
            ],
        )
    )
    n = report.renewals
    out.append(
        Section(
            key="renewals",
            title=f"Renewals in the next {n.days} days",
            headers=["metric", "value"],
            rows=[
                Row(key="renewals.count", cells=["Accounts up for renewal", str(n.count)]),
                Row(
                    key="renewals.confirmed", cells=["Confirmed (renewal.signed)", str(n.confirmed)]
                ),
                Row(key="renewals.at_risk", cells=["At risk", str(n.at_risk)]),
                Row(key="renewals.with_expansion", cells=["With expansion", str(n.with_expansion)]),
                Row(key="renewals.arr", cells=["ARR up for renewal", money(n.arr)]),
            ],
        )
    )
    out.append(
        Section(
            key="renewing",
            title="Up for renewal",
            headers=["account", "renewal date", "tier", "ARR", "confirmed", "expansion"],
            rows=[
                Row(
                    key=f"renewing.{x.account_id}",
                    cells=[
                        x.account_id,
                        x.renewal_date.date().isoformat(),
                        x.tier or "-",
                        money(x.arr),
                        "yes" if x.confirmed else "no",
                        "yes" if x.expansion else "no",
                    ],
                )
                for x in n.listed
            ],
        )
    )
    o = report.onboarding
    ttv = None if o.median_days_to_value is None else f"{o.median_days_to_value:.1f} days"
    out.append(
        Section(
            key="onboarding",
            title="Onboarding",
            headers=["metric", "value", "target", ""],
            rows=[
                Row(key="onboarding.onboarded", cells=["Accounts onboarded", str(o.onboarded)]),
                Row(
                    key="onboarding.time_to_value",
                    cells=[
                        "Median time to first value",
                        ttv or "n/a",
                        "< 14 days",
                        _check(o.median_days_to_value, t["time_to_value_days"], False),
                    ],
                ),
                Row(
                    key="onboarding.completion",
                    cells=[
                        f"Completion rate ({o.reached_goal} of {o.journeys_ended} journeys)",
                        pct(o.completion_rate),
                        "90%+",
                        _check(o.completion_rate, t["onboarding_completion"], True),
                    ],
                ),
            ],
        )
    )
    out.append(
        Section(
            key="playbooks",
            title="Playbook effectiveness",
            headers=[
                "playbook",
                "running",
                "enrolled",
                "ended",
                "goal",
                "escalated",
                "time to ack",
            ],
            rows=[
                Row(
                    key=f"playbook.{p.playbook}",
                    cells=[
                        p.playbook,
                        str(p.running),
                        str(p.enrolled),
                        str(p.completed),
                        str(p.goal),
                        str(p.escalated),
                        ", ".join(f"{k} {duration(v)}" for k, v in p.median_ack_seconds.items())
                        or "-",
                    ],
                )
                for p in report.playbooks
            ],
        )
    )
    return out


def title(report: Report) -> str:
    p = report.period
    return (
        f"Customer success dashboard: {p.label}"
        f" ({p.start:%Y-%m-%d %H:%M} to {p.end:%Y-%m-%d %H:%M} UTC)"
    )


def plain_lines(report: Report) -> list[str]:
    """The dashboard as plain lines for pipes: a ``== title`` per section, tab-separated rows."""
    lines = [title(report)]
    for section in sections(report):
        lines.append(f"\n== {section.title}")
        lines.extend("\t".join(row.cells) for row in section.rows)
        if not section.rows:
            lines.append("(none)")
    return lines
