"""The decision log: every decision an account or a run makes reaches the store once, in few
sends, with the numbers that tell it from the live trace; a simulation sends none."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine import load
from engine.client._start import account_workflow_id, publish, send
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import (
    AttributeChange,
    HealthEvent,
    RunInput,
    RunResult,
    RunStatus,
)
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._facts import Facts, Health
from tests.support import Recorder, eventually
from workers import history
from workers.store import open_store
from workers.worker import build_worker

PLAYBOOKS = Path(__file__).parents[3] / "playbooks"
JOURNEYS = Path(__file__).parents[2] / "fixtures" / "journeys"


async def test_account_and_run_decisions_reach_the_store_once_with_the_outcome(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Rescue enrolled by a drop and ended by its goal (upsell enrolled after it): the store
    holds exactly the account's and the runs' traces (same numbers, same values seen), and
    the run's outcome once."""
    client = skipping_env.client
    queue = f"q-{uuid.uuid4()}"
    account = f"umbrella-{queue[-6:]}"
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    recorder = Recorder(store=store)
    book = load([JOURNEYS])
    handle = client.get_workflow_handle(account_workflow_id(account))
    run_id = f"playbook/rescue/{account}/1"

    async def ended() -> bool:
        status: AccountStatus = await handle.query(AccountWorkflow.status)
        rescue = status.enrollments.get("rescue")
        return rescue is not None and not rescue.running

    async with build_worker(client, queue, recorder.activities()):
        await publish(client, build_catalog(book.plans(), book.health_plan()), queue)  # type: ignore[arg-type]
        await send(client, account, AttributeChange(set={"segment": "smb"}), queue)
        await send(client, account, HealthEvent(score=30), queue)
        await eventually(lambda: _has_run(client, run_id), "rescue enrolls on the drop")

        async def called() -> bool:
            return "call" in recorder.steps("rescue")

        # The goal's reading after the first action has landed: one that comes while the
        # action is in flight ends the run after it lands, and records the goal first.
        await eventually(called, "rescue's first action is performed")
        await send(client, account, HealthEvent(score=96), queue)
        await eventually(ended, "rescue reaches its goal")
        status: AccountStatus = await handle.query(AccountWorkflow.status)
        runs: dict[str, RunStatus] = {
            e.workflow_id: await client.get_workflow_handle(e.workflow_id).query(
                PlaybookRunWorkflow.status
            )
            for e in status.enrollments.values()
        }
        live = {(handle.id, d.seq): d for d in status.why}
        live.update({(wid, d.seq): d for wid, run in runs.items() for d in run.why})

        async def all_stored() -> bool:
            return len(history.decisions(store, account)) == len(live)

        await eventually(all_stored, "every decision in the store")
    kept = {(r.workflow_id, r.decision.seq): r.decision for r in history.decisions(store, account)}
    assert kept == live
    assert set(runs) == {run_id, f"playbook/upsell/{account}/1"}
    assert [d.kind for d in runs[run_id].why] == ["enrolled", "action", "goal"]
    assert any(d.kind == "enrolled" and d.seen for d in status.why)
    ends = [r.journey for r in recorder.history if r.journey and r.journey.workflow_id == run_id]
    assert len(ends) == 1 and ends[0].ended_by == "goal"
    store.close()


async def _has_run(client: object, run_id: str) -> bool:
    from temporalio.client import Client
    from temporalio.service import RPCError

    assert isinstance(client, Client)
    try:
        await client.get_workflow_handle(run_id).describe()
    except RPCError:
        return False
    return True


async def test_a_simulated_run_sends_no_decisions_and_a_real_one_does(
    skipping_env: WorkflowEnvironment,
) -> None:
    """The same shipped onboarding run twice: marked as a simulation, nothing goes to
    record_history (its outcome is its result; the store would drop it); otherwise every
    decision goes, and the outcome with the last of them."""
    shipped = load([PLAYBOOKS])
    queue = f"q-{uuid.uuid4()}"
    enrolled = await skipping_env.get_current_time()
    facts = Facts(
        now=enrolled,
        health=Health(score=72, tier="good", trend="stable"),
        account={"segment": "mid-market", "name": "Acme", "contact_email": "a@example.com"},
    )
    sent = {}
    for simulation in (True, False):
        recorder = Recorder()
        async with Worker(
            skipping_env.client,
            task_queue=queue,
            workflows=[PlaybookRunWorkflow],
            activities=recorder.activities(),
        ):
            handle = await skipping_env.client.start_workflow(
                PlaybookRunWorkflow.run,
                RunInput(
                    plan=shipped.plan("onboarding"),
                    account_id="acme",
                    cycle=1,
                    enrolled_at=enrolled,
                    facts=facts,
                    simulation=simulation,
                ),
                id=f"playbook/onboarding/acme/{uuid.uuid4().hex[:6]}",
                task_queue=queue,
                result_type=RunResult,
            )
            await handle.result()
            why = (await handle.query(PlaybookRunWorkflow.status)).why
        sent[simulation] = (recorder.history, why)
    simulated, _ = sent[True]
    assert simulated == []
    real, why = sent[False]
    logged = [r.decision for request in real for r in request.decisions]
    assert logged == why and [d.seq for d in why] == list(range(1, len(why) + 1))
    # Each action is its own workflow task, so its decision is its own send; the outcome
    # rides with the last of them.
    assert sum(r.journey is not None for r in real) == 1


BURST = """
kind: Playbook
name: burst
version: 1
description: Three steps that do not apply, then the end.
owner: cs-ops@example.com
stage: adopt
entry:
  when: {field: health.tier, eq: critical}
steps:
  - {id: one, type: task, title: One, assignee: csm, due: 1d, if: {field: health.score, gte: 99}}
  - {id: two, type: task, title: Two, assignee: csm, due: 1d, if: {field: health.score, gte: 99}}
  - {id: three, type: task, title: Tri, assignee: csm, due: 1d, if: {field: health.score, gte: 99}}
  - {id: done, type: end, outcome: neutral}
"""


async def test_a_burst_of_decisions_in_one_workflow_task_is_one_send(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Enrolled, three skipped steps and the end happen in one workflow task: they and the
    run's outcome reach the store in one record_history call."""
    (tmp_path / "burst.yaml").write_text(BURST)
    shutil.copy(JOURNEYS / "health.yaml", tmp_path)
    plan = load([tmp_path]).plan("burst")
    queue = f"q-{uuid.uuid4()}"
    now = await skipping_env.get_current_time()
    recorder = Recorder()
    async with Worker(
        skipping_env.client,
        task_queue=queue,
        workflows=[PlaybookRunWorkflow],
        activities=recorder.activities(),
    ):
        await skipping_env.client.execute_workflow(
            PlaybookRunWorkflow.run,
            RunInput(
                plan=plan,
                account_id="acme",
                cycle=1,
                enrolled_at=now,
                facts=Facts(now=now, health=Health(score=20, tier="critical")),
            ),
            id="playbook/burst/acme/1",
            task_queue=queue,
            result_type=RunResult,
        )
    kinds = [[r.decision.kind for r in request.decisions] for request in recorder.history]
    assert kinds == [["enrolled", "skipped", "skipped", "skipped", "end"]]
    assert recorder.history[0].journey is not None
    keys = {r.key for request in recorder.history for r in request.decisions}
    assert len(keys) == 5 and all(k.startswith("playbook/burst/acme/1/") for k in keys)
