"""A costly template on a real worker: it stops at its bound, off the event loop.

A template that passes validation can still take forever (a macro that calls itself twice
per level). On a real worker, with real SMTP and a real Temporal server, its email fails for
good with the bound named in the run's why, nothing is sent, and while it renders the same
worker keeps answering another account's queries.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine import load
from engine.journeys._messages import ActionRequest, RunInput, RunResult
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._facts import Facts, Health
from tests.support import eventually
from tests.workers.test_email import Mailbox, smtp_server
from workers.activities import Actions
from workers.directory import Directory
from workers.outbound import OutboundSettings
from workers.simulate.recorder import Recorder
from workers.store import open_store

HEALTH = Path(__file__).parents[1] / "fixtures" / "journeys" / "health.yaml"
# Two calls per level: 2**40 calls, no loop and no constant the validator could object to.
HEAVY = """
kind: EmailTemplate
name: heavy
subject: Hello {{ recipient.name }}
text: |
  {% macro grow(n) %}{% if n %}{{ grow(n - 1) }}{{ grow(n - 1) }}{% endif %}{% endmacro %}
  {{ grow(40) }}
"""
PLAYBOOK = """
kind: Playbook
name: {name}
version: 1
description: One email after a wait.
owner: cs-ops@example.com
stage: onboard
entry:
  event: contract.signed
steps:
  - {{id: pause, type: wait, for: {wait}}}
  - {{id: hello, type: email, template: heavy, to: [customer]}}
"""
ACCOUNT = {"name": "Acme Corp", "contact_email": "dana@acme.example", "contact_name": "Dana"}


async def _rendering(handle: WorkflowHandle) -> bool:
    described = await handle.describe()
    return any(
        activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        for activity in described.raw_description.pending_activities
    )


async def test_a_costly_template_stops_at_its_bound_while_the_worker_serves_others(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The email fails for good with the time bound in why, nothing is sent, and queries of
    another account answer within a fraction of a second while it renders."""
    book = tmp_path / "book"
    book.mkdir()
    (book / "health.yaml").write_text(HEALTH.read_text())
    (book / "heavy.yaml").write_text(HEAVY)
    (book / "now.yaml").write_text(PLAYBOOK.format(name="now", wait="1s"))
    (book / "later.yaml").write_text(PLAYBOOK.format(name="later", wait="30d"))
    plans = load([book])
    queue = f"q-{uuid.uuid4()}"
    start = await skipping_env.get_current_time()
    mailbox = Mailbox()

    def run(name: str, account: str) -> RunInput:
        return RunInput(
            plan=plans.plan(name),
            account_id=account,
            cycle=1,
            enrolled_at=start,
            facts=Facts(now=start, health=Health(), account=ACCOUNT),
        )

    with smtp_server(mailbox) as smtp:
        actions = Actions(
            store=open_store(f"sqlite:///{tmp_path / 'playbook.db'}"),
            directory=Directory(),
            smtp=smtp,
            outbound=OutboundSettings(),
        )
        async with Worker(
            skipping_env.client,
            task_queue=queue,
            workflows=[PlaybookRunWorkflow],
            activities=actions.activities(),
        ):
            other = await skipping_env.client.start_workflow(
                PlaybookRunWorkflow.run,
                run("later", "other"),
                id=f"playbook/later/other/{queue}",
                task_queue=queue,
            )
            await eventually(
                lambda: other.query(PlaybookRunWorkflow.status), "the other run answers"
            )
            heavy = await skipping_env.client.start_workflow(
                PlaybookRunWorkflow.run,
                run("now", "acme"),
                id=f"playbook/now/acme/{queue}",
                task_queue=queue,
                result_type=RunResult,
            )
            heavy_done = asyncio.Event()
            waiting = asyncio.create_task(heavy.result())
            waiting.add_done_callback(lambda _: heavy_done.set())
            await eventually(lambda: _rendering(heavy), "the heavy email is rendering", 20)
            # Queries go on from the render's start to its end; each is timed.
            slowest = 0.0
            while not heavy_done.is_set():
                began = time.monotonic()
                await asyncio.wait_for(other.query(PlaybookRunWorkflow.status), 30)
                slowest = max(slowest, time.monotonic() - began)
                await asyncio.sleep(0.05)
            result = await waiting
            status = await heavy.query(PlaybookRunWorkflow.status)
        await actions.aclose()
    # Blocked behind the render, a query would wait the render's full 2 s (or forever).
    assert slowest < 1.0, f"a query waited {slowest:.2f} s behind the render"
    failed = [d.detail for d in status.why if d.kind == "action_failed"]
    assert failed and "longer than 2 s" in failed[0], status.why
    assert isinstance(result, RunResult)
    assert mailbox.messages() == []


async def test_a_simulation_records_the_bound_without_blocking(tmp_path: Path) -> None:
    """The simulation's recorder renders as the worker does: in a thread, bounded, and the
    failure is recorded with the bound's reason."""
    book = tmp_path / "book"
    book.mkdir()
    (book / "health.yaml").write_text(HEALTH.read_text())
    (book / "heavy.yaml").write_text(HEAVY)
    (book / "now.yaml").write_text(PLAYBOOK.format(name="now", wait="1s"))
    plan = load([book]).plan("now")
    node = plan.nodes["hello"]
    request = ActionRequest(
        idempotency_key="playbook/now/acme/1/hello/1",
        workflow_id="playbook/now/acme/1",
        account_id="acme",
        playbook="now",
        version=1,
        step="hello",
        node=node,
        template=plan.templates["heavy"],
        account=ACCOUNT,
    )
    recorder = Recorder(Directory())
    lags: list[float] = []

    async def tick() -> None:
        while True:
            began = time.monotonic()
            await asyncio.sleep(0.05)
            lags.append(time.monotonic() - began - 0.05)

    ticker = asyncio.create_task(tick())
    try:
        with pytest.raises(ApplicationError, match="longer than 2 s"):
            await recorder.perform_action(request)
    finally:
        ticker.cancel()
    assert recorder.actions[0].error and "longer than 2 s" in recorder.actions[0].error
    assert len(lags) > 10 and max(lags) < 1.0
