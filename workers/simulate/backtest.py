"""The backtest report: what the playbooks would have done to a book of accounts.

Per playbook: how many accounts entered and when, the tasks and emails it produced and their
load per CSM per week, how many accounts reached each escalation tier, and, where outcomes
are known, how many churners it caught, how many days before they churned, and how many
accounts that did not churn it flagged. Everything is read from the simulation's records:
the accounts' decisions and the recorded actions.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import timedelta

from pydantic import BaseModel

from engine.dashboard._lift import DEFAULT_HORIZON, ExperimentLift
from engine.language._plan import Plan
from workers.simulate.inputs import Outcome
from workers.simulate.lift import experiments
from workers.simulate.runner import Result


class PlaybookReport(BaseModel):
    """One playbook's effect on the book."""

    playbook: str
    accounts_entered: int
    enrollments: int
    median_entry_day: float | None
    entries_by_month: dict[str, int]
    tasks: int
    emails: int
    chats: int
    webhooks: int
    per_csm_week_mean: float
    """Tasks and emails per CSM (the account's owner) per simulated week, averaged over CSMs."""
    per_csm_week_max: float
    tiers: dict[str, int]
    """Accounts that reached each escalation tier."""
    churners: int | None = None
    churners_caught: int | None = None
    """Churned accounts that entered before the day they churned."""
    median_warning_days: float | None = None
    """Days from the first entry to the churn, over the churners caught."""
    not_churned: int | None = None
    not_churned_flagged: int | None = None
    """Accounts that did not churn (renewed, expanded or no outcome) and entered anyway."""


class BacktestReport(BaseModel):
    accounts: int
    days: int
    start: str
    wall_seconds: float
    account_days_per_second: float
    playbooks: list[PlaybookReport]
    notes: list[str] = []
    experiments: list[ExperimentLift] = []
    """Outcomes per arm of each playbook's experiment, when outcomes are known."""


def report(
    result: Result,
    outcomes: list[Outcome] | None = None,
    plans: dict[str, Plan] | None = None,
    horizon: timedelta = DEFAULT_HORIZON,
) -> BacktestReport:
    """Aggregate a book's simulation per playbook; with ``outcomes`` and ``plans``, measure
    their experiments over ``horizon``."""
    weeks = max(result.days / 7, 1.0)
    owners = {
        account: str(status.attributes.get("owner") or status.attributes.get("csm") or "-")
        for account, status in result.accounts.items()
    }
    entered: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    months: dict[str, Counter[str]] = defaultdict(Counter)
    for account, status in result.accounts.items():
        for d in status.why:
            if d.kind == "enrolled":
                entered[d.playbook][account].append(result.day_of(d.at))
                months[d.playbook][d.at.strftime("%Y-%m")] += 1
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    load: dict[str, Counter[str]] = defaultdict(Counter)
    tiers: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for a in result.actions:
        if a.error is not None:
            continue
        kinds[a.playbook][a.kind] += 1
        if a.kind in ("task", "email"):
            load[a.playbook][owners.get(a.account_id, "-")] += 1
        if a.tier is not None:
            tiers[a.playbook][a.tier].add(a.account_id)
    churn_day = {
        o.account: float(o.day)
        for o in outcomes or []
        if o.outcome == "churned" and o.day is not None
    }
    reports = []
    for name in sorted(set(entered) | set(kinds)):
        accounts = entered.get(name, {})
        firsts = [min(days) for days in accounts.values()]
        per_csm = [count / weeks for count in load[name].values()]
        row = PlaybookReport(
            playbook=name,
            accounts_entered=len(accounts),
            enrollments=sum(len(days) for days in accounts.values()),
            median_entry_day=round(statistics.median(firsts), 1) if firsts else None,
            entries_by_month=dict(sorted(months[name].items())),
            tasks=kinds[name]["task"],
            emails=kinds[name]["email"],
            chats=kinds[name]["chat"],
            webhooks=kinds[name]["webhook"],
            per_csm_week_mean=round(statistics.mean(per_csm), 2) if per_csm else 0.0,
            per_csm_week_max=round(max(per_csm), 2) if per_csm else 0.0,
            tiers={tier: len(who) for tier, who in sorted(tiers[name].items())},
        )
        if outcomes is not None:
            warnings = []
            for account, day in churn_day.items():
                before = [d for d in accounts.get(account, []) if d < day]
                if before:
                    warnings.append(day - min(before))
            others = [a for a in result.accounts if a not in churn_day]
            row.churners = len(churn_day)
            row.churners_caught = len(warnings)
            row.median_warning_days = round(statistics.median(warnings), 1) if warnings else None
            row.not_churned = len(others)
            row.not_churned_flagged = sum(1 for a in others if a in accounts)
        reports.append(row)
    account_days = len(result.accounts) * result.days
    return BacktestReport(
        accounts=len(result.accounts),
        days=result.days,
        start=result.start.isoformat(),
        wall_seconds=round(result.wall_seconds, 1),
        account_days_per_second=round(account_days / max(result.wall_seconds, 1e-9), 1),
        playbooks=reports,
        notes=result.notes,
        experiments=experiments(result, outcomes, plans, horizon) if outcomes and plans else [],
    )
