"""What an operator reads in the Temporal UI: journeys in words, not activity names.

Temporal shows, beside each workflow, its static summary and details (set at start), its
current details (Markdown the workflow keeps current) and a one-line summary on each
activity and timer. Without them a run's timeline reads ``perform_action`` x4 and timers
named ``1 (14d)``. These functions write those words from the plan and the journey's state;
they are pure (no workflow calls), so tests read them without a worker.

Addresses are the worker's business (the people directory resolves roles), so a summary
names roles ("email customer, cc csm"); the activity's result then says who it reached.
Webhook summaries name the host only: a URL may carry a key in its query.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from engine.journeys._messages import ActionRequest, ApprovalSettlement, CloseRequest, Decision
from engine.language._plan import (
    ApprovalNode,
    DateAt,
    EmailNode,
    NotifyNode,
    Plan,
    TaskNode,
    TierPlan,
    WebhookNode,
)

# A summary is one line in a table cell; details are read in a panel.
_LINE = 160
_SEEN = 240


def duration(seconds: float) -> str:
    """``14d``, ``2d 4h``, ``90m``, ``45s``: how playbooks write durations."""
    seconds = max(int(seconds), 0)
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
        if len(parts) == 2:
            break
    return " ".join(parts) or "0s"


def moment(at: datetime) -> str:
    """A moment as operators read it: ``2026-12-07 14:00 UTC``."""
    return at.strftime("%Y-%m-%d %H:%M UTC")


def action(request: ActionRequest, now: datetime) -> str:
    """One line for an action activity: what goes to whom, for which step."""
    node, tier = request.node, request.tier
    if node is None and tier is not None:
        return _line(f"escalation tier {tier.id}: {_tier_action(tier, request.channel)}")
    if isinstance(node, EmailNode):
        cc = f", cc {', '.join(node.cc)}" if node.cc else ""
        what = f"email {', '.join(node.to)}{cc}: {node.template}"
        if request.outbox == "draft":
            what = f"draft for {node.review}'s review: {what}"
        elif request.outbox == "send":
            what = f"send the reviewed {what}"
    elif isinstance(node, TaskNode):
        due = moment(now + timedelta(seconds=node.due_seconds))
        what = f"task for {node.assignee}: {node.title}, due {due}"
    elif isinstance(node, ApprovalNode):
        until = moment(now + timedelta(seconds=node.timeout_seconds))
        what = f"approval asked of {node.approver}: {node.title}, open until {until}"
    elif isinstance(node, NotifyNode):
        what = f"chat to {node.channel}: {node.message}"
    elif isinstance(node, WebhookNode):
        what = f"webhook {node.method} {_host(node.url)}"
    else:
        what = request.step
    return _line(f"{what} (step {request.step})")


def _tier_action(tier: TierPlan, channel: str | None) -> str:
    notify = ", ".join(tier.notify)
    if channel == "task":
        return f"task for {notify}: {tier.title}"
    if channel == "email":
        return f"email {notify}: {tier.template or tier.title}"
    if channel == "chat":
        return f"chat to {tier.channel or notify}: {tier.title}"
    return f"{channel} to {notify}: {tier.title}"


def close(request: CloseRequest) -> str:
    """One line for closing what a run or its ladder opened."""
    return _line(f"close the {request.scope}'s open items: {request.reason}")


def settle(request: ApprovalSettlement) -> str:
    """One line for marking an approval request's task with how it ended."""
    by = f" by {request.by}" if request.by else ""
    return _line(f"approval {request.step}: {request.outcome}{by}")


def wait(node_id: str, seconds: float) -> str:
    return _line(f"wait {duration(seconds)}: {node_id}")


def wait_until(node_id: str, until: DateAt, target: datetime | None) -> str:
    sign = "+" if until.offset_seconds >= 0 else "-"
    anchor = until.anchor + (
        f" {sign} {duration(abs(until.offset_seconds))}" if until.offset_seconds else ""
    )
    when = moment(target) if target is not None else f"{until.anchor} unknown"
    return _line(f"wait until {anchor} ({when}): {node_id}")


def wait_for(node_id: str, deadline: datetime) -> str:
    return _line(f"wait_for {node_id}: recheck, gives up {moment(deadline)}")


def approval(node_id: str, what: str) -> str:
    """One line for an approval step's timers: its sla and its timeout."""
    return _line(f"approval {node_id}: {what}")


