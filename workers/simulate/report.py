"""What a simulation shows: the timeline of one account, and the diff between two versions.

The timeline merges three records of the same run, in the simulated clock: the account's
decisions (enrolled, skipped, with the values its entry rule saw), each journey's decisions
(branches, waits, escalations, acknowledgements, de-escalations, goals and exits, with their
values) and the recorded actions (the rendered subject or task title and the recipients).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections import Counter
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from workers.simulate.recorder import RecordedAction
from workers.simulate.runner import Result

_TIME_OF_DAY = re.compile(r"T\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00|Z)?")


class Entry(BaseModel):
    """One line of the timeline."""

    day: int
    at: datetime
    """When, in the calendar of the input files."""
    account: str
    playbook: str
    version: int | None = None
    kind: str
    """enrolled, skipped, action, action_failed, escalated, sla_missed, acknowledged,
    de-escalated, branch, wait_met, wait_timeout, goal, exit, end, closed, ..."""
    step: str
    detail: str = ""
    action: str | None = None
    """email, task, chat or webhook, for actions."""
    to: list[str] = []
    subject: str | None = None
    """The rendered email subject, the task title, the chat text or the webhook call."""
    seen: dict[str, Any] = {}


def timeline(result: Result) -> list[Entry]:
    """Every decision and action of the simulation, oldest first."""
    found: list[tuple[datetime, int, Entry]] = []

    def add(at: datetime, entry: dict[str, Any]) -> None:
        day = math.floor(result.day_of(at) + 1e-9)
        found.append((at, len(found), Entry(day=day, at=at, **entry)))

    for account in result.accounts.values():
        for d in account.why:
            add(
                d.at,
                {
                    "account": account.account_id,
                    "playbook": d.playbook,
                    "version": d.version or None,
                    "kind": d.kind,
                    "step": d.rule.removeprefix(f"{d.playbook}."),
                    "detail": d.detail,
                    "seen": d.seen,
                },
            )
    # A failed action is in two records: the action's (with its channel and recipients) and
    # the run's decision. The timeline shows it once, from the action's record, under the
    # rule the run's decision names.
    failed = Counter((a.workflow_id, _rule(a)) for a in result.actions if a.error is not None)
    # Likewise an action: shown from its record, unless it has none (a start_playbook step
    # asks the account by signal, with no activity to record it).
    done = Counter((a.workflow_id, _rule(a)) for a in result.actions if a.error is None)
    for workflow_id, run in result.runs.items():
        for d in run.why:
            if d.kind == "action" and done[workflow_id, d.rule] > 0:
                done[workflow_id, d.rule] -= 1
                continue
            if d.kind == "enrolled":
                continue
            if d.kind == "action_failed" and failed[workflow_id, d.rule] > 0:
                failed[workflow_id, d.rule] -= 1
                continue
            add(
                d.at,
                {
                    "account": run.account_id,
                    "playbook": d.playbook,
                    "version": d.version,
                    "kind": d.kind,
                    "step": d.rule,
                    "detail": d.detail,
                    "seen": d.seen,
                },
            )
    for a in result.actions:
        add(
            a.at,
            {
                "account": a.account_id,
                "playbook": a.playbook,
                "version": a.version,
                "kind": "action" if a.error is None else "action_failed",
                "step": a.step if a.error is None else _rule(a),
                "detail": a.error or "",
                "action": a.kind,
                "to": a.recipients + [f"cc {c}" for c in a.cc],
                "subject": a.summary or None,
            },
        )
    for c in result.closed:
        _, playbook, account_id, *_ = c.workflow_id.split("/")
        add(
            c.at,
            {
                "account": account_id,
                "playbook": playbook,
                "kind": "closed",
                "step": c.scope,
                "detail": f"open items closed: {c.reason}",
            },
        )
    found.sort(key=lambda item: (item[0], item[1]))
    return [entry for _, _, entry in found]


def _rule(action: RecordedAction) -> str:
    """The rule the run's decisions name an action by: ``steps.ID``, or
    ``escalation.tiers.TIER.CHANNEL`` for a channel of an escalation tier."""
    if action.tier is not None:
        return f"escalation.tiers.{action.tier}.{action.kind}"
    return f"steps.{action.step}"


def line(entry: Entry, *, with_account: bool = False, with_seen: bool = True) -> str:
    """One entry as one plain line: day, playbook, kind, step, then what happened."""
    what = entry.subject or entry.detail
    if entry.action:
        what = f"{entry.action} to {', '.join(entry.to) or '-'}: {entry.subject or ''}"
        if entry.kind == "action_failed":
            what += f" FAILED: {entry.detail}"
    parts = [f"day {entry.day:>3}", entry.at.date().isoformat()]
    if with_account:
        parts.append(entry.account)
    parts += [entry.playbook, entry.kind, entry.step, what]
    if with_seen and entry.seen:
        parts.append("saw " + json.dumps(entry.seen, sort_keys=True, default=str))
    return "  ".join(p for p in parts if p)


def comparable(entries: list[Entry]) -> list[str]:
    """The timeline as lines that differ only when the journey does.

    Versions, hashes and times of day are left out, and each day's entries are in text order:
    a whitespace-only edit or a version bump alone changes nothing a customer or a CSM would
    notice.
    """
    # Within a day, entries from the account and from its journeys interleave by milliseconds
    # that differ from run to run; sorted by text, a day reads the same whenever it ran.
    return [
        text
        for _, text in sorted(
            (e.day, _TIME_OF_DAY.sub("", line(_versionless(e), with_account=True))) for e in entries
        )
    ]


def _versionless(entry: Entry) -> Entry:
    """The entry with its playbook version out of the detail (``... v3`` of an enrollment)."""
    if not entry.version:
        return entry
    detail = re.sub(rf"(?<!\S)v{entry.version}(?!\S)", "v*", entry.detail)
    return entry.model_copy(update={"detail": detail, "version": None})


def diff(old: list[Entry], new: list[Entry]) -> list[str]:
    """Where two timelines differ: lines only in OLD (``-``) and only in NEW (``+``)."""
    a, b = comparable(old), comparable(new)
    out: list[str] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        out += [f"- {text}" for text in a[i1:i2]]
        out += [f"+ {text}" for text in b[j1:j2]]
    return out
