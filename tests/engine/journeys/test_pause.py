"""`playbook pause` and `resume` on the real dev server, in real time (the fixture's waits and
SLA are seconds long).

Not on the time-skipping server: it rejects the workflow task that follows a plain signal
when queries poll meanwhile ("invalid history builder state for action") and then stops
answering queries; the dev server, like a production cluster, runs the same code cleanly.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._attributes import register
from engine.client._start import publish, send
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AttributeChange, HealthEvent, RunStatus
from engine.journeys._run import PlaybookRunWorkflow
from tests.support import Recorder, eventually, fresh_namespace
from workers.worker import build_worker

FIXTURE = Path(__file__).parents[2] / "fixtures" / "pause"
PLAYBOOK = Path(sys.executable).parent / "playbook"


async def _cli(client: Client, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_")},
        "PLAYBOOK_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "PLAYBOOK_TEMPORAL_NAMESPACE": client.namespace,
    }
    return await asyncio.to_thread(
        subprocess.run,
        [str(PLAYBOOK), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


async def test_pause_holds_actions_climbs_and_enrollments_until_resume(
    dev_env: WorkflowEnvironment,
) -> None:
    """Paused: the follow-up that falls due is held, the ladder does not climb past its
    SLA, and a second account's drop enrolls nothing; resumed: the follow-up goes out at
    once, the manager is engaged a full SLA after the resume, the second account enrolls."""
    client = await fresh_namespace(dev_env)
    await register(client, client.namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    first, second = f"a-{queue[-6:]}", f"b-{queue[-6:]}"
    recorder = Recorder()
    book = load([FIXTURE])

    async def account(account_id: str) -> AccountStatus:
        handle = client.get_workflow_handle(f"account/{account_id}")
        status: AccountStatus = await handle.query(AccountWorkflow.status)
        return status

    async def run() -> RunStatus:
        handle = client.get_workflow_handle(f"playbook/hold/{first}/1")
        status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
        return status

    def steps() -> list[str]:
        return recorder.steps("hold")

    async with build_worker(client, queue, recorder.activities()):
        await publish(client, build_catalog(book.plans(), book.health_plan()), queue)  # type: ignore[arg-type]
        for name in (first, second):
            await send(client, name, AttributeChange(set={"segment": "smb"}), queue)
            await send(client, name, HealthEvent(score=85), queue)
        await send(client, first, HealthEvent(score=30), queue)
        await eventually(
            lambda: asyncio.sleep(0, {"first", "escalation.csm"} <= set(steps())),
            "the run's first task and the CSM tier",
        )

        paused = await _cli(client, "pause", first, "--by", "maria", "--reason", "legal hold")
        assert paused.returncode == 0, paused.stderr
        assert (await _cli(client, "pause", second, "--by", "maria")).returncode == 0

        async def run_paused() -> bool:
            return (await run()).paused

        await eventually(run_paused, "the run hears of the pause")
        await send(client, second, HealthEvent(score=30), queue)
        held = list(steps())
        await asyncio.sleep(6)  # past the 4 s wait and the 3 s SLA
        assert steps() == held
        assert (await run()).escalation_tier == "csm"
        blocked = await account(second)
        assert "hold" not in blocked.enrollments
        assert any(d.kind == "skipped" and d.detail == "account paused" for d in blocked.why)
        shown = await _cli(client, "status", first)
        assert "PAUSED by maria" in shown.stdout and "legal hold" in shown.stdout

        resumed = await _cli(client, "resume", first, "--by", "maria")
        assert resumed.returncode == 0, resumed.stderr
        at = time.monotonic()
        await eventually(
            lambda: asyncio.sleep(0, "after-wait" in steps()), "the held follow-up goes out"
        )
        assert "escalation.manager" not in steps()
        await eventually(
            lambda: asyncio.sleep(0, "escalation.manager" in steps()),
            "the manager, a full SLA after the resume",
        )
        assert time.monotonic() - at >= 2.5

        assert (await _cli(client, "resume", second, "--by", "maria")).returncode == 0

        async def enrolled() -> bool:
            return "hold" in (await account(second)).enrollments

        await eventually(enrolled, "the second account enrolls once resumed")
        why = await _cli(client, "why", first)
        assert "account  paused  account.pause  paused by maria: legal hold" in why.stdout
        assert "resumed" in why.stdout
    unknown = await _cli(client, "pause", "nobody", "--by", "maria")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("playbook: no account 'nobody' in ")
