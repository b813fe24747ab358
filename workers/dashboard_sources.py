"""Where the dashboard's numbers come from: Temporal's visibility store and the engine's store.

Live state (running workflows only: closed ones leave visibility at retention) is counted
with visibility queries (``count_workflows`` per tier, segment,
escalation tier and playbook; ``list_workflows`` only for the few accounts at risk or up for
renewal, whose ids join ARR from the store): no workflow's history is read, so the cost grows
with the number of tiers and playbooks, not of accounts. The published catalog (one query of
one workflow) names the tiers, segments, ladder tiers and each playbook's stage; without a
worker to answer it, the seeds' defaults are used. History (changes, journey outcomes,
enrollments) comes from ``workers.history``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from temporalio.client import Client
from temporalio.service import RPCError

from engine.client._operate import OperateError, _quoted
from engine.dashboard._lift import DEFAULT_HORIZON, lift
from engine.dashboard._numbers import (
    AT_RISK_TIERS,
    DEFAULT_LADDER,
    DEFAULT_TIERS,
    RENEWAL_WINDOW,
    Escalation,
    Live,
    Renewing,
    Report,
    build_report,
)
from engine.dashboard._overrides import LISTED, OverrideRow, in_force
from engine.dashboard._period import EARLIEST, Period
from engine.dashboard._settings import DashboardSettings
from engine.journeys import _search as sa
from engine.journeys._catalog import CATALOG_WORKFLOW_ID, Catalog, CatalogWorkflow

if TYPE_CHECKING:
    from workers.store import Store

ACCOUNTS = "WorkflowType = 'Account' AND ExecutionStatus = 'Running'"
RUNS = "WorkflowType = 'PlaybookRun' AND ExecutionStatus = 'Running'"
_CATALOG_TIMEOUT = timedelta(seconds=3)


async def report(
    client: Client,
    store: Store,
    period: Period,
    now: datetime,
    settings: DashboardSettings | None = None,
    horizon: timedelta = DEFAULT_HORIZON,
) -> Report:
    """The dashboard for ``period`` as of ``now``, with ``settings``' targets; experiments
    measured over ``horizon`` after each account's enrollment."""
    from workers import history

    until = max(period.end, now) + timedelta(seconds=1)
    changes = await asyncio.to_thread(history.changes, store, until)
    journeys = await asyncio.to_thread(history.journeys, store, period.start, period.end)
    # From the decision log, not visibility: a closed run leaves visibility at retention.
    enrolled = await asyncio.to_thread(history.enrollments, store, period.start, period.end)
    segments = {c.new for c in changes if c.kind == "segment" and c.new}
    extra = {j.playbook for j in journeys} | set(enrolled)
    live = await gather_live(client, now, sorted(segments), sorted(extra))
    held = await asyncio.to_thread(history.contact_holds, store, period.start, period.end)
    live = live.model_copy(update={"enrolled": enrolled, "contact_holds": held})
    latest = await asyncio.to_thread(history.latest_overrides, store)
    overrides = await _with_model_scores(client, in_force(latest, now))
    built = build_report(period, live, changes, journeys, now, settings, overrides)
    assigned = await asyncio.to_thread(history.assignments, store)
    if not assigned:
        return built
    # Every account ever assigned whose horizon passed by the period's end, and every goal:
    # an experiment runs longer than a reporting period.
    ended = await asyncio.to_thread(history.journeys, store, EARLIEST, until)
    tiers = list(live.tiers) or list(DEFAULT_TIERS)
    lifts = lift(assigned, changes, ended, min(period.end, now), horizon, tiers)
    return built.model_copy(update={"experiments": lifts})


