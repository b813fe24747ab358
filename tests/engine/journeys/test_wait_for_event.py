"""A wait_for step that waits for a lifecycle event: met when the event arrives (or had
arrived since the journey began), given up at its timeout, each with its own steps and a
decision in why. On the time-skipping server."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._start import account_workflow_id, publish, send
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AccountEvent, RunStatus
from engine.journeys._run import PlaybookRunWorkflow
from tests.support import Recorder, eventually
from workers.worker import build_worker

PLAYBOOKS = Path(__file__).parents[2] / "fixtures" / "wait_event"


async def _run(client: Client, account: str) -> RunStatus | None:
    handle = client.get_workflow_handle(account_workflow_id(account))
    status: AccountStatus = await handle.query(AccountWorkflow.status)
    if "kickoff" not in status.enrollments:
        return None
    run = client.get_workflow_handle(status.enrollments["kickoff"].workflow_id)
    found: RunStatus = await run.query(PlaybookRunWorkflow.status)
    return found


@pytest.mark.parametrize(
    ("kickoff_after", "steps", "decision"),
    [
        (timedelta(days=3), ["plan-adoption"], "wait_met"),  # while the step waits
        (timedelta(hours=2), ["plan-adoption"], "wait_met"),  # before the step began
        (None, ["chase-kickoff"], "wait_timeout"),  # never
    ],
    ids=["while-waiting", "before-the-step", "never"],
)
async def test_a_wait_for_an_event_is_met_by_it_or_times_out(
    skipping_env: WorkflowEnvironment,
    kickoff_after: timedelta | None,
    steps: list[str],
    decision: str,
) -> None:
    client = skipping_env.client
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    book = load([PLAYBOOKS])
    recorder = Recorder()
    async with build_worker(client, queue, recorder.activities()):
        await publish(client, build_catalog(book.plans(), book.health_plan()), queue)  # type: ignore[arg-type]
        await send(client, account, AccountEvent(event_id="s", name="contract.signed"), queue)

        async def enrolled() -> RunStatus | None:
            return await _run(client, account)

        await eventually(enrolled, "kickoff enrolls")
        if kickoff_after is not None:
            await skipping_env.sleep(kickoff_after)
            await send(client, account, AccountEvent(event_id="k", name="kickoff.done"), queue)
        await skipping_env.sleep(timedelta(days=16))

        async def ended() -> RunStatus | None:
            run = await _run(client, account)
            return run if run is not None and run.result is not None else None

        run = await eventually(ended, "the journey ends")
    assert recorder.steps("kickoff") == steps
    [wait] = [d for d in run.why if d.rule == "steps.kickoff"]
    assert (wait.kind, wait.seen) == (decision, {"event": "kickoff.done"})
