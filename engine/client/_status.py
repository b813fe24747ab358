"""An account's status in lines, as `playbook status` and the demo print it: health and its
components, the pause, the attributes, and each journey: where it is and until when it waits,
or when, by what and why it ended.
"""

from __future__ import annotations

from datetime import datetime

from engine.client._operate import Overview
from engine.journeys._messages import Enrollment, RunStatus


def status_lines(view: Overview) -> list[str]:
    health = view.account.health
    score = "no score yet" if health.score is None else f"{health.score:g}"
    lines = [
        f"account {view.account.account_id}: health {score}"
        + (f" ({health.tier}, {health.trend})" if health.tier else "")
    ]
    if health.components:
        parts = [f"{name} {value:g}" for name, value in sorted(health.components.items())]
        lines.append(f"  components: {', '.join(parts)}")
    override = view.account.override
    if override is not None:
        lines.append(
            f"  OVERRIDE by {override.by}: score {override.score:g} until"
            f" {override.until:%Y-%m-%d %H:%M} UTC (set {override.at:%Y-%m-%d %H:%M}):"
            f" {override.reason} (conditions use it; the score above is the model's)"
        )
    paused = view.account.paused
    if paused is not None:
        since = paused.at.strftime("%Y-%m-%d %H:%M")
        why = f": {paused.reason}" if paused.reason else ""
        lines.append(f"  PAUSED by {paused.by} since {since}{why} (playbook resume to go on)")
    for key, value in sorted(view.account.attributes.items()):
        lines.append(f"  {key}: {value}")
    for name, enrollment in sorted(view.account.enrollments.items()):
        run = view.runs.get(name)
        line = f"{name} v{enrollment.version} cycle {enrollment.cycle}: "
        lines.append(line + (_running(run) if enrollment.running else _ended(enrollment, run)))
        lines += [f"  an action is retrying: {text}" for text in view.retrying.get(name, [])]
        if run is not None:
            # A step that failed for good stays visible after the journey moved on.
            lines += [
                f"  FAILED {d.rule} at {d.at:%Y-%m-%d %H:%M}: {d.detail}"
                for d in run.why
                if d.kind == "action_failed"
            ]
    if not view.account.enrollments:
        lines.append("no journeys yet")
    return lines


def _running(run: RunStatus | None) -> str:
    """Where a running journey is: its step, what it waits for and until when, its ladder."""
    if run is None:
        return "running"
    text = f"running, at step {run.step or '-'}"
    if run.waiting:
        text += f", {run.waiting}"
    if run.paused:
        text += ", paused"
    if run.escalation_tier:
        text += f", escalation tier {run.escalation_tier}"
        if run.acknowledged_by:
            text += f" (acknowledged by {run.acknowledged_by})"
        elif run.sla_until:
            text += f" (unacknowledged, next tier {_moment(run.sla_until)})"
    return text


def _ended(enrollment: Enrollment, run: RunStatus | None) -> str:
    """How a journey ended: when, what ended it (goal, exit, end, completed, stopped, failed)
    and why, from the account's record or else from the run's own result."""
    result = run.result if run is not None else None
    ended_by = enrollment.ended_by or (result.ended_by if result else None)
    reason = enrollment.reason or (result.reason if result else None)
    text = "ended"
    if enrollment.ended_at is not None:
        text += f" {_moment(enrollment.ended_at)}"
    if ended_by:
        text += f", {ended_by}" + (f": {reason}" if reason else "")
    return text + f" ({enrollment.outcome or 'outcome unknown'})"


def _moment(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")