async def _with_model_scores(client: Client, rows: list[OverrideRow]) -> list[OverrideRow]:
    """``rows`` with what the model says now (the account's search attributes) for the
    ones listed; the rest keep their place in the count."""
    listed = rows[:LISTED]
    if not listed:
        return rows
    model: dict[str, tuple[float | None, str | None]] = {}
    async for execution in client.list_workflows(
        f"{ACCOUNTS} AND {sa.ACCOUNT_ID.name} IN {_in([r.account_id for r in listed])}"
    ):
        attributes = execution.typed_search_attributes
        account = attributes.get(sa.ACCOUNT_ID)
        if account:
            model[account] = (attributes.get(sa.HEALTH_SCORE), attributes.get(sa.HEALTH_TIER))
    shown = []
    for row in listed:
        score, tier = model.get(row.account_id, (None, None))
        shown.append(row.model_copy(update={"model_score": score, "model_tier": tier}))
    return shown + rows[LISTED:]


async def catalog_of(client: Client) -> Catalog | None:
    """The published catalog, or None (nothing published, or no worker answers)."""
    try:
        found: Catalog | None = await client.get_workflow_handle(CATALOG_WORKFLOW_ID).query(
            CatalogWorkflow.current, rpc_timeout=_CATALOG_TIMEOUT
        )
    except RPCError:
        return None  # nothing published, or no worker to answer: the defaults serve
    return found


