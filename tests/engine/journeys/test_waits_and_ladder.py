"""A run's waits and ladder react to facts that arrive while they wait, on the real
time-skipping server: a `wait_for` wakes when new facts move its calendar moment, and the
ladder engages again after a recovery when the next reading is red at once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine import load
from engine.journeys._messages import Acknowledgement, RunInput, RunResult, RunStatus
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._facts import Facts, Health, Sample
from engine.language._plan import Plan
from tests.support import Recorder

FIXTURES = Path(__file__).parents[2] / "fixtures"

RENEWAL_WAIT = """\
kind: Playbook
name: renewal-call
version: 1
description: Call once the renewal is 30 days away, or give up after 60 days.
owner: cs-ops@example.com
stage: renew
entry: {event: contract.signed}
steps:
  - id: until-close
    type: wait_for
    condition: {field: days_to_renewal, lte: 30}
    timeout: 60d
    on_met:
      - {id: call, type: task, title: Renewal call, assignee: csm, due: 2d}
"""

DROP_WAIT = """\
kind: Playbook
name: drop-watch
version: 1
description: Act on a drop of five points over a week, or give up after 20 days.
owner: cs-ops@example.com
stage: retain
entry: {event: contract.signed}
steps:
  - id: watch
    type: wait_for
    condition: {change: health.score, over: 7d, lte: -5}
    timeout: 20d
    on_met:
      - {id: act, type: task, title: Look at the drop, assignee: csm, due: 2d}
"""


@asynccontextmanager
async def _worker(env: WorkflowEnvironment, activities: list[Any]) -> AsyncIterator[str]:
    """A worker running PlaybookRun with ``activities`` on a fresh task queue, its name."""
    queue = f"q-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=queue, workflows=[PlaybookRunWorkflow], activities=activities
    ):
        yield queue


def _plan(tmp_path: Path, text: str) -> Plan:
    (tmp_path / "playbook.yaml").write_text(text)
    (tmp_path / "health.yaml").write_text((FIXTURES / "ladder" / "health.yaml").read_text())
    [plan] = load([tmp_path]).plans()
    return plan


async def _start(
    env: WorkflowEnvironment, plan: Plan, queue: str, facts: Facts
) -> WorkflowHandle[Any, Any]:
    run_input = RunInput(
        plan=plan, account_id="umbrella", cycle=1, enrolled_at=facts.now, facts=facts
    )
    return await env.client.start_workflow(
        PlaybookRunWorkflow.run,
        run_input,
        id=f"playbook/{plan.name}/{queue}",
        task_queue=queue,
        result_type=RunResult,
    )


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


async def test_a_renewal_date_set_during_a_wait_for_moves_its_wake_up(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The renewal date arrives on day 5 of a 60-day `days_to_renewal <= 30` wait: met at the
    midnight 30 days before it (day 17), not at the timeout."""
    recorder = Recorder()
    start = await skipping_env.get_current_time()
    renewal = (_midnight(start) + timedelta(days=47)).date()
    async with _worker(skipping_env, recorder.activities()) as queue:
        handle = await _start(skipping_env, _plan(tmp_path, RENEWAL_WAIT), queue, Facts(now=start))
        await skipping_env.sleep(timedelta(days=5))
        now = await skipping_env.get_current_time()
        dated = Facts(now=now, account={"renewal_date": renewal.isoformat()})
        await handle.signal(PlaybookRunWorkflow.update, dated)
        await handle.result()
        status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
    [met] = [d for d in status.why if d.kind == "wait_met"]
    midnight = datetime.combine(renewal - timedelta(days=30), datetime.min.time(), UTC)
    assert midnight <= met.at < midnight + timedelta(seconds=1)
    assert met.seen == {"days_to_renewal": 30}
    [(called_at, _, step, _)] = recorder.actions
    assert (step, called_at.date()) == ("call", renewal - timedelta(days=30))


