"""One account on one page, like the account 360 views CS teams know: health and its history,
attributes, every journey, tasks open and done, the decision log as a timeline, and links to
the account's and its runs' pages in the Temporal UI.

The data is what `playbook status`, `why` and `tasks` read, gathered the same way
(``engine.client._operate.overview`` and ``why_decisions``, ``workers.history.decisions``,
``Store.list_tasks``), so the page and the command line cannot disagree. Rendered on the
server with inline SVG, like the dashboard: no JavaScript, nothing fetched from elsewhere.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError

from engine.client._operate import Overview, overview, why_decisions
from engine.client._start import account_workflow_id
from engine.journeys._messages import Decision, DecisionRecord
from engine.language._by_segment import for_segment
from engine.language._facts import Sample
from engine.language._plan import HealthModelPlan
from workers.api._page_style import STYLE, header, template
from workers.outbox import Draft
from workers.store import Task


class Journey(BaseModel):
    """One row of the journeys table, in words."""

    playbook: str
    version: int
    cycle: int
    running: bool
    step: str
    escalation: str
    engaged: str
    """Who is engaged: who acknowledged, or the tier's SLA end while nobody has."""
    ended: str
    ui: str | None


class AccountPage(BaseModel):
    view: Overview
    decisions: list[Decision]
    tasks: list[Task] | None
    """None when there is no store here (no worker has written one)."""
    drafts: list[Draft] | None = None
    """Its emails waiting for review, and those reviewed; None without a store."""
    account_ui: str | None
    journeys: list[Journey]
    tiers: list[tuple[str, float]]
    """The health model's tiers (name, minimum) for the account's segment, highest first:
    lines on the chart, and the tier an override's score falls in."""


def ui_link(base: str, namespace: str, workflow_id: str, run_id: str | None) -> str:
    """The Temporal UI's page of a workflow run (its latest run without ``run_id``)."""
    path = f"{base}/namespaces/{quote(namespace, safe='')}/workflows/{quote(workflow_id, safe='')}"
    return f"{path}/{quote(run_id, safe='')}/history" if run_id else path


async def _run_id(client: Client, workflow_id: str) -> str | None:
    try:
        return (await client.get_workflow_handle(workflow_id).describe()).run_id
    except RPCError:
        return None  # gone past retention: the link goes to whatever the UI still has


async def gather(
    client: Client,
    account: str,
    logged: list[DecisionRecord],
    tasks: list[Task] | None,
    ui: str,
    drafts: list[Draft] | None = None,
) -> AccountPage:
    """Everything the page shows; raises ``UnknownAccount`` for an account with no workflow."""
    from workers.dashboard_sources import catalog_of

    view = await overview(client, account)
    ns = client.namespace
    account_id = account_workflow_id(account)
    journeys = []
    for name, enrollment in sorted(view.account.enrollments.items()):
        run = view.runs.get(name)
        run_id = await _run_id(client, enrollment.workflow_id)
        if enrollment.running:
            step = (run.step or "-") if run else "running"
            if run and run.waiting:
                step += f", {run.waiting}"
            ended = "running" + (", paused" if run and run.paused else "")
        else:
            result = run.result if run else None
            ended_by = enrollment.ended_by or (result.ended_by if result else None)
            reason = enrollment.reason or (result.reason if result else None)
            step = (result.step or "-") if result else "-"
            ended = _moment(enrollment.ended_at) if enrollment.ended_at else "ended"
            if ended_by:
                ended += f", {ended_by}" + (f": {reason}" if reason else "")
            ended += f" ({enrollment.outcome or 'outcome unknown'})"
        engaged = ""
        if run and run.escalation_tier:
            if run.acknowledged_by:
                engaged = f"acknowledged by {run.acknowledged_by}"
            elif run.sla_until:
                engaged = f"unacknowledged; SLA ends {_moment(run.sla_until)}"
        journeys.append(
            Journey(
                playbook=name,
                version=enrollment.version,
                cycle=enrollment.cycle,
                running=enrollment.running,
                step=step,
                escalation=(run.escalation_tier or "-") if run else "-",
                engaged=engaged or "-",
                ended=ended,
                ui=ui_link(ui, ns, enrollment.workflow_id, run_id),
            )
        )
    published = await catalog_of(client)
    return AccountPage(
        view=view,
        decisions=why_decisions(view, logged),
        tasks=tasks,
        drafts=drafts,
        account_ui=ui_link(ui, ns, account_id, await _run_id(client, account_id)),
        journeys=journeys,
        tiers=_tiers(published.health, view.account.attributes.get("segment")) if published else [],
    )


def _tiers(model: HealthModelPlan, segment: object) -> list[tuple[str, float]]:
    """The tiers the account is scored by: its segment's, when the model has its own."""
    bands = for_segment(model.tiers, model.tiers_by_segment, segment)
    return [(t.name, t.min) for t in bands]


