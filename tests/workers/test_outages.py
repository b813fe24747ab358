"""Outages and refusals end as a CS team expects: a server that is down for longer than any
fixed number of tries gets every email once when it returns; a refused recipient fails the
step, sends nothing, and shows in status and why.

Real everything: the dev server, a worker in this process with the real action activities,
aiosmtpd on loopback, a SQLite store. The retry clock is shortened by the worker's settings
(RetrySettings, as PLAYBOOK_RETRY_* set it), not by a mock.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._attributes import register
from engine.client._operate import overview, why_decisions, why_lines
from engine.client._start import publish, send
from engine.client._status import status_lines
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AccountEvent, AttributeChange
from tests.support import eventually, fresh_namespace
from tests.workers.test_email import Mailbox, free_port, smtp_server
from workers.activities import Actions
from workers.backoff import RetrySettings
from workers.directory import Directory
from workers.email import SmtpSettings
from workers.outbound import OutboundSettings
from workers.store import open_store
from workers.worker import build_worker

JOURNEYS = Path(__file__).parents[1] / "fixtures" / "journeys"
# The old policy gave up after 10 tries; these runs see more than that.
OLD_LIMIT = 10
WELCOME = """
kind: Playbook
name: welcome
version: 1
description: A new customer hears from us, their CSM in copy, and the CSM gets a task.
owner: cs-ops@example.com
stage: onboard
entry:
  event: contract.signed
steps:
  - id: hello
    type: email
    template: hello
    to: [customer]
    cc: [csm]
  - id: follow-up
    type: task
    title: Call the new customer
    assignee: csm
    due: 2d
"""
HELLO = """
kind: EmailTemplate
name: hello
subject: "Welcome, {{ account.name }}"
text: "Hi {{ recipient.name }}, {{ csm.name }} will call you this week."
"""


@asynccontextmanager
async def engine_on(
    dev_env: WorkflowEnvironment, tmp_path: Path, smtp: SmtpSettings
) -> AsyncIterator[tuple[Client, str]]:
    """A namespace with the welcome playbook published and a worker serving it."""
    client = await fresh_namespace(dev_env)
    await register(client, client.namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    book = tmp_path / "book"
    book.mkdir()
    shutil.copy(JOURNEYS / "health.yaml", book / "health.yaml")
    (book / "welcome.yaml").write_text(WELCOME)
    (book / "hello.yaml").write_text(HELLO)
    loaded = load([book])
    store = open_store(f"sqlite:///{tmp_path / 'playbook.db'}")
    actions = Actions(
        store=store,
        directory=Directory(),
        smtp=smtp,
        outbound=OutboundSettings(),
        retry=RetrySettings(initial=0.05, maximum=0.2),
    )
    async with build_worker(client, queue, actions.activities()):
        await publish(client, build_catalog(loaded.plans(), loaded.health_plan()), queue)
        yield client, queue
    store.close()


async def sign(client: Client, queue: str, account: str, contact: str) -> None:
    attributes = {
        "name": account.title(),
        "owner": "sam@cs.example",
        "contact_email": contact,
        "contact_name": "Dana",
    }
    await send(client, account, AttributeChange(set=attributes), queue)
    await send(client, account, AccountEvent(name="contract.signed"), queue)


async def ended(client: Client, account: str) -> bool:
    run = client.get_workflow_handle(f"playbook/welcome/{account}/1")
    try:
        return (await run.describe()).status == WorkflowExecutionStatus.COMPLETED
    except RPCError:  # not started yet
        return False


async def test_an_smtp_outage_longer_than_the_old_limit_ends_in_one_email_each(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """SMTP down while three journeys email: each keeps trying past the old limit of ten,
    status says so, and when the server comes back each email arrives exactly once."""
    port = free_port()  # nothing listens there yet: connections are refused
    down = SmtpSettings(host="127.0.0.1", port=port, sender="cs@example.com", timeout=5)
    accounts = [f"acct{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    async with engine_on(dev_env, tmp_path, down) as (client, queue):
        for account in accounts:
            await sign(client, queue, account, f"dana@{account}.example")

        async def all_past_the_old_limit() -> bool:
            for account in accounts:
                run = client.get_workflow_handle(f"playbook/welcome/{account}/1")
                try:
                    pending = (await run.describe()).raw_description.pending_activities
                except RPCError:
                    return False
                if not pending or pending[0].attempt <= OLD_LIMIT + 1:
                    return False
            return True

        await eventually(all_past_the_old_limit, "more than ten tries each", seconds=60)
        lines = status_lines(await overview(client, accounts[0]))
        retrying = [line for line in lines if "an action is retrying" in line]
        assert len(retrying) == 1 and "SmtpUnavailable" in retrying[0], lines
        mailbox = Mailbox()
        with smtp_server(mailbox, port=port):
            for account in accounts:
                await eventually(lambda a=account: ended(client, a), f"{account} ends", 30)
        view = await overview(client, accounts[0])
    received = sorted(str(m["To"]) for m in mailbox.messages())
    assert received == sorted(f"dana@{account}.example" for account in accounts)
    assert len({m["Message-ID"] for m in mailbox.messages()}) == len(accounts)
    assert all(envelope.rcpt_tos[1] == "sam@cs.example" for envelope in mailbox.envelopes)
    assert not any("FAILED" in line or "retrying" in line for line in status_lines(view))
    assert any("emailed dana@" in line for line in why_lines(why_decisions(view)))


async def test_a_refused_recipient_fails_the_step_and_shows_in_status_and_why(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """550 for the customer, the CSM in cc accepted: nothing is sent, the step fails with
    the server's words in why and status, and the journey goes on (on_failure: continue)."""
    account = f"acme-{uuid.uuid4().hex[:6]}"
    mailbox = Mailbox(refuse={"dana@gone.example": "550 5.1.1 No such user"})
    with smtp_server(mailbox) as smtp:
        async with engine_on(dev_env, tmp_path, smtp) as (client, queue):
            await sign(client, queue, account, "dana@gone.example")
            await eventually(lambda: ended(client, account), "the journey ends", 30)
            view = await overview(client, account)
    assert mailbox.envelopes == []
    status = "\n".join(status_lines(view))
    assert "FAILED steps.hello" in status
    assert "dana@gone.example: 550 5.1.1 No such user; nothing was sent" in status
    why = "\n".join(why_lines(why_decisions(view)))
    assert "action_failed  steps.hello" in why and "emailed" not in why
    assert "task #" in why  # the next step ran
