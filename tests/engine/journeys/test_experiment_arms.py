"""A run's arm on the real time-skipping server: variant steps run only in their variant, a
holdout with ``internal: skip`` files nothing and holds the ladder, and the guard rail still
escalates a held-out account whose health turns critical unless the playbook holds it."""

from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine import load
from engine.journeys._messages import RunInput, RunStatus
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._experiments import assign
from engine.language._facts import Facts, Health
from tests.support import Recorder, eventually

FIXTURES = Path(__file__).parents[2] / "fixtures" / "experiments"


def _account(arm: str, playbook: str = "strict") -> str:
    plan = load([FIXTURES]).plan(playbook)
    assert plan.experiment is not None
    return next(
        f"acct-{i}" for i in range(200) if assign(plan.experiment, f"acct-{i}", playbook)[0] == arm
    )


async def _run(
    env: WorkflowEnvironment, tmp_path: Path, account: str, turn_critical: bool, hold: bool = False
) -> tuple[list[str], RunStatus]:
    """Run ``strict`` for ``account``, at-risk, then critical on day 2 when asked; the
    actions by step and the status on day 3."""
    shutil.copytree(FIXTURES, tmp_path / "set")
    if hold:
        path = tmp_path / "set" / "strict.yaml"
        path.write_text(
            path.read_text().replace("internal: skip}", "internal: skip, escalation: hold}")
        )
    plan = load([tmp_path / "set"]).plan("strict")
    recorder = Recorder()
    queue = f"q-{uuid.uuid4()}"
    start = await env.get_current_time()
    facts = Facts(now=start, health=Health(score=50, tier="at-risk"), account={"name": account})
    run_input = RunInput(plan=plan, account_id=account, cycle=1, enrolled_at=start, facts=facts)
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[PlaybookRunWorkflow],
        activities=recorder.activities(),
    ):
        handle = await env.client.start_workflow(
            PlaybookRunWorkflow.run, run_input, id=f"playbook/strict/{queue}", task_queue=queue
        )

        async def waiting() -> bool:
            status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
            return status.step == "settle"

        await eventually(waiting, "the run reaches its wait")
        await env.sleep(timedelta(days=2))
        if turn_critical:
            now = await env.get_current_time()
            worse = facts.model_copy(
                update={"now": now, "health": Health(score=20, tier="critical")}
            )
            await handle.signal(PlaybookRunWorkflow.update, worse)
        await env.sleep(timedelta(days=1))
        status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
    return recorder.steps("strict"), status


async def test_a_variant_runs_its_own_steps_and_skips_the_others(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """An account in variant brief gets the shared and the brief steps, not the thorough one,
    whose skip names the arm; the ladder is not held (only the holdout's is)."""
    steps, status = await _run(skipping_env, tmp_path, _account("brief"), turn_critical=False)
    assert steps == ["note", "short", "escalation.csm"]
    skip = next(d for d in status.why if d.rule == "steps.long")
    assert (
        skip.kind == "skipped"
        and skip.detail == "step of variant thorough; this account is in brief"
    )
    assert next(d for d in status.why if d.kind == "experiment").seen["arm"] == "brief"


async def test_a_held_out_account_with_internal_skip_gets_nothing_until_critical(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Held out with internal: skip: no task while at-risk (each skip recorded), the ladder
    held with the reason; when health turns critical the guard rail engages the ladder."""
    steps, status = await _run(skipping_env, tmp_path, _account("holdout"), turn_critical=True)
    assert steps == ["escalation.csm"]
    held = [d.rule for d in status.why if d.kind == "held_out"]
    assert held == ["steps.note", "escalation"]
    assert [d.rule for d in status.why if d.kind == "skipped"] == ["steps.short", "steps.long"]
    let_through = [d for d in status.why if d.kind == "experiment" and d.rule == "escalation"]
    assert len(let_through) == 1 and let_through[0].seen["health.tier"] == "critical"
    assert status.escalation_tier == "csm"


async def test_a_held_out_account_stays_unescalated_while_not_critical(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Without a critical reading the held-out account's ladder stays held."""
    steps, status = await _run(skipping_env, tmp_path, _account("holdout"), turn_critical=False)
    assert steps == []
    assert status.escalation_tier is None


async def test_escalation_hold_holds_the_ladder_even_when_critical(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A playbook that writes escalation: hold keeps even a critical held-out account off the
    ladder, and says so."""
    steps, status = await _run(
        skipping_env, tmp_path, _account("holdout"), turn_critical=True, hold=True
    )
    assert steps == []
    reason = next(d.detail for d in status.why if d.kind == "held_out" and d.rule == "escalation")
    assert reason == "held out by experiment strict-q1: the ladder waits"