def _moment(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def history_chart(samples: list[Sample], tiers: list[tuple[str, float]]) -> str:
    """The score's readings over time as an SVG line, the tiers' minimums as dashed lines."""
    width, height, left, bottom = 560, 180, 34, 20
    plot_w, plot_h = width - left - 8, height - bottom - 8
    if not samples:
        return '<p class="none">no readings yet</p>'
    first, last = samples[0].at, samples[-1].at
    span = max(last - first, 1)

    def xy(sample: Sample) -> tuple[float, float]:
        x = left + (sample.at - first) / span * plot_w if len(samples) > 1 else left + plot_w / 2
        return x, 8 + plot_h * (1 - max(0.0, min(sample.value, 100.0)) / 100)

    parts = [
        # Scales to its box (the page's sections are narrower than the chart on a laptop).
        f'<svg role="img" aria-label="health score history" viewBox="0 0 {width} {height}"'
        f' width="100%" style="max-width: {width}px" xmlns="http://www.w3.org/2000/svg">',
        f'<rect x="{left}" y="8" width="{plot_w}" height="{plot_h}" fill="#f8fafc"'
        ' stroke="#dde1e6"/>',
    ]
    for name, minimum in tiers:
        if 0 < minimum < 100:
            y = 8 + plot_h * (1 - minimum / 100)
            parts.append(
                f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"'
                ' stroke="#94a3b8" stroke-dasharray="4 3"/>'
                f'<text x="{left + plot_w - 4}" y="{y - 3:.1f}" font-size="10"'
                f' text-anchor="end" fill="#64748b">{_svg_text(name)} {minimum:g}</text>'
            )
    for value in (0, 50, 100):
        y = 8 + plot_h * (1 - value / 100)
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{value}</text>'
        )
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(xy, samples))
    parts.append(f'<polyline points="{points}" fill="none" stroke="#2563eb" stroke-width="2"/>')
    for sample in samples[-60:]:  # dots for the recent readings; the line carries the rest
        x, y = xy(sample)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#2563eb"/>')
    day = datetime.fromtimestamp
    parts.append(
        f'<text x="{left}" y="{height - 4}" font-size="10">{day(first, UTC):%Y-%m-%d}</text>'
        f'<text x="{left + plot_w}" y="{height - 4}" font-size="10" text-anchor="end">'
        f"{day(last, UTC):%Y-%m-%d %H:%M}</text></svg>"
    )
    return "".join(parts)


def components_chart(components: dict[str, float]) -> str:
    """Each component's 0-100 reading as a bar."""
    row, label, width = 20, 120, 420
    parts = [
        f'<svg role="img" aria-label="health components" width="{width}"'
        f' height="{row * len(components) + 4}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for index, (name, value) in enumerate(sorted(components.items())):
        y = index * row + 2
        length = (width - label - 50) * max(0.0, min(value, 100.0)) / 100
        parts.append(
            f'<text x="0" y="{y + 13}" font-size="12">{_svg_text(name)}</text>'
            f'<rect x="{label}" y="{y}" width="{length:.1f}" height="14" fill="#64748b"/>'
            f'<text x="{label + length + 4:.1f}" y="{y + 12}" font-size="12">{value:g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _svg_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_TEMPLATE = template("account.html")


def _finished(task: Task) -> str:
    if task.decision is not None and task.completed_at:
        note = f": {task.decision_note}" if task.decision_note else ""
        return f"{task.decision} by {task.completed_by} {_moment(task.completed_at)}{note}"
    if task.completed_at:
        return f"done by {task.completed_by} {_moment(task.completed_at)}"
    if task.closed_at:
        return f"closed {_moment(task.closed_at)}: {task.closed_reason or ''}".rstrip(": ")
    if task.acknowledged_at:
        return f"acknowledged by {task.acknowledged_by} {_moment(task.acknowledged_at)}"
    return "-"


def _reviewed(draft: Draft) -> str:
    edited = f"edited by {draft.edited_by}; " if draft.edited_by else ""
    if draft.status == "sent" and draft.sent_at:
        return f"{edited}sent {_moment(draft.sent_at)}"
    if draft.status == "discarded" and draft.answered_at:
        return f"discarded by {draft.answered_by} {_moment(draft.answered_at)}"
    if draft.status == "closed":
        return "not reviewed in time"
    due = f"review by {_moment(draft.due_at)}" if draft.due_at else "waiting"
    return f"{edited}{due}"


def render(page: AccountPage, csrf: str | None) -> str:
    account = page.view.account
    tasks = page.tasks or []
    return _TEMPLATE.render(
        a=account,
        p=page,
        style=STYLE,
        top=header(csrf, account.account_id),
        attributes=[
            (k, v if isinstance(v, str) else json.dumps(v, default=str))
            for k, v in sorted(account.attributes.items())
        ],
        components=components_chart(account.health.components),
        history=history_chart(account.score_history, page.tiers),
        open_tasks=[t for t in tasks if t.status in ("open", "acknowledged")],
        done_tasks=[t for t in tasks if t.status in ("done", "closed")],
        when=_moment,
        finished=_finished,
        drafts=page.drafts,
        reviewed=_reviewed,
        seen=lambda seen: json.dumps(seen, sort_keys=True, default=str),
        override_tier=_tier_of(account.override.score, page.tiers) if account.override else None,
    )


def _tier_of(score: float, tiers: list[tuple[str, float]]) -> str | None:
    """The tier ``score`` falls in (the first, highest first, whose minimum it reaches)."""
    return next((name for name, minimum in tiers if score >= minimum), None)
