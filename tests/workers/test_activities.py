"""The real action activities under real journeys: SMTP, the task store, nothing mocked.

An onboarding journey on the time-skipping server sends its emails to an aiosmtpd server on
loopback, rendered with both parts, and files its tasks in the store for the people the
directory names; when the run ends, its open tasks are closed with the reason.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine import load
from engine.journeys._messages import ActionRequest, RunInput, RunResult
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._facts import Facts, Health
from engine.language._plan import TierPlan
from tests.workers.test_email import Mailbox, smtp_server
from tests.workers.test_outbound import SECRET, serve
from workers.activities import Actions
from workers.directory import Directory
from workers.email import SmtpSettings
from workers.outbound import OutboundSettings
from workers.store import open_store

PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
PEOPLE = """
people:
  sam@acme-cs.example: {name: Sam Lee, chat: "@sam", manager: fox@acme-cs.example}
  fox@acme-cs.example: {name: Fox Mulder, manager: walter@acme-cs.example}
"""
ACCOUNT = {
    "name": "Acme Corp",
    "segment": "mid-market",
    "owner": "sam@acme-cs.example",
    "contact_email": "dana@acme.example",
    "contact_name": "Dana",
}


async def test_onboarding_sends_rendered_emails_and_files_tasks(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Day 1-30 of onboarding: emails arrive rendered (text + HTML), tasks land in the store."""
    (tmp_path / "people.yaml").write_text(PEOPLE)
    store = open_store(f"sqlite:///{tmp_path / 'playbook.db'}")
    mailbox = Mailbox()
    queue = f"q-{uuid.uuid4()}"
    start = await skipping_env.get_current_time()
    plan = load([PLAYBOOKS]).plan("onboarding")
    with smtp_server(mailbox) as smtp:
        actions = Actions(
            store=store,
            directory=Directory.load(tmp_path / "people.yaml"),
            smtp=smtp,
            outbound=OutboundSettings(),
        )
        async with Worker(
            skipping_env.client,
            task_queue=queue,
            workflows=[PlaybookRunWorkflow],
            activities=actions.activities(),
        ):
            result = await skipping_env.client.execute_workflow(
                PlaybookRunWorkflow.run,
                RunInput(
                    plan=plan,
                    account_id="acme",
                    cycle=1,
                    enrolled_at=start,
                    facts=Facts(
                        now=start,
                        health=Health(score=72, tier="good", trend="stable"),
                        account=ACCOUNT,
                    ),
                ),
                id=f"playbook/onboarding/acme/{queue}",
                task_queue=queue,
                result_type=RunResult,
            )
        await actions.aclose()
    assert result.outcome == "success"

    messages = mailbox.messages()
    assert len(messages) >= 3
    for message in messages:
        assert message["To"] == "dana@acme.example"
        assert "{{" not in str(message["Subject"]) and message["Subject"]
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert text is not None and html is not None
        assert "Acme Corp" in text.get_content() or "Dana" in text.get_content()
    assert messages[0]["Cc"] == "sam@acme-cs.example"
    assert len({m["Message-ID"] for m in messages}) == len(messages)

    reopened = open_store(f"sqlite:///{tmp_path / 'playbook.db'}")
    tasks = reopened.list_tasks(status="all", workflow_id=f"playbook/onboarding/acme/{queue}")
    assert tasks and all(
        t.assignee == "sam@acme-cs.example" for t in tasks if t.assignee_role == "csm"
    )
    # The run ended at its last step: the tasks it handed to people stay open for them.
    assert {t.status for t in tasks} == {"open"}
    reopened.close()


REFUSALS = """
kind: Playbook
name: crm-sync
version: 1
description: Tell the CRM, three ways that must all be refused.
owner: cs-ops@example.com
stage: onboard
entry:
  event: contract.signed
steps:
  - {{id: loopback, type: webhook, url: "{loopback}"}}
  - {{id: metadata, type: webhook, url: "http://169.254.169.254/latest/meta-data/"}}
  - {{id: redirected, type: webhook, url: "{redirect}"}}
"""


