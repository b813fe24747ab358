"""Exactly once across worker crashes: the process dies after a side effect, before the
activity completes; the next worker retries it and nothing is sent or filed twice.

Real everything: the dev server, `playbook worker` processes, aiosmtpd, an HTTP server and a
SQLite task store. PLAYBOOK_CRASH_AFTER_SIDE_EFFECT makes a worker exit right after the named
step's side effect is done and recorded; the next worker starts without it (or crashes on the
next step), and Temporal retries the dead worker's action after its heartbeat timeout.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._attributes import register
from engine.client._start import publish, send
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AccountEvent, AttributeChange
from tests.support import eventually, fresh_namespace
from tests.workers.test_email import Mailbox, smtp_server
from tests.workers.test_outbound import SECRET, serve, verify_signature
from workers.store import open_store

PLAYBOOK = Path(sys.executable).parent / "playbook"
JOURNEYS = Path(__file__).parents[1] / "fixtures" / "journeys"

HANDOVER = """
kind: Playbook
name: handover
version: 1
description: A new customer meets their CSM, the CRM hears of it, the CSM gets a task.
owner: cs-ops@example.com
stage: onboard
entry:
  event: contract.signed
steps:
  - id: hello
    type: email
    template: hello
    to: [customer]
  - id: crm
    type: webhook
    url: {url}
  - id: follow-up
    type: task
    title: Call the new customer
    assignee: csm
    due: 2d
  - id: done
    type: end
    outcome: success
"""
HELLO = """
kind: EmailTemplate
name: hello
subject: "Welcome, {{ account.name }}"
text: "Hi {{ recipient.name }}, {{ csm.name }} will call you this week."
html: "<p>Hi {{ recipient.name }}, {{ csm.name }} will call you this week.</p>"
"""


async def test_a_crash_after_each_side_effect_sends_and_files_nothing_twice(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Crash after the email, then after the webhook, then after the task: one of each."""
    client = await fresh_namespace(dev_env)
    await register(client, client.namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    database = tmp_path / "playbook.db"
    mailbox = Mailbox()
    with smtp_server(mailbox) as smtp, serve() as http:
        book = tmp_path / "book"
        book.mkdir()
        shutil.copy(JOURNEYS / "health.yaml", book / "health.yaml")
        (book / "handover.yaml").write_text(HANDOVER.format(url=http.url("/crm")))
        (book / "hello.yaml").write_text(HELLO)
        catalog = build_catalog(*_plans(book))
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_")},
            "PLAYBOOK_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "PLAYBOOK_TEMPORAL_NAMESPACE": client.namespace,
            "PLAYBOOK_TEMPORAL_TASK_QUEUE": queue,
            "DATABASE_URL": f"sqlite:///{database}",
            "PLAYBOOK_SMTP_HOST": "127.0.0.1",
            "PLAYBOOK_SMTP_PORT": str(smtp.port),
            "PLAYBOOK_SMTP_FROM": "cs@example.com",
            "PLAYBOOK_WEBHOOK_SECRET": SECRET,
            "PLAYBOOK_OUTBOUND_ALLOW": "127.0.0.1",
        }

        def worker(crash_after: str | None) -> subprocess.Popen[bytes]:
            env = dict(environment)
            if crash_after:
                env["PLAYBOOK_CRASH_AFTER_SIDE_EFFECT"] = crash_after
            return subprocess.Popen(
                [str(PLAYBOOK), "worker"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        workers = [worker("hello")]
        try:
            await publish(client, catalog, queue)
            attributes = {
                "name": "Acme",
                "owner": "sam@cs.example",
                "contact_email": "dana@acme.example",
                "contact_name": "Dana",
            }
            await send(client, account, AttributeChange(set=attributes), queue)
            await send(client, account, AccountEvent(name="contract.signed"), queue)
            # Each worker dies after one side effect; the next retries it, then dies after the
            # next one; the last finishes the journey.
            for crash_after in ("crm", "follow-up", None):
                assert await _exits(workers[-1]) == 86
                workers.append(worker(crash_after))
            run = client.get_workflow_handle(f"playbook/handover/{account}/1")

            async def finished() -> bool:
                # Asked of the server, not by a query: a query can land on the sticky queue of
                # a worker that just died and fail before the server moves on.
                return (await run.describe()).status == WorkflowExecutionStatus.COMPLETED

            await eventually(finished, "the run ends after the crashes", seconds=90)
        finally:
            for process in workers:
                if process.poll() is None:
                    process.terminate()
                    process.wait(timeout=30)

        assert len(mailbox.messages()) == 1
        assert mailbox.messages()[0]["Subject"] == "Welcome, Acme"
        assert http.paths() == ["/crm"]
        seen = http.requests[0]
        assert verify_signature(
            SECRET,
            seen.headers["x-playbook-timestamp"],
            seen.body,
            seen.headers["x-playbook-signature"],
        )
    store = open_store(f"sqlite:///{database}")
    tasks = store.list_tasks(status="all", account=account)
    store.close()
    assert [(t.step, t.assignee) for t in tasks] == [("follow-up", "sam@cs.example")]


def _plans(book: Path) -> tuple[list, object]:  # type: ignore[type-arg]
    loaded = load([book])
    return loaded.plans(), loaded.health_plan()


async def _exits(process: subprocess.Popen[bytes]) -> int:
    """Wait (without blocking the event loop) for a worker to exit; its exit code."""
    for _ in range(1200):
        code = process.poll()
        if code is not None:
            return code
        await asyncio.sleep(0.05)
    raise AssertionError("the worker did not crash where it was told to")