def contact(policy: str, what: str) -> str:
    """One line for a journey's wait for its account's verdict under a contact policy."""
    return _line(f"contact policy {policy}: {what}")


def ack_sla(tier: TierPlan, seconds: int | None = None) -> str:
    """The tier's SLA timer; ``seconds``: the account's segment's, when not the default."""
    sla = tier.ack_sla_seconds if seconds is None else seconds
    return _line(f"ack SLA of tier {tier.id}: {duration(sla or 0)}")


def run_summary(plan: Plan, account_id: str, cycle: int) -> str:
    """The static summary of a run: which playbook, which version, for whom."""
    return _line(f"{plan.name} v{plan.version} for {account_id} (cycle {cycle})")


def run_details(plan: Plan, rule: str, seen: dict[str, Any]) -> str:
    """The static details of a run: what the playbook is and why the account entered."""
    lines = [
        f"**{plan.name}** v{plan.version}, {plan.stage}: {plan.description}",
        f"Owner: {plan.owner}",
        f"Entered by `{rule}`" + (f", seeing {_values(seen)}" if seen else ""),
    ]
    return "\n\n".join(lines)


def run_now(
    plan: Plan,
    account_id: str,
    step: str | None,
    waiting: str | None,
    tier: str | None,
    sla_until: datetime | None,
    acknowledged_by: str | None,
    paused: bool,
    last: Decision | None,
) -> str:
    """A run's current details (Markdown): where it is, who is engaged, the last decision."""
    lines = [f"**{plan.name}** v{plan.version} for **{account_id}**"]
    where = f"Step: `{step}`" if step else "Step: none yet"
    lines.append(where + (f", {waiting}" if waiting else ""))
    if tier is None:
        lines.append("Escalation: none")
    else:
        engaged = f"Escalation: tier `{tier}` engaged"
        if acknowledged_by:
            engaged += f", acknowledged by {acknowledged_by}"
        elif sla_until is not None:
            engaged += f", ack SLA runs out {moment(sla_until)}"
        lines.append(engaged)
    if paused:
        lines.append("Paused: no action, no climb until resumed")
    if last is not None:
        lines.append(f"Last decision: {decision(last)}")
    return "\n\n".join(lines)


def account_now(
    account_id: str,
    attributes: dict[str, Any],
    health: tuple[float | None, str | None],
    journeys: Iterable[tuple[str, str]],
    paused: bool,
    last: Decision | None,
) -> str:
    """An account's current details (Markdown): who it is, its health, its journeys."""
    name = attributes.get("name")
    who = f"**{name}** ({account_id})" if name else f"**{account_id}**"
    facts = [str(attributes[k]) for k in ("segment", "owner") if attributes.get(k)]
    lines = [who + (f": {', '.join(facts)}" if facts else "")]
    score, tier = health
    lines.append(
        "Health: no reading yet" if score is None else f"Health: {score:g} ({tier or 'no tier'})"
    )
    listed = [f"`{name}` {state}" for name, state in journeys]
    lines.append("Journeys: " + (", ".join(listed) if listed else "none"))
    if paused:
        lines.append("Paused: no journey acts until resumed")
    if last is not None:
        lines.append(f"Last decision: {decision(last)}")
    return "\n\n".join(lines)


def decision(entry: Decision) -> str:
    """One decision in words: kind, rule, detail and the values the rule saw."""
    text = f"{entry.kind} `{entry.rule}`"
    if entry.detail:
        text += f": {entry.detail}"
    if entry.seen:
        text += f" (saw {_values(entry.seen)})"
    return f"{moment(entry.at)} {text}"


def _host(url: str) -> str:
    """The host of a URL, without user, password, port, path or query (urllib is I/O's
    package, kept out of workflow code by the import contracts)."""
    rest = url.split("//", 1)[-1]
    for stop in "/?#":
        rest = rest.split(stop, 1)[0]
    host = rest.rsplit("@", 1)[-1]
    host = host.split("]", 1)[0] + "]" if host.startswith("[") else host.split(":", 1)[0]
    return host or "the endpoint"


def _values(seen: dict[str, Any]) -> str:
    text = json.dumps(seen, sort_keys=True, default=str)
    return text if len(text) <= _SEEN else text[: _SEEN - 1] + "…"


def _line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _LINE else text[: _LINE - 1] + "…"