async def test_refused_webhooks_are_recorded_in_the_journey(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Loopback without the allowlist, the metadata address and a redirect: each refused, the
    reason in the run's why, and the journey goes on to its end."""
    book = tmp_path / "book"
    book.mkdir()
    (book / "health.yaml").write_text(
        (Path(__file__).parents[1] / "fixtures" / "journeys" / "health.yaml").read_text()
    )
    with serve() as http:
        (book / "crm.yaml").write_text(
            REFUSALS.format(loopback=http.url("/crm"), redirect=http.url("/redirect"))
        )
        plan = load([book]).plan("crm-sync")
        queue = f"q-{uuid.uuid4()}"
        start = await skipping_env.get_current_time()
        # The redirect's server is allowed, so the refusal is the redirect's own.
        outbound = OutboundSettings.from_env(
            {"PLAYBOOK_WEBHOOK_SECRET": SECRET, "PLAYBOOK_OUTBOUND_ALLOW": f"127.0.0.1:{http.port}"}
        )
        actions = Actions(
            store=open_store(f"sqlite:///{tmp_path / 'playbook.db'}"),
            directory=Directory(),
            smtp=SmtpSettings(),
            outbound=outbound,
        )
        loopback_only = OutboundSettings.from_env({"PLAYBOOK_WEBHOOK_SECRET": SECRET})
        strict = Actions(
            store=open_store(f"sqlite:///{tmp_path / 'strict.db'}"),
            directory=Directory(),
            smtp=SmtpSettings(),
            outbound=loopback_only,
        )
        results = {}
        for name, chosen in (("strict", strict), ("allowed", actions)):
            async with Worker(
                skipping_env.client,
                task_queue=f"{queue}-{name}",
                workflows=[PlaybookRunWorkflow],
                activities=chosen.activities(),
            ):
                handle = await skipping_env.client.start_workflow(
                    PlaybookRunWorkflow.run,
                    RunInput(
                        plan=plan,
                        account_id="acme",
                        cycle=1,
                        enrolled_at=start,
                        facts=Facts(now=start, health=Health(), account={}),
                    ),
                    id=f"playbook/crm-sync/acme/{queue}-{name}",
                    task_queue=f"{queue}-{name}",
                )
                await handle.result()
                results[name] = await handle.query(PlaybookRunWorkflow.status)
            await chosen.aclose()
        # The strict worker reached nothing; the allowed one reached /crm and the redirect,
        # never the redirect's target.
        assert http.paths() == ["/crm", "/redirect"]
    failed = {
        name: {d.rule: d.detail for d in status.why if d.kind == "action_failed"}
        for name, status in results.items()
    }
    assert "loopback address" in failed["strict"]["steps.loopback"]
    assert "PLAYBOOK_OUTBOUND_ALLOW" in failed["strict"]["steps.loopback"]
    assert "169.254.169.254" in failed["allowed"]["steps.metadata"]
    assert "redirect" in failed["allowed"]["steps.redirected"]
    assert "steps.loopback" not in failed["allowed"]


async def test_a_tier_task_is_due_at_the_accounts_segments_sla(tmp_path: Path) -> None:
    """ack_sla {enterprise: 4h, default: 1d}: the CSM's task of an enterprise account is due
    4 hours after the tier engaged, an smb account's a day after."""
    tier = TierPlan(
        id="csm",
        notify=["csm"],
        via=["task"],
        title="Save plan",
        ack_sla_seconds=86_400,
        ack_sla_by_segment={"enterprise": 4 * 3600},
    )
    store = open_store(f"sqlite:///{tmp_path / 'tasks.db'}")
    actions = Actions(
        store=store, directory=Directory(), smtp=SmtpSettings(), outbound=OutboundSettings()
    )
    due = {}
    for segment in ("enterprise", "smb"):
        request = ActionRequest(
            idempotency_key=f"playbook/save/{segment}/1/escalation.csm",
            workflow_id=f"playbook/save/{segment}/1",
            account_id=segment,
            playbook="save",
            version=1,
            step="escalation.csm",
            tier=tier,
            channel="task",
            account={"segment": segment, "owner": "sam@example.com"},
        )
        before = datetime.now(UTC)
        await actions.perform_action(request)
        [task] = store.list_tasks(account=segment)
        assert task.due_at is not None
        due[segment] = task.due_at - before
    assert timedelta(hours=4) <= due["enterprise"] < timedelta(hours=4, minutes=1)
    assert timedelta(days=1) <= due["smb"] < timedelta(days=1, minutes=1)
