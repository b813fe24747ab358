"""The dashboard laid out once, for both of its faces: ``playbook report`` in the terminal
(rich tables, or plain tab-separated lines in pipes) and the web page ``playbook api`` serves.

Both render the same :class:`Section` list, so a number cannot read one way in the terminal
and another on the page. Each row has a stable ``key`` (``retention.grr``), which the page
carries as ``data-key`` for tests and scripts.
"""

from __future__ import annotations

from engine.dashboard._forecast import forecast, pipeline, satisfaction
from engine.dashboard._layout import (
    Row,
    Section,
    check,
    duration,
    money,
    multiple,
    na,
    pct,
    signed,
    target,
    vs,
)
from engine.dashboard._lift import table
from engine.dashboard._numbers import Report
from engine.dashboard._overrides import model, summary
from engine.dashboard._phrases import coverage, expected, measured, onboarding_nps
from engine.dashboard._retention import NewCustomers


def _retention(report: Report) -> Section:
    r, t, p = report.retention, report.targets, report.previous
    before = na("no history before this period") if p is None else None

    def prev(now: float | None, attr: str) -> str:
        return before or vs(now, getattr(p, attr), pct)

    rows = [
        Row(
            key="retention.grr",
            cells=[
                "Gross revenue retention (GRR)",
                pct(r.grr),
                target("grr", t["grr"]),
                check(r.grr, t["grr"], True),
                prev(r.grr, "grr"),
            ],
        ),
        Row(
            key="retention.nrr",
            cells=[
                "Net revenue retention (NRR)",
                pct(r.nrr),
                target("nrr", t["nrr"]),
                check(r.nrr, t["nrr"], True),
                prev(r.nrr, "nrr"),
            ],
        ),
        Row(
            key="retention.logo_churn",
            cells=["Logo churn rate", pct(r.logo_churn), "", "", prev(r.logo_churn, "logo_churn")],
        ),
        Row(
            key="retention.dilation",
            cells=[
                "Dilation rate (cohort ARR at end / at start)",
                multiple(r.dilation),
                "",
                "",
                before or multiple(p.dilation if p else None),
            ],
        ),
        Row(
            key="retention.expansion",
            cells=[
                "Expansion revenue",
                money(r.expansion),
                "",
                "",
                before or money(p.expansion if p else 0.0),
            ],
        ),
        Row(
            key="retention.expansion_share",
            cells=["Expansion, share of ARR at the end", pct(r.expansion_share)],
        ),
        Row(key="retention.churned_arr", cells=["Churned ARR", money(r.churned_arr)]),
        Row(key="retention.contraction", cells=["Contraction", money(r.contraction)]),
        Row(
            key="retention.starting",
            cells=[
                "Starting book ARR (accounts)",
                f"{money(r.starting_arr)} ({r.starting_accounts})",
            ],
        ),
        Row(
            key="retention.new_arr", cells=["New business ARR (contract.signed)", money(r.new_arr)]
        ),
        Row(key="retention.ending", cells=["ARR at the end", money(r.ending_arr)]),
    ]
    if r.as_of_accounts and r.history_starts is not None:
        rows.append(
            Row(
                key="retention.as_of",
                cells=[
                    "Starting book as of first record",
                    f"{r.as_of_accounts} account(s): history starts"
                    f" {r.history_starts:%Y-%m-%d %H:%M} UTC; accounts first recorded in the"
                    " period without contract.signed were customers before it, counted at"
                    " their first recorded ARR",
                ],
            )
        )
    return Section(
        key="retention",
        title="Retention",
        headers=["metric", "value", "target", "", "previous period"],
        rows=rows,
        bars=[
            ("starting", r.starting_arr),
            ("expansion", r.expansion),
            ("contraction", r.contraction),
            ("churned", r.churned_arr),
            ("new", r.new_arr),
        ],
    )


