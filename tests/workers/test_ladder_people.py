"""The churn ladder reaches the right person at each tier, by email, task and chat, and an
acknowledgement through `playbook tasks ack` stops the climb: of two accounts that turn
critical, the one whose manager acknowledges stays at the manager; the other reaches the
executive.

The shipped playbooks on the time-skipping server with the real action activities: aiosmtpd
for email, a local chat webhook, a SQLite task store, and the `playbook` CLI as a CSM manager
would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._start import publish, send
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AttributeChange, HealthEvent, RunStatus
from engine.journeys._run import PlaybookRunWorkflow
from tests.support import eventually
from tests.workers.test_email import Mailbox, smtp_server
from tests.workers.test_outbound import serve
from workers.activities import Actions
from workers.directory import Directory
from workers.outbound import OutboundSettings
from workers.store import open_store
from workers.worker import build_worker

PLAYBOOK = Path(sys.executable).parent / "playbook"
PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
PEOPLE = """
people:
  sam@cs.example: {name: Sam Lee, chat: "@sam", manager: fox@cs.example}
  fox@cs.example: {name: Fox Mulder, chat: "@fox", manager: walter@cs.example}
  walter@cs.example: {name: Walter Skinner, chat: "@walter"}
"""


async def test_each_tier_engages_its_person_and_a_cli_ack_stops_the_climb(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    (tmp_path / "people.yaml").write_text(PEOPLE)
    database = f"sqlite:///{tmp_path / 'playbook.db'}"
    queue = f"q-{uuid.uuid4()}"
    account = f"globex-{queue[-6:]}"
    silent = f"initech-{queue[-6:]}"  # nobody acknowledges: it climbs to the executive
    client = skipping_env.client
    shipped = load([PLAYBOOKS])
    catalog = build_catalog(shipped.plans(), shipped.health_plan())  # type: ignore[arg-type]
    renewal = (await skipping_env.get_current_time() + timedelta(days=200)).date().isoformat()
    mailbox = Mailbox()
    with smtp_server(mailbox) as smtp, serve() as chat:
        actions = Actions(
            store=open_store(database),
            directory=Directory.load(tmp_path / "people.yaml"),
            smtp=smtp,
            outbound=OutboundSettings.from_env(
                {
                    "PLAYBOOK_OUTBOUND_ALLOW": "127.0.0.1",
                    "PLAYBOOK_CHAT_DEFAULT_WEBHOOK": chat.url("/chat"),
                }
            ),
        )
        async with build_worker(client, queue, actions.activities()):
            await publish(client, catalog, queue)
            attributes = {
                "name": "Globex",
                "segment": "enterprise",
                "owner": "sam@cs.example",
                "contact_email": "hank@globex.example",
                "arr": 120_000,
                "renewal_date": renewal,
            }
            for each in (account, silent):
                await send(client, each, AttributeChange(set=attributes), queue)
                await send(client, each, HealthEvent(score=85), queue)
                await send(client, each, HealthEvent(score=30), queue)
            handle = client.get_workflow_handle(f"account/{account}")

            async def enrolled() -> bool:
                status: AccountStatus = await handle.query(AccountWorkflow.status)
                return "churn-prevention" in status.enrollments

            await eventually(enrolled, "churn-prevention enrolls")
            run = client.get_workflow_handle(f"playbook/churn-prevention/{account}/1")
            await skipping_env.sleep(timedelta(days=2, hours=2))
            status: RunStatus = await run.query(PlaybookRunWorkflow.status)
            assert status.escalation_tier == "manager"

            store = open_store(database)
            ladder = sorted(
                (t for t in store.list_tasks(account=account) if t.scope == "ladder"),
                key=lambda t: t.id,
            )
            assert [(t.step, t.assignee) for t in ladder] == [
                ("escalation.csm", "sam@cs.example"),
                ("escalation.manager", "fox@cs.example"),
            ]
            manager_task = ladder[1].id
            ack = subprocess.run(
                [str(PLAYBOOK), "tasks", "ack", str(manager_task), "--by", "fox@cs.example"],
                capture_output=True,
                text=True,
                timeout=60,
                env={
                    **{k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_")},
                    "DATABASE_URL": database,
                    "PLAYBOOK_TEMPORAL_ADDRESS": client.service_client.config.target_host,
                },
            )
            assert ack.returncode == 0, ack.stderr

            async def acknowledged() -> bool:
                current: RunStatus = await run.query(PlaybookRunWorkflow.status)
                return current.acknowledged_by == "fox@cs.example"

            await eventually(acknowledged, "the ack reaches the run")
            await skipping_env.sleep(timedelta(days=3))
            status = await run.query(PlaybookRunWorkflow.status)
            assert status.escalation_tier == "manager"
            climbed = client.get_workflow_handle(f"playbook/churn-prevention/{silent}/1")
            assert (await climbed.query(PlaybookRunWorkflow.status)).escalation_tier == "executive"
        await actions.aclose()

    to = [str(m["To"]) for m in mailbox.messages()]
    assert to.count("sam@cs.example") == 2  # each account's CSM tier, by email
    assert to.count("walter@cs.example") == 1  # the executive, only where nobody acked
    posts = [json.loads(r.body) for r in chat.requests]
    manager_posts = [p for p in posts if p.get("channel") == "#cs-escalations"]
    assert len(manager_posts) == 2 and all("@fox" in p["text"] for p in manager_posts)
    executive_posts = [p for p in posts if p.get("channel") == "#cs-exec-escalations"]
    assert len(executive_posts) == 1 and "@walter" in executive_posts[0]["text"]
    assert store.get(manager_task).status == "acknowledged"
    store.close()
