"""A held-out account gets no customer email from a playbook with a holdout, and its decision
log says why; an account in the treated arm gets the email. The fixture set on the
time-skipping server with the real action activities: aiosmtpd for email, a SQLite store
for tasks and the decision log.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._start import publish, send
from engine.journeys import _search as sa
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AttributeChange, HealthEvent
from engine.language._experiments import assign
from tests.support import eventually
from tests.workers.test_email import Mailbox, smtp_server
from workers import history
from workers.activities import Actions
from workers.directory import Directory
from workers.outbound import OutboundSettings
from workers.store import open_store
from workers.worker import build_worker

FIXTURES = Path(__file__).parents[1] / "fixtures" / "experiments"


async def test_a_held_out_account_gets_no_customer_email_and_its_decisions_say_why(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    (tmp_path / "people.yaml").write_text("people:\n  sam@cs.example: {name: Sam Lee}\n")
    database = f"sqlite:///{tmp_path / 'playbook.db'}"
    queue = f"q-{uuid.uuid4()}"
    client = skipping_env.client
    found = load([FIXTURES])
    plan = found.plan("rescue")
    assert plan.experiment is not None
    arms = {f"acct-{i}": assign(plan.experiment, f"acct-{i}", "rescue")[0] for i in range(40)}
    held = next(a for a, arm in arms.items() if arm == "holdout")
    treated = next(a for a, arm in arms.items() if arm == "treated")
    catalog = build_catalog(found.plans(), found.health_plan())  # type: ignore[arg-type]
    mailbox = Mailbox()
    with smtp_server(mailbox) as smtp:
        actions = Actions(
            store=open_store(database),
            directory=Directory.load(tmp_path / "people.yaml"),
            smtp=smtp,
            outbound=OutboundSettings.from_env({}),
        )
        async with build_worker(client, queue, actions.activities()):
            await publish(client, catalog, queue)
            for account in (held, treated):
                attributes = {
                    "name": account,
                    "segment": "smb",
                    "owner": "sam@cs.example",
                    "contact_email": f"admin@{account}.example",
                }
                await send(client, account, AttributeChange(set=attributes), queue)
                await send(client, account, HealthEvent(score=30), queue)

            async def enrolled() -> bool:
                for account in (held, treated):
                    handle = client.get_workflow_handle(f"account/{account}")
                    status: AccountStatus = await handle.query(AccountWorkflow.status)
                    if "rescue" not in status.enrollments:
                        return False
                return True

            await eventually(enrolled, "both accounts enroll in rescue")
            await skipping_env.sleep(timedelta(days=1))
            store = open_store(database)

            async def tasks_filed() -> bool:
                return all(store.list_tasks(account=a) for a in (held, treated))

            await eventually(tasks_filed, "the call task is filed for both (internal: run)")
            run = client.get_workflow_handle(f"playbook/rescue/{held}/1")
            attributes = (await run.describe()).typed_search_attributes
            assert attributes.get(sa.EXPERIMENT_ARM) == "rescue-q1:holdout"
        await actions.aclose()

    recipients = [str(m["To"]) for m in mailbox.messages()]
    assert recipients == [f"admin@{treated}.example"]
    decisions = [r.decision for r in history.decisions(store, held)]
    assignment = next(d for d in decisions if d.kind == "experiment")
    assert assignment.seen["arm"] == "holdout" and assignment.seen["experiment"] == "rescue-q1"
    skipped = next(d for d in decisions if d.kind == "held_out")
    assert skipped.rule == "steps.reach-out"
    assert "held out by experiment rescue-q1: no customer-facing actions" in skipped.detail
    treated_log = [r.decision for r in history.decisions(store, treated)]
    assert not any(d.kind == "held_out" for d in treated_log)
    assert next(d for d in treated_log if d.kind == "experiment").seen["arm"] == "treated"
    store.close()
