"""PlaybookRun on the real time-skipping server: steps at their days, once each, in order."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine import PlaybookSet, load
from engine.journeys._clock import memo_for
from engine.journeys._messages import (
    Acknowledgement,
    LifecycleEvent,
    RunInput,
    RunResult,
    RunStatus,
)
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._facts import Facts, Health
from tests.support import Recorder

PLAYBOOKS = Path(__file__).parents[3] / "playbooks"
FIXTURES = Path(__file__).parents[2] / "fixtures"


@pytest.fixture(scope="module")
def shipped() -> PlaybookSet:
    return load([PLAYBOOKS])


async def test_onboarding_steps_run_at_their_days(
    skipping_env: WorkflowEnvironment, shipped: PlaybookSet
) -> None:
    """Day 1/3/7/14/30 actions of the shipped onboarding run on those days, in order, once
    (enrolled on Monday 2027-03-01 10:00 UTC: every customer email falls in the company
    calendar's send window, so none waits)."""
    recorder = Recorder()
    queue = f"q-{uuid.uuid4()}"
    enrolled = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
    offset = timedelta(
        seconds=math.ceil((enrolled - await skipping_env.get_current_time()).total_seconds())
    )
    facts = Facts(
        now=enrolled,
        health=Health(score=72, tier="good", trend="stable"),
        account={"segment": "mid-market", "name": "Acme"},
    )
    run_input = RunInput(
        plan=shipped.plan("onboarding"),
        account_id="acme",
        cycle=1,
        enrolled_at=enrolled,
        facts=facts,
    )
    async with Worker(
        skipping_env.client,
        task_queue=queue,
        workflows=[PlaybookRunWorkflow],
        activities=recorder.activities(),
    ):
        result = await skipping_env.client.execute_workflow(
            PlaybookRunWorkflow.run,
            run_input,
            id="playbook/onboarding/acme/1",
            task_queue=queue,
            memo=memo_for(offset),
            result_type=RunResult,
        )
    days = [
        ((at + offset - enrolled) / timedelta(days=1), step) for at, _, step, _ in recorder.actions
    ]
    assert [(round(day, 3), step) for day, step in days] == [
        (1, "welcome"),
        (1, "grant-access"),
        (3, "kickoff-call"),
        (3, "initial-training"),
        (7, "check-in-email"),
        (7, "check-in"),
        (14, "offer-working-session"),
        (14, "remove-blockers"),
        (30, "review-invite"),
        (30, "onboarding-review"),
    ]
    keys = [key for *_, key in recorder.actions]
    assert len(keys) == len(set(keys))
    assert result.outcome == "success" and result.ended_by == "end"
    # A natural end closes nothing: the tasks the steps handed to people stay theirs.
    assert recorder.closed == []


LADDER = Path(__file__).parents[2] / "fixtures" / "ladder"


async def test_ladder_climbs_stops_on_ack_and_stands_down_on_recovery(
    skipping_env: WorkflowEnvironment,
) -> None:
    """csm engaged; no ack in 2d -> manager; ack stops the climb; recovery de-escalates."""
    recorder = Recorder()
    queue = f"q-{uuid.uuid4()}"
    start = await skipping_env.get_current_time()
    at_risk = Facts(now=start, health=Health(score=45, tier="at-risk"), account={})
    run_input = RunInput(
        plan=load([LADDER]).plan("rescue"),
        account_id="globex",
        cycle=1,
        enrolled_at=start,
        facts=at_risk,
    )
    client = skipping_env.client
    async with Worker(
        client,
        task_queue=queue,
        workflows=[PlaybookRunWorkflow],
        activities=recorder.activities(),
    ):
        handle = await client.start_workflow(
            PlaybookRunWorkflow.run,
            run_input,
            id=f"playbook/rescue/globex/{queue}",
            task_queue=queue,
        )
        await skipping_env.sleep(timedelta(days=2, hours=1))
        assert (await handle.query(PlaybookRunWorkflow.status)).escalation_tier == "manager"
        await handle.signal(PlaybookRunWorkflow.acknowledge, Acknowledgement(by="maria"))
        await skipping_env.sleep(timedelta(days=5))
        status = await handle.query(PlaybookRunWorkflow.status)
        assert (status.escalation_tier, status.acknowledged_by) == ("manager", "maria")
        recovered = Facts(now=start, health=Health(score=75, tier="good"), account={})
        await handle.signal(PlaybookRunWorkflow.update, recovered)
        await skipping_env.sleep(timedelta(days=7, hours=1))
        status = await handle.query(PlaybookRunWorkflow.status)
    days = [(round((at - start) / timedelta(days=1)), step) for at, _, step, _ in recorder.actions]
    assert days == [(0, "escalation.csm"), (0, "escalation.csm"), (2, "escalation.manager")]
    assert status.escalation_tier is None
    kinds = [d.kind for d in status.why]
    assert kinds[: kinds.index("de-escalated") + 1] == [
        "enrolled",
        "escalation_requested",
        "escalated",
        "action",
        "action",
        "sla_missed",
        "escalated",
        "action",
        "acknowledged",
        "de-escalated",
    ]
    de_escalation = next(d for d in status.why if d.kind == "de-escalated")
    assert de_escalation.seen == {"health.score": 75}
    assert (status.playbook, status.version) == ("rescue", 1)
    assert [c.scope for c in recorder.closed] == ["ladder"]


async def test_signals_delivered_with_the_start_are_not_lost(
    skipping_env: WorkflowEnvironment, shipped: PlaybookSet
) -> None:
    """An update and a goal event that arrive before the run starts are applied, not fatal."""
    queue = f"q-{uuid.uuid4()}"
    start = await skipping_env.get_current_time()
    facts = Facts(now=start, health=Health(score=30, tier="critical"), account={})
    run_input = RunInput(
        plan=shipped.plan("onboarding"),
        account_id="initech",
        cycle=1,
        enrolled_at=start,
        facts=facts,
    )
    async with Worker(
        skipping_env.client,
        task_queue=queue,
        workflows=[PlaybookRunWorkflow],
        activities=Recorder().activities(),
    ):
        handle = await skipping_env.client.start_workflow(
            PlaybookRunWorkflow.run,
            run_input,
            id=f"playbook/onboarding/initech/{queue}",
            task_queue=queue,
            start_signal="update",
            start_signal_args=[facts],
        )
        await handle.signal(PlaybookRunWorkflow.event, LifecycleEvent(name="onboarding.completed"))
        result = await handle.result()
    assert (result.outcome, result.ended_by) == ("success", "goal")


CALENDAR_WAIT = """\
kind: Playbook
name: renewal-call
version: 1
description: Call once the renewal is 30 days away, or give up after 90 days.
owner: cs-ops@example.com
stage: renew
entry: {event: contract.signed}
steps:
  - id: until-close
    type: wait_for
    condition: {field: days_to_renewal, lte: 30}
    timeout: 90d
    on_met:
      - id: call
        type: task
        title: Renewal call
        assignee: csm
        due: 2d
"""


async def run_to_end(
    env: WorkflowEnvironment, tmp_path: Path, playbook: str, account: dict[str, object]
) -> tuple[Recorder, RunStatus, WorkflowHistory, datetime]:
    """Run ``playbook`` (YAML text) for an account with these attributes to its end; what
    it did, its status and history, and when it started."""
    (tmp_path / "playbook.yaml").write_text(playbook)
    (tmp_path / "health.yaml").write_text((FIXTURES / "ladder" / "health.yaml").read_text())
    [plan] = load([tmp_path]).plans()
    recorder = Recorder()
    queue = f"q-{uuid.uuid4()}"
    start = await env.get_current_time()
    run_input = RunInput(
        plan=plan,
        account_id="umbrella",
        cycle=1,
        enrolled_at=start,
        facts=Facts(now=start, account=account),
    )
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[PlaybookRunWorkflow],
        activities=recorder.activities(),
    ):
        handle = await env.client.start_workflow(
            PlaybookRunWorkflow.run, run_input, id=f"playbook/{plan.name}/{queue}", task_queue=queue
        )
        await handle.result()
        status = await handle.query(PlaybookRunWorkflow.status)
        history = await handle.fetch_history()
    return recorder, status, history, start


