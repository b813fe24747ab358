"""`playbook status` lines from the workflows' answers: components, waits, ladders, endings."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.client._operate import Overview
from engine.client._status import status_lines
from engine.journeys._account_state import AccountStatus
from engine.journeys._messages import Enrollment, RunResult, RunStatus
from engine.language._facts import Health

AT = datetime(2026, 5, 2, 10, 14, tzinfo=UTC)


def _view(enrollment: Enrollment, run: RunStatus | None = None) -> Overview:
    account = AccountStatus(
        account_id="acme",
        health=Health(score=30, tier="critical", trend="declining", components={"usage": 20}),
        attributes={},
        enrollments={"watch": enrollment},
        why=[],
    )
    return Overview(account=account, runs={"watch": run} if run else {})


def _enrollment(**fields: object) -> Enrollment:
    base: dict[str, object] = {
        "cycle": 1,
        "running": True,
        "version": 2,
        "workflow_id": "playbook/watch/acme/1",
        "started_at": AT,
    }
    return Enrollment.model_validate({**base, **fields})


def _run(**fields: object) -> RunStatus:
    base: dict[str, object] = {
        "account_id": "acme",
        "playbook": "watch",
        "version": 2,
        "hash": "h",
        "step": "hold",
        "escalation_tier": None,
        "acknowledged_by": None,
        "result": None,
        "why": [],
    }
    return RunStatus.model_validate({**base, **fields})


def test_components_follow_the_score() -> None:
    """The health components, by name, come right under the score line."""
    lines = status_lines(_view(_enrollment()))
    assert lines[:2] == ["account acme: health 30 (critical, declining)", "  components: usage 20"]


def test_a_running_journey_says_what_it_waits_for_and_when_the_next_tier_comes() -> None:
    """Step, the wait in words with its end, pause, and an unacknowledged tier's SLA end."""
    run = _run(
        waiting="waiting 60d, until 2026-07-01 10:14 UTC",
        paused=True,
        escalation_tier="csm",
        sla_until=AT,
    )
    assert status_lines(_view(_enrollment(), run))[-1] == (
        "watch v2 cycle 1: running, at step hold, waiting 60d, until 2026-07-01 10:14 UTC,"
        " paused, escalation tier csm (unacknowledged, next tier 2026-05-02 10:14 UTC)"
    )
    acked = run.model_copy(update={"acknowledged_by": "maria", "waiting": None, "paused": False})
    assert status_lines(_view(_enrollment(), acked))[-1] == (
        "watch v2 cycle 1: running, at step hold, escalation tier csm (acknowledged by maria)"
    )


def test_an_ended_journey_says_when_by_what_and_why() -> None:
    """The account's record of the ending: time, what ended it, the reason, the outcome."""
    ended = _enrollment(
        running=False, ended_at=AT, outcome="success", ended_by="goal", reason="renewal.signed"
    )
    assert status_lines(_view(ended))[-1] == (
        "watch v2 cycle 1: ended 2026-05-02 10:14 UTC, goal: renewal.signed (success)"
    )


def test_an_ending_recorded_before_ended_by_was_kept_is_read_from_the_run() -> None:
    """An enrollment that ended before the account kept what ended it takes that from the
    run's own result while the run is still queryable; with neither, the outcome alone."""
    old = _enrollment(running=False, ended_at=AT, outcome="neutral")
    result = RunResult(outcome="neutral", ended_by="completed", reason="all steps done")
    assert status_lines(_view(old, _run(result=result)))[-1] == (
        "watch v2 cycle 1: ended 2026-05-02 10:14 UTC, completed: all steps done (neutral)"
    )
    assert status_lines(_view(old))[-1] == "watch v2 cycle 1: ended 2026-05-02 10:14 UTC (neutral)"
