"""How a PlaybookRun ends, on the real time-skipping server: what each ending closes, that no
action starts after a goal or exit, and that the escalation attributes are cleared.

docs/language.md ("How a journey ends") is the contract these tests hold the run to.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine import load
from engine.journeys import _search as sa
from engine.journeys._messages import (
    ActionReceipt,
    ActionRequest,
    CloseRequest,
    HistoryRequest,
    LifecycleEvent,
    RunInput,
    RunResult,
    RunStatus,
    StopRequest,
)
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._facts import Facts, Health
from engine.language._plan import Plan
from tests.support import Recorder

FIXTURES = Path(__file__).parents[2] / "fixtures"

HANDOFF = """\
kind: Playbook
name: handoff
version: 1
description: Hand the account to a person, then wait out a quiet period.
owner: cs-ops@example.com
stage: retain
entry: {event: contract.signed}
goal: {event: saved}
exit: {event: churned}
steps:
  - id: hand-over
    type: task
    title: Call the sponsor
    assignee: csm
    due: 2d
  - id: quiet
    type: wait
    for: 10d
  - id: follow-up
    type: task
    title: Follow up
    assignee: csm
    due: 2d
"""

LAST_TASK_BEFORE_END = """\
kind: Playbook
name: last-task
version: 1
description: A task right before an end step.
owner: cs-ops@example.com
stage: retain
entry: {event: contract.signed}
steps:
  - id: hand-to-save-team
    type: task
    title: Save plan
    assignee: manager
    due: 2d
  - id: done
    type: end
    outcome: failure
    reason: handed to the save team
"""

LADDER_THEN_END = """\
kind: Playbook
name: short-watch
version: 1
description: Escalate while at risk, for three days at most.
owner: cs-ops@example.com
stage: retain
entry: {event: contract.signed}
goal: {event: saved}
steps:
  - id: hold
    type: wait
    for: 3d
escalation:
  when: {field: health.tier, in: [at-risk, critical]}
  tiers:
    - {id: csm, notify: [csm], via: [task], title: Action plan, ack_sla: 10d}
  recovery:
    when: {field: health.score, gte: 60}
    for: 7d
"""

AT_RISK = Health(score=45, tier="at-risk")


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
    env: WorkflowEnvironment, plan: Plan, queue: str, health: Health | None = None
) -> WorkflowHandle[Any, Any]:
    start = await env.get_current_time()
    run_input = RunInput(
        plan=plan,
        account_id="umbrella",
        cycle=1,
        enrolled_at=start,
        facts=Facts(now=start, health=health or Health(score=75, tier="good"), account={}),
    )
    return await env.client.start_workflow(
        PlaybookRunWorkflow.run,
        run_input,
        id=f"playbook/{plan.name}/{queue}",
        task_queue=queue,
        result_type=RunResult,
    )


async def _attributes(handle: WorkflowHandle[Any, Any]) -> tuple[str | None, str | None]:
    """The run's Step and EscalationTier search attributes, as operators see them."""
    attributes = (await handle.describe()).typed_search_attributes
    return attributes.get(sa.STEP), attributes.get(sa.ESCALATION_TIER)