def sections(report: Report) -> list[Section]:
    """The dashboard, section by section, in the order seed 001's dashboard reads."""
    t = report.targets
    out = [_retention(report)]
    h = report.health
    out.append(
        Section(
            key="health",
            title=f"Health distribution ({h.accounts} accounts)",
            headers=["tier", "score band", "accounts", "share", "at period start", "change"],
            rows=[
                Row(
                    key=f"health.{row.tier}",
                    cells=[
                        row.tier,
                        row.band or "-",
                        str(row.count),
                        pct(row.share),
                        str(row.at_start),
                        signed(row.change),
                    ],
                )
                for row in h.tiers
            ]
            + ([Row(key="health.unscored", cells=["no score yet", "", str(h.unscored)])]),
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
                Row(key="at_risk.coverage", cells=["Intervention coverage", coverage(a)]),
                Row(
                    key="at_risk.resolved",
                    cells=["Resolved this period (back to a better tier)", str(a.resolved)],
                ),
            ],
        )
    )
    overridden = {o.account_id: o for o in report.overrides}
    out.append(
        Section(
            key="at_risk_accounts",
            title="Accounts at risk",
            headers=["account", "tier", "ARR", "override in force"],
            rows=[
                Row(
                    key=f"account.{x.account_id}",
                    cells=[
                        x.account_id,
                        x.tier or "-",
                        money(x.arr),
                        summary(overridden[x.account_id]) if x.account_id in overridden else "-",
                    ],
                    account=x.account_id,
                )
                for x in a.listed
            ],
        )
    )
    out.append(_overrides(report))
    out.append(
        Section(
            key="escalations",
            title="Escalations now",
            headers=["account", "playbook", "tier"],
            rows=[
                Row(
                    key=f"escalation.{e.account_id}.{e.playbook}",
                    cells=[e.account_id, e.playbook, e.tier],
                    account=e.account_id,
                )
                for e in a.escalations
            ],
        )
    )
    n = report.renewals
    f = n.forecast or forecast([], {})
    out.append(
        Section(
            key="renewals",
            title=f"Renewals in the next {n.days} days",
            headers=["metric", "value"],
            rows=[
                Row(key="renewals.count", cells=["Accounts up for renewal", str(n.count)]),
                Row(
                    key="renewals.confirmed",
                    cells=[
                        "Confirmed (renewal.signed)",
                        f"{n.confirmed} ({pct(f.confirmed_share)})",
                    ],
                ),
                Row(
                    key="renewals.at_risk",
                    cells=["At risk", f"{n.at_risk} ({pct(f.at_risk_share)})"],
                ),
                Row(
                    key="renewals.with_expansion",
                    cells=["With expansion", f"{n.with_expansion} ({pct(f.expansion_share)})"],
                ),
                Row(key="renewals.arr", cells=["ARR up for renewal", money(n.arr)]),
                Row(key="renewals.expected", cells=["Expected revenue", expected(n)]),
                Row(
                    key="renewals.expected_expansion",
                    cells=["Expected expansion", na(f.expected_expansion_reason)],
                ),
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
                    account=x.account_id,
                )
                for x in n.listed
            ],
        )
    )
    o = report.onboarding
    nc = o.new_customers or NewCustomers(signed=0, retained=0, rate=None)
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
                        target("time_to_value_days", t["time_to_value_days"]),
                        check(o.median_days_to_value, t["time_to_value_days"], False),
                    ],
                ),
                Row(
                    key="onboarding.completion",
                    cells=[
                        f"Completion rate ({o.reached_goal} of {o.journeys_ended} journeys)",
                        pct(o.completion_rate),
                        target("onboarding_completion", t["onboarding_completion"]),
                        check(o.completion_rate, t["onboarding_completion"], True),
                    ],
                ),
                Row(
                    key="onboarding.new_customer_retention",
                    cells=[
                        f"90-day retention of new customers ({nc.retained} of {nc.signed})",
                        pct(nc.rate)
                        if nc.rate is not None
                        else na("no contract.signed 90 to 180 days before the period's end"),
                        target("new_customer_retention", t["new_customer_retention"]),
                        check(nc.rate, t["new_customer_retention"], True),
                    ],
                ),
                Row(
                    key="onboarding.nps",
                    cells=["Onboarding NPS component", onboarding_nps(report)],
                ),
            ],
        )
    )
    out += _outlook(report)
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
                "emails deferred",
                "emails dropped",
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
                        str(p.emails_deferred),
                        str(p.emails_dropped),
                    ],
                )
                for p in report.playbooks
            ],
        )
    )
    out += [
        Section(key=key, title=name, headers=headers, rows=[Row(key=k, cells=c) for k, c in rows])
        for key, name, headers, rows in table(report.experiments)
    ]
    return out


def _outlook(report: Report) -> list[Section]:
    """Expansion pipeline and customer satisfaction: what data exists, and why not the rest."""
    p = report.pipeline or pipeline(None)
    r = report.retention
    s = report.satisfaction or satisfaction([])
    return [
        Section(
            key="pipeline",
            title="Expansion pipeline",
            headers=["metric", "value"],
            rows=[
                Row(
                    key="pipeline.opportunities",
                    cells=[
                        "Expansion opportunities (running expand plays)",
                        str(p.opportunities) if p.opportunities is not None else na(p.reason),
                    ],
                ),
                Row(key="pipeline.value", cells=["Pipeline value", na(p.value_reason)]),
                Row(
                    key="pipeline.average",
                    cells=[
                        f"Average expansion size ({r.expanded_accounts} accounts this period)",
                        money(r.average_expansion)
                        if r.average_expansion is not None
                        else na("no account of the starting book expanded"),
                    ],
                ),
            ],
        ),
        Section(
            key="satisfaction",
            title="Customer satisfaction",
            headers=["metric", "value"],
            rows=[
                Row(key="satisfaction.nps", cells=["NPS component", measured(s.nps, s.reason)]),
                Row(key="satisfaction.csat", cells=["CSAT component", measured(s.csat, s.reason)]),
            ],
        ),
    ]


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


def _overrides(report: Report) -> Section:
    """Where people overrode the model: conditions read the override, the tiers above count
    the model's score."""
    listed = len(report.overrides)
    more = f", the {listed} ending soonest" if listed < report.overridden else ""
    return Section(
        key="overrides",
        title=f"Health overrides in force ({report.overridden}{more})",
        headers=["account", "override", "model now", "by", "why", "until"],
        rows=[
            Row(
                key=f"override.{o.account_id}",
                cells=[
                    o.account_id,
                    f"{o.score:g}",
                    model(o),
                    o.by,
                    o.reason,
                    f"{o.until:%Y-%m-%d %H:%M} UTC",
                ],
                account=o.account_id,
            )
            for o in report.overrides
        ],
    )
