"""What operators and CSMs read of accounts: status, why, lists; and signals to them.

Kept apart from the Typer wiring in ``playbook_cli`` so the work (ask Temporal, lay out the
answer) reads on its own; every failure a user can cause is a ``PlaybookError`` with one line
the CLI prints. Events into accounts (flags, files, API bodies) are engine.client._events.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionDescription
from temporalio.service import RPCError, RPCStatusCode

from engine.client._connect import TemporalSettings, connect
from engine.client._names import Kind, check
from engine.client._start import account_workflow_id
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._messages import Decision, DecisionRecord, RunStatus
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._errors import PlaybookError


class OperateError(PlaybookError):
    """An operator's request that cannot be done; the message says why in one line."""


class UnknownAccount(OperateError):
    """No account workflow has this id (it never received an event)."""


Target = Client | TemporalSettings
"""Where to act: a connected client (the API keeps one) or settings to connect with (the CLI)."""


async def _client(target: Target) -> Client:
    return target if isinstance(target, Client) else await connect(target)


def _where(client: Client) -> str:
    return f"{client.service_client.config.target_host} (namespace {client.namespace})"


class Overview(BaseModel):
    """An account and its journeys, as `status` and `why` show them."""

    account: AccountStatus
    runs: dict[str, RunStatus]
    retrying: dict[str, list[str]] = {}
    """Per playbook, the actions that failed for a reason that may pass and wait for their
    next try (an SMTP outage), in words: the journey is not stuck silently."""


async def account_status(client: Client, account_id: str) -> AccountStatus:
    """The account workflow's status query; one line when there is no such account."""
    workflow_id = account_workflow_id(account_id)
    try:
        account: AccountStatus = await client.get_workflow_handle(workflow_id).query(
            AccountWorkflow.status
        )
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise UnknownAccount(f"no account {account_id!r} in {_where(client)}") from None
        raise OperateError(f"{workflow_id}: {error.message}") from None
    return account


async def overview(target: Target, account_id: str) -> Overview:
    client = await _client(target)
    account = await account_status(client, account_id)
    runs, retrying = {}, {}
    for name, enrollment in account.enrollments.items():
        handle = client.get_workflow_handle(enrollment.workflow_id)
        try:
            runs[name] = await handle.query(PlaybookRunWorkflow.status)
            if enrollment.running:
                retrying[name] = _retrying(await handle.describe())
        except RPCError:
            continue  # a run past its retention: the account's record of it stands
    return Overview(account=account, runs=runs, retrying={k: v for k, v in retrying.items() if v})


def _retrying(description: WorkflowExecutionDescription) -> list[str]:
    """The run's actions that failed at least once and wait for another try, in words."""
    out = []
    for pending in description.raw_description.pending_activities:
        if pending.attempt < 2 or not pending.HasField("last_failure"):
            continue
        failure = pending.last_failure
        info = failure.application_failure_info
        kind = info.type if failure.HasField("application_failure_info") else ""
        error = f"{kind}: {failure.message}" if kind else failure.message
        line = f"failed {pending.attempt - 1} time(s), last: {error}"
        if pending.HasField("next_attempt_schedule_time"):
            at = pending.next_attempt_schedule_time.ToDatetime(tzinfo=UTC)
            line += f"; next try {at:%H:%M:%S} UTC"
        out.append(line)
    return out


async def account_why(
    target: Target, account_id: str, logged: Sequence[DecisionRecord] = ()
) -> list[Decision]:
    """The account's decisions: ``logged`` (the store's decision log) with what its live
    workflows answer. An account whose workflow is gone (deleted) still has its log; one with
    neither is unknown."""
    try:
        view: Overview | None = await overview(target, account_id)
    except UnknownAccount:
        if not logged:
            raise
        view = None
    return why_decisions(view, logged)