def _when(moment: datetime) -> str:
    return _quoted(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def _in(values: list[str]) -> str:
    return "(" + ", ".join(_quoted(v) for v in values) + ")"


async def gather_live(
    client: Client,
    now: datetime,
    segments: list[str],
    playbooks: list[str],
) -> Live:
    """Counts and short lists from visibility; raises :class:`VisibilityFailed` naming the
    server."""
    try:
        return await _gather(client, now, segments, playbooks)
    except RPCError as error:
        where = f"{client.service_client.config.target_host} (namespace {client.namespace})"
        raise VisibilityFailed(where, error.status.name, error.message) from None


class VisibilityFailed(OperateError):
    """Temporal refused or failed a visibility query of the dashboard.

    Its message (for the operator at the command line) quotes Temporal's answer; the API
    keeps that answer in its log, since it can quote the visibility store's SQL.
    """

    def __init__(self, where: str, status_name: str, answer: str) -> None:
        self.where = where
        self.status_name = status_name
        self.answer = answer
        super().__init__(f"Temporal at {where} failed a visibility query: {answer}")


async def _gather(client: Client, now: datetime, segments: list[str], playbooks: list[str]) -> Live:
    catalog = await catalog_of(client)
    tiers = [t.name for t in catalog.health.tiers] if catalog else list(DEFAULT_TIERS)
    known = list(catalog.health.segments) if catalog else []
    segments = known + [s for s in segments if s not in known]
    ladder: list[str] = []
    stages: dict[str, str] = {}
    for plan in catalog.plans.values() if catalog else []:
        stages[plan.name] = plan.stage
        for rung in plan.escalation.tiers if plan.escalation else []:
            if rung.id not in ladder:
                ladder.append(rung.id)
    ladder = ladder or list(DEFAULT_LADDER)
    names = sorted({*stages, *playbooks})

    async def count(query: str) -> int:
        return (await client.count_workflows(query)).count

    tier_q = {t: f"{ACCOUNTS} AND {sa.HEALTH_TIER.name} = {_quoted(t)}" for t in tiers}
    seg_q = {s: f"{ACCOUNTS} AND {sa.SEGMENT.name} = {_quoted(s)}" for s in segments}
    queries: dict[tuple[str, ...], str] = {("accounts",): ACCOUNTS}
    queries.update({("tier", t): q for t, q in tier_q.items()})
    for s, q in seg_q.items():
        queries[("segment", s, "total")] = q
        for t in tiers:
            queries[("segment", s, t)] = f"{q} AND {sa.HEALTH_TIER.name} = {_quoted(t)}"
    retain = [n for n, stage in stages.items() if stage == "retain"]
    if retain:
        queries[("interventions",)] = f"{RUNS} AND {sa.PLAYBOOK.name} IN {_in(retain)}"
    expand = [n for n, stage in stages.items() if stage == "expand"]
    if expand:
        queries[("expanding",)] = f"{RUNS} AND {sa.PLAYBOOK.name} IN {_in(expand)}"
    for tier in ladder:
        queries[("escalated", tier)] = f"{RUNS} AND {sa.ESCALATION_TIER.name} = {_quoted(tier)}"
    for name in names:
        queries[("running", name)] = f"{RUNS} AND {sa.PLAYBOOK.name} = {_quoted(name)}"
    keys = list(queries)
    counts = dict(zip(keys, await asyncio.gather(*(count(queries[k]) for k in keys)), strict=True))

    at_risk: dict[str, str] = {}
    async for execution in client.list_workflows(
        f"{ACCOUNTS} AND {sa.HEALTH_TIER.name} IN {_in(list(AT_RISK_TIERS))}"
    ):
        account = execution.typed_search_attributes.get(sa.ACCOUNT_ID)
        if account:
            at_risk[account] = execution.typed_search_attributes.get(sa.HEALTH_TIER) or ""
    intervened: set[str] = set()
    if retain and at_risk:
        # Only the at-risk accounts' retain runs: coverage asks which of them have one.
        async for execution in client.list_workflows(
            f"{RUNS} AND {sa.PLAYBOOK.name} IN {_in(retain)}"
            f" AND {sa.ACCOUNT_ID.name} IN {_in(sorted(at_risk))}"
        ):
            account = execution.typed_search_attributes.get(sa.ACCOUNT_ID)
            if account:
                intervened.add(account)
    escalations = []
    async for execution in client.list_workflows(
        f"{RUNS} AND {sa.ESCALATION_TIER.name} IN {_in(ladder)}"
    ):
        attributes = execution.typed_search_attributes
        account, level = attributes.get(sa.ACCOUNT_ID), attributes.get(sa.ESCALATION_TIER)
        if account and level:
            escalations.append(
                Escalation(
                    account_id=account, playbook=attributes.get(sa.PLAYBOOK) or "", tier=level
                )
            )
    renewing = []
    async for execution in client.list_workflows(
        f"{ACCOUNTS} AND {sa.RENEWAL_DATE.name} >= {_when(now)}"
        f" AND {sa.RENEWAL_DATE.name} < {_when(now + RENEWAL_WINDOW)}"
    ):
        attributes = execution.typed_search_attributes
        account, date = attributes.get(sa.ACCOUNT_ID), attributes.get(sa.RENEWAL_DATE)
        if account and date:
            renewing.append(
                Renewing(account_id=account, renewal_date=date, tier=attributes.get(sa.HEALTH_TIER))
            )
    segment_counts = {
        s: {k[2]: n for k, n in counts.items() if k[:2] == ("segment", s)} for s in segments
    }
    return Live(
        accounts=counts[("accounts",)],
        tiers={t: counts[("tier", t)] for t in tiers},
        segments={s: c for s, c in segment_counts.items() if c.get("total")},
        at_risk=at_risk,
        escalations=sorted(
            escalations, key=lambda e: (-ladder.index(e.tier), e.account_id, e.playbook)
        ),
        interventions=counts.get(("interventions",), 0),
        escalated={t: counts[("escalated", t)] for t in ladder},
        renewing=sorted(renewing, key=lambda r: (r.renewal_date, r.account_id)),
        running={n: counts[("running", n)] for n in names if counts[("running", n)]},
        bands=_bands(catalog) if catalog else dict(DEFAULT_BANDS),
        intervened=sorted(intervened),
        retain_playbooks=bool(retain) or catalog is None,
        expanding=counts.get(("expanding",)) if expand else None,
        components=list(catalog.health.components) if catalog else [],
    )


DEFAULT_BANDS = {"healthy": "80-100", "good": "60-79", "at-risk": "40-59", "critical": "0-39"}
"""Seed 001's bands, for the default tiers when no catalog is published."""


def _bands(catalog: Catalog) -> dict[str, str]:
    """Each tier's score range, seed 001's way (``80-100``, ``60-79``): tiers highest first,
    each from its minimum to just below the next one up."""
    bands: dict[str, str] = {}
    top: float | None = None
    for tier in catalog.health.tiers:
        if top is None:
            upper = "100"
        elif float(top).is_integer() and float(tier.min).is_integer():
            upper = f"{top - 1:g}"
        else:
            upper = f"<{top:g}"
        bands[tier.name] = f"{tier.min:g}-{upper}"
        top = tier.min
    return bands