async def test_a_task_as_the_last_step_stays_open_when_the_run_completes(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A natural end (all steps done) closes nothing the steps handed to people."""
    recorder = Recorder()
    async with _worker(skipping_env, recorder.activities()) as queue:
        handle = await _start(skipping_env, _plan(tmp_path, HANDOFF), queue)
        result = await handle.result()
    assert result.ended_by == "completed"
    assert recorder.steps("handoff") == ["hand-over", "follow-up"]
    assert recorder.closed == []


async def test_a_task_right_before_an_end_step_stays_open(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """An `end` step after a task ends the run without closing that task."""
    recorder = Recorder()
    async with _worker(skipping_env, recorder.activities()) as queue:
        handle = await _start(skipping_env, _plan(tmp_path, LAST_TASK_BEFORE_END), queue)
        result = await handle.result()
    assert (result.ended_by, result.outcome, result.step) == ("end", "failure", "done")
    assert recorder.steps("last-task") == ["hand-to-save-team"]
    assert recorder.closed == []


@pytest.mark.parametrize(
    ("ending", "ended_by"),
    [("saved", "goal"), ("churned", "exit"), ("stop", "stopped")],
)
async def test_goal_exit_and_stop_close_everything_the_run_opened(
    skipping_env: WorkflowEnvironment, tmp_path: Path, ending: str, ended_by: str
) -> None:
    """A goal, an exit or `playbook exit` (stop) closes the run's open items, with its reason,
    and no later step runs."""
    recorder = Recorder()
    async with _worker(skipping_env, recorder.activities()) as queue:
        handle = await _start(skipping_env, _plan(tmp_path, HANDOFF), queue)
        await skipping_env.sleep(timedelta(days=2))
        if ending == "stop":
            await handle.signal(PlaybookRunWorkflow.stop, StopRequest(reason="operator"))
        else:
            await handle.signal(PlaybookRunWorkflow.event, LifecycleEvent(name=ending))
        result = await handle.result()
        step, _ = await _attributes(handle)
    assert result.ended_by == ended_by
    assert recorder.steps("handoff") == ["hand-over"]
    assert [(c.scope, c.reason) for c in recorder.closed] == [("run", result.reason)]
    assert step == result.step == "quiet"


async def test_a_natural_end_while_escalated_closes_the_ladder_and_clears_its_tier(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The escalation ends with the journey: only the ladder's items are closed, the ladder
    stands down, and EscalationTier no longer names a tier."""
    recorder = Recorder()
    async with _worker(skipping_env, recorder.activities()) as queue:
        handle = await _start(skipping_env, _plan(tmp_path, LADDER_THEN_END), queue, AT_RISK)
        await skipping_env.sleep(timedelta(hours=1))
        assert (await _attributes(handle))[1] == "csm"
        result = await handle.result()
        status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
        _, tier = await _attributes(handle)
    assert result.ended_by == "completed"
    assert [c.scope for c in recorder.closed] == ["ladder"]
    assert recorder.closed[0].reason == f"journey ended: {result.reason}"
    assert "stood_down" in [d.kind for d in status.why]
    assert status.escalation_tier is None
    assert not tier


async def test_a_goal_clears_the_escalation_tier_attribute(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """EscalationTier = 'csm' in the UI must not list a run that reached its goal."""
    recorder = Recorder()
    async with _worker(skipping_env, recorder.activities()) as queue:
        handle = await _start(skipping_env, _plan(tmp_path, LADDER_THEN_END), queue, AT_RISK)
        await skipping_env.sleep(timedelta(hours=1))
        assert (await _attributes(handle))[1] == "csm"
        await handle.signal(PlaybookRunWorkflow.event, LifecycleEvent(name="saved"))
        result = await handle.result()
        _, tier = await _attributes(handle)
    assert result.ended_by == "goal"
    assert [c.scope for c in recorder.closed] == ["run"]
    assert not tier


class _SlowActions:
    """Activities whose first action is held in flight until the test lets it land."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    def activities(self) -> list[Any]:
        @activity.defn(name="perform_action")
        async def perform_action(request: ActionRequest) -> ActionReceipt:
            self.log.append(f"start {request.step}")
            self.started.set()
            await self.release.wait()
            self.log.append(f"landed {request.step}")
            return ActionReceipt(idempotency_key=request.idempotency_key, detail="done")

        @activity.defn(name="close_items")
        async def close_items(request: CloseRequest) -> ActionReceipt:
            self.log.append(f"close {request.scope}")
            return ActionReceipt(idempotency_key=request.workflow_id, detail="closed")

        @activity.defn(name="record_history")
        async def record_history(request: HistoryRequest) -> int:
            return 0

        return [perform_action, close_items, record_history]


async def test_an_action_in_flight_at_the_goal_lands_before_the_run_closes(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A goal reached while a step's task is being filed: the run waits for it to land, then
    closes it; no later step starts; Step and the result name the same step."""
    actions = _SlowActions()
    async with _worker(skipping_env, actions.activities()) as queue:
        handle = await _start(skipping_env, _plan(tmp_path, HANDOFF), queue)
        await asyncio.wait_for(actions.started.wait(), 10)
        await handle.signal(PlaybookRunWorkflow.event, LifecycleEvent(name="saved"))
        # Give the run time to see the goal while the task is still being filed.
        await asyncio.sleep(1)
        assert actions.log == ["start hand-over"]
        actions.release.set()
        result = await handle.result()
        step, _ = await _attributes(handle)
    assert result.ended_by == "goal"
    assert actions.log == ["start hand-over", "landed hand-over", "close run"]
    assert step == result.step == "hand-over"


HELD_GOAL = """\
kind: Playbook
name: sustained
version: 1
description: Saved once health is back to good for two weeks; out after three red days.
owner: cs-ops@example.com
stage: retain
entry: {event: contract.signed}
goal:
  when: {field: health.score, gte: 60}
  for: 14d
exit:
  when: {field: health.score, lt: 20}
  for: 3d
steps:
  - id: hold
    type: wait
    for: 90d
"""


async def _held_run(
    env: WorkflowEnvironment, tmp_path: Path, readings: list[tuple[int, float]]
) -> tuple[RunResult, RunStatus, Any]:
    """Run HELD_GOAL from a score of 45, sending ``(day, score)`` readings; the result, the
    status and the start."""
    async with _worker(env, Recorder().activities()) as queue:
        start = await env.get_current_time()
        handle = await _start(env, _plan(tmp_path, HELD_GOAL), queue, AT_RISK)
        day = 0
        for at, score in readings:
            await env.sleep(timedelta(days=at - day))
            day = at
            now = await env.get_current_time()
            facts = Facts(now=now, health=Health(score=score), account={})
            await handle.signal(PlaybookRunWorkflow.update, facts)
        result = await handle.result()
        status = await handle.query(PlaybookRunWorkflow.status)
    return result, status, start


async def test_a_goal_held_for_a_window_fires_when_the_window_is_full(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """One good reading (day 1) does not reach a `for: 14d` goal; fourteen days of it do,
    at the moment the window fills (day 15), with no reading then."""
    result, status, start = await _held_run(skipping_env, tmp_path, [(1, 81)])
    assert (result.ended_by, result.reason) == ("goal", "goal: condition held for 14d")
    [goal] = [d for d in status.why if d.kind == "goal"]
    assert abs(goal.at - (start + timedelta(days=15))) < timedelta(minutes=1)
    assert goal.seen == {"health.score": 81}


async def test_a_break_in_the_window_starts_it_again(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Good on day 1, at-risk on day 10, good again on day 12: the goal waits for 14 days
    from day 12 (day 26), not from day 1."""
    result, status, start = await _held_run(skipping_env, tmp_path, [(1, 81), (10, 45), (12, 70)])
    assert result.ended_by == "goal"
    [goal] = [d for d in status.why if d.kind == "goal"]
    assert abs(goal.at - (start + timedelta(days=26))) < timedelta(minutes=1)


async def test_an_exit_held_for_a_window_fires_after_it(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A score below 20 from day 2 ends the run by its exit three days later (day 5)."""
    result, status, start = await _held_run(skipping_env, tmp_path, [(2, 10)])
    assert (result.ended_by, result.reason) == ("exit", "exit: condition held for 3d")
    [exit_] = [d for d in status.why if d.kind == "exit"]
    assert abs(exit_.at - (start + timedelta(days=5))) < timedelta(minutes=1)