def why_decisions(view: Overview | None, logged: Sequence[DecisionRecord] = ()) -> list[Decision]:
    """The account's and its runs' decisions, oldest first (an enrollment once, from the
    account): the logged ones and the live ones, each once, in an order that depends on the
    decisions alone, so the trace reads the same before and after retention deletes a run."""
    made: list[tuple[str, Decision]] = [(r.workflow_id, r.decision) for r in logged]
    accounts = {account_workflow_id(r.account_id) for r in logged}
    if view is not None:
        account = account_workflow_id(view.account.account_id)
        accounts.add(account)
        made += [(account, d) for d in view.account.why]
        for name, run in view.runs.items():
            made += [(view.account.enrollments[name].workflow_id, d) for d in run.why]
    seen: set[tuple[str, int, datetime]] = set()
    kept: list[tuple[tuple[datetime, bool, str, int], Decision]] = []
    for index, (workflow_id, d) in enumerate(made):
        if d.kind == "enrolled" and workflow_id not in accounts:
            continue  # the run's own record of its start: the account's says why
        if d.seq is not None:  # None: a workflow from before the log, never logged
            if (workflow_id, d.seq, d.at) in seen:
                continue
            seen.add((workflow_id, d.seq, d.at))
        order = d.seq if d.seq is not None else index
        kept.append(((d.at, workflow_id not in accounts, workflow_id, order), d))
    kept.sort(key=lambda pair: pair[0])
    return [d for _, d in kept]


def why_lines(decisions: list[Decision]) -> list[str]:
    lines = []
    for d in decisions:
        seen = json.dumps(d.seen, sort_keys=True, default=str) if d.seen else ""
        lines.append(
            "  ".join(
                part
                for part in (
                    d.at.strftime("%Y-%m-%d %H:%M:%S"),
                    f"{d.playbook} v{d.version}" if d.playbook else "account",
                    d.kind,
                    d.rule,
                    d.detail,
                    seen,
                )
                if part
            )
        )
    return lines or ["no decisions recorded yet"]


class Listed(BaseModel):
    """One account as visibility shows it (search attributes, no query of the workflow)."""

    account_id: str
    score: float | None = None
    tier: str | None = None
    trend: str | None = None
    segment: str | None = None
    owner: str | None = None


def _quoted(value: str) -> str:
    """A visibility-query string literal: a quote or backslash in a value cannot end it."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def list_accounts(
    target: Target,
    *,
    tier: str | None = None,
    segment: str | None = None,
    owner: str | None = None,
    playbook: str | None = None,
    escalation: str | None = None,
) -> list[Listed]:
    """Accounts matching the filters, from Temporal's visibility store: no workflow is
    queried, so this stays cheap with many accounts."""
    from engine.journeys import _search as sa

    client = await _client(target)
    only: set[str] | None = None
    if playbook or escalation:
        runs = ["WorkflowType = 'PlaybookRun'", "ExecutionStatus = 'Running'"]
        if playbook:
            runs.append(f"{sa.PLAYBOOK.name} = {_quoted(playbook)}")
        if escalation:
            runs.append(f"{sa.ESCALATION_TIER.name} = {_quoted(escalation)}")
        only = set()
        async for execution in client.list_workflows(" AND ".join(runs)):
            account = execution.typed_search_attributes.get(sa.ACCOUNT_ID)
            if account:
                only.add(account)
    where = ["WorkflowType = 'Account'", "ExecutionStatus = 'Running'"]
    for key, value in ((sa.HEALTH_TIER, tier), (sa.SEGMENT, segment), (sa.OWNER, owner)):
        if value:
            where.append(f"{key.name} = {_quoted(value)}")
    found = []
    async for execution in client.list_workflows(" AND ".join(where)):
        attributes = execution.typed_search_attributes
        account = attributes.get(sa.ACCOUNT_ID)
        if not account or (only is not None and account not in only):
            continue
        found.append(
            Listed(
                account_id=account,
                score=attributes.get(sa.HEALTH_SCORE),
                tier=attributes.get(sa.HEALTH_TIER),
                trend=attributes.get(sa.HEALTH_TREND),
                segment=attributes.get(sa.SEGMENT),
                owner=attributes.get(sa.OWNER),
            )
        )
    if not found:
        # Nothing matched: a name the catalog does not have is a mistake, not an answer. Only
        # then, so accounts that carry a name the catalog lacks (a retired playbook, a segment
        # the health model does not weigh) are still found.
        given: dict[Kind, str | None] = {
            "tier": tier,
            "segment": segment,
            "playbook": playbook,
            "escalation tier": escalation,
        }
        await check(client, given)
    return sorted(found, key=lambda a: a.account_id)


async def signal_account(target: Target, account_id: str, signal: str, message: BaseModel) -> None:
    """Signal a running account; one line when it does not exist."""
    client = await _client(target)
    workflow_id = account_workflow_id(account_id)
    try:
        await client.get_workflow_handle(workflow_id).signal(signal, message)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise UnknownAccount(f"no account {account_id!r} in {_where(client)}") from None
        raise OperateError(f"{workflow_id}: {error.message}") from None