async def test_a_drop_the_calendar_alone_completes_is_met_on_its_day(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Readings 60 (day 0), 90 (day 1), 80 (day 2): `change over 7d <= -5` turns true when
    the day-1 reading is a week old (day 8), with no reading then; not at the timeout."""
    recorder = Recorder()
    start = await skipping_env.get_current_time()
    readings = [Sample(at=int(start.timestamp()), value=60)]
    first = Facts(now=start, health=Health(score=60), history={"health.score": readings})
    async with _worker(skipping_env, recorder.activities()) as queue:
        handle = await _start(skipping_env, _plan(tmp_path, DROP_WAIT), queue, first)
        for score in (90, 80):
            await skipping_env.sleep(timedelta(days=1))
            now = await skipping_env.get_current_time()
            readings = [*readings, Sample(at=int(now.timestamp()), value=score)]
            facts = Facts(now=now, health=Health(score=score), history={"health.score": readings})
            await handle.signal(PlaybookRunWorkflow.update, facts)
        await handle.result()
        status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
    [met] = [d for d in status.why if d.kind == "wait_met"]
    day_one = datetime.fromtimestamp(readings[1].at, UTC)
    assert abs(met.at - (day_one + timedelta(days=7))) < timedelta(seconds=2)
    assert met.seen == {"change(health.score, 7d)": -10}
    assert [step for _, _, step, _ in recorder.actions] == ["act"]


async def test_the_ladder_engages_again_when_the_reading_after_a_recovery_is_red(
    skipping_env: WorkflowEnvironment,
) -> None:
    """Acknowledged, recovered (score >= 60 held 7 days), then at-risk at the next reading: the
    ladder engages its first tier again at once, without waiting for a non-red reading."""
    recorder = Recorder()
    start = await skipping_env.get_current_time()
    plan = load([FIXTURES / "ladder"]).plan("rescue")
    at_risk = Facts(now=start, health=Health(score=45, tier="at-risk"))
    async with _worker(skipping_env, recorder.activities()) as queue:
        handle = await _start(skipping_env, plan, queue, at_risk)
        await skipping_env.sleep(timedelta(hours=1))
        await handle.signal(PlaybookRunWorkflow.acknowledge, Acknowledgement(by="sam"))
        good = Facts(now=start, health=Health(score=75, tier="good"))
        await handle.signal(PlaybookRunWorkflow.update, good)
        await skipping_env.sleep(timedelta(days=7, hours=1))
        assert (await handle.query(PlaybookRunWorkflow.status)).escalation_tier is None
        await handle.signal(PlaybookRunWorkflow.update, at_risk)
        await skipping_env.sleep(timedelta(hours=1))
        status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
    kinds = [d.kind for d in status.why if d.kind in ("escalated", "de-escalated")]
    assert kinds == ["escalated", "de-escalated", "escalated"]
    assert status.escalation_tier == "csm"
    steps = [step for _, _, step, _ in recorder.actions]
    assert steps == ["escalation.csm"] * 4  # task and email, twice


async def test_a_reading_that_stays_good_after_a_recovery_does_not_engage(
    skipping_env: WorkflowEnvironment,
) -> None:
    """After a recovery, a good reading keeps the ladder down; only red engages it."""
    recorder = Recorder()
    start = await skipping_env.get_current_time()
    plan = load([FIXTURES / "ladder"]).plan("rescue")
    async with _worker(skipping_env, recorder.activities()) as queue:
        at_risk = Facts(now=start, health=Health(score=45, tier="at-risk"))
        handle = await _start(skipping_env, plan, queue, at_risk)
        # Engaged before it is acknowledged: an acknowledgement that reaches the run with its
        # start, before the ladder engages, acknowledges nothing and the ladder climbs.
        await skipping_env.sleep(timedelta(hours=1))
        await handle.signal(PlaybookRunWorkflow.acknowledge, Acknowledgement(by="sam"))
        good = Facts(now=start, health=Health(score=75, tier="good"))
        await handle.signal(PlaybookRunWorkflow.update, good)
        await skipping_env.sleep(timedelta(days=7, hours=1))
        await handle.signal(PlaybookRunWorkflow.update, good)
        await skipping_env.sleep(timedelta(days=2))
        status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
    kinds = [d.kind for d in status.why if d.kind in ("escalated", "de-escalated")]
    assert kinds == ["escalated", "de-escalated"]
    assert status.escalation_tier is None
