"""Worker processes killed with SIGKILL while emails and tasks go out: nothing is lost, and
an email is sent twice only when a kill fell in the window SMTP cannot close.

That window opens when the server has a message's whole content and closes when the ledger
records that the server answered 250: a worker that dies in between cannot know whether the
server kept the message, so its retry sends it again (same Message-ID, so the receiving side
can drop it). The worker records right after the 250, before QUIT, so the window is the
server's answer time plus one ledger write; this test measures that write and checks every
duplicate against the kills.

Real everything: the dev server, `playbook worker` processes, an aiosmtpd server that takes
DATA_SECONDS to answer 250 after DATA, a SQLite store.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._attributes import register
from engine.client._start import publish
from engine.journeys._catalog import build_catalog
from tests.support import eventually, fresh_namespace
from tests.workers.test_email import Mailbox, smtp_server
from tests.workers.test_outages import HELLO, JOURNEYS, WELCOME, ended, sign
from workers.store import open_store

PLAYBOOK = Path(sys.executable).parent / "playbook"
ACCOUNTS = 12
DATA_SECONDS = 0.5
# A ledger write takes milliseconds; this allows for a machine shared by several test runs.
WRITE_SLACK = 1.0


class SlowMailbox(Mailbox):
    """Keeps each message as its content arrives and answers 250 DATA_SECONDS later, as a
    server that queues a message before it answers; a client gone meanwhile does not undo it.
    Notes when each content arrived and when it was (or would have been) answered."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: list[tuple[str, float, float]] = []
        self.answered: dict[str, datetime] = {}
        self.in_flight = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        came = time.monotonic()
        self.envelopes.append(envelope)
        message_id = str(self.messages()[-1]["Message-ID"])
        self.arrived.append((message_id, came, came + DATA_SECONDS))
        self.in_flight += 1
        try:
            await asyncio.sleep(DATA_SECONDS)  # aiosmtpd cancels this when the client dies
        finally:
            self.in_flight -= 1
        self.answered[message_id] = datetime.now(UTC)
        return "250 Message accepted for delivery"


async def test_kill_9_during_sends_loses_nothing_and_repeats_only_inside_the_window(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Three SIGKILLs while twelve journeys email and file tasks: every email and task
    arrives, each task once, and each repeated email was in its server's answer (plus one
    ledger write) when a kill came."""
    client = await fresh_namespace(dev_env)
    await register(client, client.namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    database = tmp_path / "playbook.db"
    book = tmp_path / "book"
    book.mkdir()
    shutil.copy(JOURNEYS / "health.yaml", book / "health.yaml")
    (book / "welcome.yaml").write_text(WELCOME)
    (book / "hello.yaml").write_text(HELLO)
    loaded = load([book])
    accounts = [f"a{i}-{queue[-6:]}" for i in range(ACCOUNTS)]
    mailbox = SlowMailbox()
    kills: list[float] = []
    with smtp_server(mailbox) as smtp:
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_")},
            "PLAYBOOK_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "PLAYBOOK_TEMPORAL_NAMESPACE": client.namespace,
            "PLAYBOOK_TEMPORAL_TASK_QUEUE": queue,
            "DATABASE_URL": f"sqlite:///{database}",
            "PLAYBOOK_SMTP_HOST": "127.0.0.1",
            "PLAYBOOK_SMTP_PORT": str(smtp.port),
            "PLAYBOOK_SMTP_FROM": "cs@example.com",
        }

        def worker() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [str(PLAYBOOK), "worker"],
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        workers = [worker()]
        try:
            await publish(client, build_catalog(loaded.plans(), loaded.health_plan()), queue)

            async def feed() -> None:
                for account in accounts:
                    await sign(client, queue, account, f"dana@{account}.example")
                    await asyncio.sleep(0.5)

            async def in_data() -> bool:
                return mailbox.in_flight > 0

            feeding = asyncio.create_task(feed())
            for mid_data in (True, False, True):
                if mid_data:
                    # A kill while the server holds a message it has not answered yet: the
                    # one moment a repeat cannot be avoided.
                    await eventually(in_data, "an email in DATA")
                else:
                    await asyncio.sleep(1.0)
                kills.append(time.monotonic())
                workers[-1].kill()
                workers[-1].wait(timeout=10)
                workers.append(worker())
                await asyncio.sleep(1.5)
            await feeding
            for account in accounts:
                await eventually(lambda a=account: ended(client, a), f"{account} ends", 60)
        finally:
            for process in workers:
                if process.poll() is None:
                    process.terminate()
                    process.wait(timeout=30)
    assert [process.returncode for process in workers[:3]] == [-9, -9, -9]

    copies = Counter(message_id for message_id, *_ in mailbox.arrived)
    sent_to = {str(m["To"]) for m in mailbox.messages()}
    assert sent_to == {f"dana@{account}.example" for account in accounts}  # nothing lost
    for message_id, count in copies.items():
        # Every copy but the last was answered to a worker that a kill took before it wrote
        # the ledger: the kill fell between the content's arrival and the answer + a write.
        earlier = [a for a in mailbox.arrived if a[0] == message_id][:-1]
        assert len(earlier) == count - 1
        for _, came, answered in earlier:
            assert any(came <= k <= answered + WRITE_SLACK for k in kills), (message_id, kills)
    lags = _ledger_lags(database, mailbox)
    print(
        f"\n{len(mailbox.arrived)} emails received for {ACCOUNTS} accounts,"
        f" {sum(copies.values()) - len(copies)} repeat(s) over {len(kills)} kills;"
        f" ledger written {min(lags) * 1000:.0f}-{max(lags) * 1000:.0f} ms after the 250"
    )
    store = open_store(f"sqlite:///{database}")
    tasks = [t.account_id for t in store.list_tasks(status="all")]
    store.close()
    assert sorted(tasks) == sorted(accounts)  # each task once


def _ledger_lags(database: Path, mailbox: SlowMailbox) -> list[float]:
    """Seconds from each email's 250 (the last copy's) to its ledger record."""
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT detail, recorded_at FROM action_ledger WHERE kind = 'email'")
        recorded = {detail: datetime.fromisoformat(at) for detail, at in rows}
    answered = mailbox.answered
    return [(recorded[m] - answered[m]).total_seconds() for m in recorded if m in answered]
