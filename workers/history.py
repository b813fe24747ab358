"""Account history the dashboard needs and Temporal does not keep: ARR, segment and health
tier changes, lifecycle events, how each journey ended, and every decision (the "why" log).

Temporal's visibility store answers "how are things now" (counts by tier, escalations), but a
closed workflow's history is deleted after the namespace's retention, and an account's
earlier ARR is not in any search attribute. Retention (GRR, NRR, churn), the health trend
and playbook effectiveness need that past, so the workflows write it here through the
``record_history`` activity: durable (an activity Temporal retries) and once (a unique key
per change, the run's workflow id per journey), in the same database as the task store.
The decision log is what ``playbook why`` reads, so an account's trace and the dashboard's
enrollment counts stay the same after retention deletes the closed runs that made them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from engine.dashboard._lift import Assignment
from engine.dashboard._overrides import RULE as OVERRIDE_RULE
from engine.dashboard._overrides import OverrideDecision
from engine.journeys._messages import (
    Decision,
    DecisionRecord,
    HistoryChange,
    HistoryRequest,
    JourneyRecord,
)
from workers.store import Store


def record(
    store: Store,
    request: HistoryRequest,
    new: list[DecisionRecord | JourneyRecord] | None = None,
) -> int:
    """Write what ``request`` carries; a change or journey already recorded is kept as it was.
    Returns how many rows were new; ``new`` receives the decisions and the journey that were
    (the metrics count them: a retried request counts once)."""
    added = 0
    fresh: list[DecisionRecord | JourneyRecord] = []
    with store.transaction(write=True) as tx:
        for change in request.changes:
            added += tx.count(
                "INSERT INTO account_changes"
                " (idempotency_key, account_id, at, kind, old_value, new_value)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
                (change.key, change.account_id, change.at, change.kind, change.old, change.new),
            )
        journey = request.journey
        if journey is not None:
            inserted = tx.count(
                "INSERT INTO journey_outcomes (workflow_id, account_id, playbook, version, stage,"
                " cycle, enrolled_at, ended_at, outcome, ended_by, highest_tier, ack_seconds)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (workflow_id) DO NOTHING",
                (
                    journey.workflow_id,
                    journey.account_id,
                    journey.playbook,
                    journey.version,
                    journey.stage,
                    journey.cycle,
                    journey.enrolled_at,
                    journey.ended_at,
                    journey.outcome,
                    journey.ended_by,
                    journey.highest_tier,
                    json.dumps(journey.ack_seconds, sort_keys=True),
                ),
            )
            added += inserted
            if inserted:
                fresh.append(journey)
        for record_ in request.decisions:
            d = record_.decision
            inserted = tx.count(
                "INSERT INTO decisions (idempotency_key, account_id, workflow_id, seq, at, kind,"
                " rule, playbook, version, hash, seen, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (idempotency_key) DO NOTHING",
                (
                    record_.key,
                    record_.account_id,
                    record_.workflow_id,
                    d.seq,
                    d.at,
                    d.kind,
                    d.rule,
                    d.playbook,
                    d.version,
                    d.hash,
                    json.dumps(d.seen, sort_keys=True, default=str),
                    d.detail,
                ),
            )
            added += inserted
            if inserted:
                fresh.append(record_)
    # Only once the transaction committed: a rolled-back write counts nothing.
    if new is not None:
        new.extend(fresh)
    return added


def decisions(store: Store, account_id: str) -> list[DecisionRecord]:
    """Every decision about ``account_id`` (its own and its runs'), in the order recorded."""
    with store.transaction() as tx:
        rows = tx.run("SELECT * FROM decisions WHERE account_id = ? ORDER BY at, id", (account_id,))
    return [
        DecisionRecord(
            key=row["idempotency_key"],
            account_id=row["account_id"],
            workflow_id=row["workflow_id"],
            decision=Decision(
                at=_utc(row["at"]),
                kind=row["kind"],
                rule=row["rule"],
                playbook=row["playbook"],
                version=row["version"],
                hash=row["hash"],
                seen=json.loads(row["seen"]),
                detail=row["detail"],
                seq=row["seq"],
            ),
        )
        for row in rows
    ]


def latest_overrides(store: Store) -> list[OverrideDecision]:
    """Each account's latest health override decision (set, cleared or expired): the
    dashboard lists those still in force (engine.dashboard._overrides.in_force)."""
    with store.transaction() as tx:
        rows = tx.run(
            "SELECT account_id, kind, at, seen, detail FROM decisions WHERE rule = ?"
            " ORDER BY at, id",
            (OVERRIDE_RULE,),
        )
    latest = {
        row["account_id"]: OverrideDecision(
            account_id=row["account_id"],
            kind=row["kind"],
            at=_utc(row["at"]),
            seen=json.loads(row["seen"]),
            detail=row["detail"],
        )
        for row in rows
    }
    return list(latest.values())


def enrollments(store: Store, since: datetime, until: datetime) -> dict[str, int]:
    """Per playbook, the runs that began in ``[since, until)``: each run's own ``enrolled``
    decision (the account records one too, under its own workflow id; not counted twice)."""
    with store.transaction() as tx:
        rows = tx.run(
            "SELECT playbook, COUNT(DISTINCT workflow_id) AS runs FROM decisions"
            " WHERE kind = 'enrolled' AND at >= ? AND at < ?"
            " AND workflow_id <> ('account/' || account_id)"
            " GROUP BY playbook ORDER BY playbook",
            (since, until),
        )
    return {row["playbook"]: int(row["runs"]) for row in rows}


def contact_holds(store: Store, since: datetime, until: datetime) -> dict[str, tuple[int, int]]:
    """Per playbook, its customer emails deferred and dropped under the contact policy in
    ``[since, until)`` (each journey's own ``contact_deferred`` / ``contact_dropped``)."""
    with store.transaction() as tx:
        rows = tx.run(
            "SELECT playbook, kind, COUNT(*) AS n FROM decisions"
            " WHERE kind IN ('contact_deferred', 'contact_dropped') AND at >= ? AND at < ?"
            " GROUP BY playbook, kind ORDER BY playbook",
            (since, until),
        )
    held: dict[str, tuple[int, int]] = {}
    for row in rows:
        deferred, dropped = held.get(row["playbook"], (0, 0))
        n = int(row["n"])
        held[row["playbook"]] = (
            (deferred + n, dropped)
            if row["kind"] == "contact_deferred"
            else (deferred, dropped + n)
        )
    return held


def assignments(store: Store) -> list[Assignment]:
    """Every run's arm in its playbook's experiment: the run's ``experiment`` decision (rule
    ``experiment.NAME``), made when it enrolled, oldest first."""
    with store.transaction() as tx:
        rows = tx.run(
            "SELECT account_id, playbook, at, seen FROM decisions"
            " WHERE kind = 'experiment' AND substr(rule, 1, 11) = 'experiment.'"
            " ORDER BY at, id"
        )
    out = []
    for row in rows:
        seen = json.loads(row["seen"])
        out.append(
            Assignment(
                account_id=row["account_id"],
                playbook=row["playbook"],
                experiment=str(seen.get("experiment")),
                arm=str(seen.get("arm")),
                enrolled_at=_utc(row["at"]),
            )
        )
    return out


def changes(store: Store, until: datetime) -> list[HistoryChange]:
    """Every change before ``until``, oldest first (ties in the order they were recorded)."""
    with store.transaction() as tx:
        rows = tx.run(
            "SELECT idempotency_key, account_id, at, kind, old_value, new_value"
            " FROM account_changes WHERE at < ? ORDER BY at, id",
            (until,),
        )
    return [
        HistoryChange(
            key=row["idempotency_key"],
            account_id=row["account_id"],
            at=_utc(row["at"]),
            kind=row["kind"],
            old=row["old_value"],
            new=row["new_value"],
        )
        for row in rows
    ]


def journeys(store: Store, since: datetime, until: datetime) -> list[JourneyRecord]:
    """The journeys that ended in ``[since, until)``, in the order they ended."""
    with store.transaction() as tx:
        rows = tx.run(
            "SELECT * FROM journey_outcomes WHERE ended_at >= ? AND ended_at < ?"
            " ORDER BY ended_at, workflow_id",
            (since, until),
        )
    return [_journey(row) for row in rows]


def _journey(row: dict[str, Any]) -> JourneyRecord:
    values = dict(row)
    values["ack_seconds"] = json.loads(values["ack_seconds"])
    values["enrolled_at"] = _utc(values["enrolled_at"])
    values["ended_at"] = _utc(values["ended_at"])
    return JourneyRecord.model_validate(values)


def _utc(value: datetime | str) -> datetime:
    # SQLite keeps ISO text, PostgreSQL answers in the session's time zone: both become UTC.
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC)