async def test_a_calendar_wait_wakes_at_the_midnight_it_holds_not_daily(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """days_to_renewal <= 30 with the renewal 45 days off is met at the midnight 15 days on,
    and the run sleeps until then: one timer fires, not one a day."""
    renewal = (await skipping_env.get_current_time() + timedelta(days=45)).date()
    recorder, _, history, _ = await run_to_end(
        skipping_env, tmp_path, CALENDAR_WAIT, {"renewal_date": renewal.isoformat()}
    )
    [(called_at, _, step, _)] = recorder.actions
    assert step == "call"
    assert called_at.date() == renewal - timedelta(days=30)
    assert (called_at.hour, called_at.minute) == (0, 0)
    fired = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]
    assert len(fired) == 1


CALENDAR_GOAL = """\
kind: Playbook
name: settle-in
version: 1
description: A 60-day hold that counts as done once the account is ten days in.
owner: cs-ops@example.com
stage: onboard
entry: {event: contract.signed}
goal:
  when: {field: days_since_enrollment, gte: 10}
steps:
  - id: hold
    type: wait
    for: 60d
"""


async def test_a_goal_that_reads_the_calendar_ends_the_run_on_its_day(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """days_since_enrollment >= 10 ends the run as a goal at the tenth midnight, with no
    event or new facts to prompt it."""
    _, status, _, start = await run_to_end(skipping_env, tmp_path, CALENDAR_GOAL, {})
    assert status.result is not None
    assert (status.result.outcome, status.result.ended_by) == ("success", "goal")
    [goal] = [d for d in status.why if d.kind == "goal"]
    assert goal.at.date() == start.date() + timedelta(days=10)
    assert (goal.at.hour, goal.at.minute) == (0, 0)
    assert goal.seen == {"days_since_enrollment": 10}


GUARDED = """\
kind: Playbook
name: early-renewal
version: 1
description: An early renewal nudge, only while the renewal is more than 95 days away.
owner: cs-ops@example.com
stage: renew
entry: {event: contract.signed}
steps:
  - id: nudge
    type: task
    title: Early renewal nudge
    assignee: csm
    due: 2d
    if: {field: days_to_renewal, gt: 95}
"""


async def test_a_step_skipped_by_its_guard_records_the_values_it_saw(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A step whose `if` does not hold is skipped with the values the guard read."""
    renewal = (await skipping_env.get_current_time() + timedelta(days=80)).date()
    recorder, status, _, _ = await run_to_end(
        skipping_env, tmp_path, GUARDED, {"renewal_date": renewal.isoformat()}
    )
    assert recorder.actions == []
    [skipped] = [d for d in status.why if d.kind == "skipped"]
    assert (skipped.rule, skipped.detail) == ("steps.nudge.if", "guard did not hold")
    assert skipped.seen == {"days_to_renewal": 80}
