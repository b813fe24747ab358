"""The decision log outlives Temporal's retention: a journey run to its end on the dev server,
then its workflows deleted through the Temporal API (what retention does to closed runs), and
`playbook why` and `playbook report` print the same as before, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._attributes import register
from engine.client._operate import overview
from engine.client._start import account_workflow_id, publish, send
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AttributeChange, HealthEvent
from tests.support import Recorder, eventually, fresh_namespace
from workers import history
from workers.store import open_store
from workers.worker import build_worker

PLAYBOOK = Path(sys.executable).parent / "playbook"
JOURNEYS = Path(__file__).parents[1] / "fixtures" / "journeys"
# The report's sections read from the store alone. The others count running accounts in
# visibility: deleting the account's own (running) workflow changes them, as it should;
# retention never deletes a running workflow.
STORE_SECTIONS = ("title", "== Retention", "== Onboarding", "== Playbook effectiveness")


async def _delete(client: Client, workflow_id: str) -> None:
    """Delete a workflow through the Temporal API, as retention does, and wait until it and
    its visibility record are gone."""
    # By run id: the one execution retention would delete.
    run_id = (await client.get_workflow_handle(workflow_id).describe()).run_id
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        )
    )

    async def gone() -> bool:
        try:
            await client.get_workflow_handle(workflow_id).describe()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            count = await client.count_workflows(f"WorkflowId = '{workflow_id}'")
            return count.count == 0
        return False

    # The server deletes asynchronously: about 35 s after the request on the dev server.
    await eventually(gone, f"{workflow_id} deleted", 120)


def _sections(report: str) -> dict[str, str]:
    parts = report.split("\n\n")
    return {part.splitlines()[0]: part for part in parts[1:]} | {"title": parts[0]}


async def test_why_and_report_are_the_same_after_the_workflows_are_deleted(
    dev_env: WorkflowEnvironment, store_url: str, tmp_path: Path
) -> None:
    """Rescue enrolled by a drop and ended by its goal: deleting the closed run changes neither
    `why` nor `report`; deleting the account's workflow too leaves `why` the same, and the
    report's sections that read the store."""
    client = await fresh_namespace(dev_env)
    await register(client, client.namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"hooli-{queue[-6:]}"
    run_id = f"playbook/rescue/{account}/1"
    book = tmp_path / "book"
    book.mkdir()
    shutil.copy(JOURNEYS / "health.yaml", book)
    # Rescue alone: no upsell enrolls at the recovery, so the journey's end is the story's.
    rescue = (JOURNEYS / "rescue.yaml").read_text().replace("suppresses: [upsell]\n", "")
    (book / "rescue.yaml").write_text(rescue)
    loaded = load([book])
    today = datetime.now(UTC).date()
    period = f"{today - timedelta(days=1)}..{today + timedelta(days=1)}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_")},
        "PLAYBOOK_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "PLAYBOOK_TEMPORAL_NAMESPACE": client.namespace,
        "PLAYBOOK_DATABASE_URL": store_url,
    }

    async def playbook(*args: str) -> str:
        done = await asyncio.to_thread(
            subprocess.run,
            [str(PLAYBOOK), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    with open_store(store_url) as store:
        async with build_worker(client, queue, Recorder(store=store).activities()):
            await publish(client, build_catalog(loaded.plans(), loaded.health_plan()), queue)  # type: ignore[arg-type]
            await send(client, account, AttributeChange(set={"segment": "smb", "arr": 9000}), queue)
            await send(client, account, HealthEvent(score=30), queue)

            async def enrolled() -> bool:
                return "rescue" in (await overview(client, account)).runs

            await eventually(enrolled, "rescue enrolls on the drop")
            await send(client, account, HealthEvent(score=96), queue)

            async def settled() -> bool:
                view = await overview(client, account)
                live = len(view.account.why) + sum(len(r.why) for r in view.runs.values())
                logged = await asyncio.to_thread(history.decisions, store, account)
                ended = await asyncio.to_thread(
                    history.journeys,
                    store,
                    datetime.now(UTC) - timedelta(days=1),
                    datetime.now(UTC),
                )
                running = await client.count_workflows("ExecutionStatus = 'Running'")
                # Running: the account and the catalog; the run closed, in visibility too.
                return len(logged) == live and len(ended) == 1 and running.count == 2

            await eventually(settled, "the run ended, all recorded, visibility caught up", 30)
            why = await playbook("why", account)
            report = await playbook("report", "--period", period)
            assert "goal" in why and "rescue v1  enrolled" in why
            assert "rescue\t0\t1\t1\t1" in report  # running, enrolled, ended, goal

            await _delete(client, run_id)
            assert await playbook("why", account) == why
            assert await playbook("report", "--period", period) == report

            await _delete(client, account_workflow_id(account))
            assert await playbook("why", account) == why
            after = _sections(await playbook("report", "--period", period))
            before = _sections(report)
            for title in STORE_SECTIONS:
                assert after[title] == before[title], title
