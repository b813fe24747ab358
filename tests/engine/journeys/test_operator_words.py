"""What an operator reads in the Temporal UI about a running journey, on the real dev server.

A churn-prevention run for an account whose health drops: its start carries a summary and
details (playbook, version, why it entered), every activity and timer says in words what it
is for, and the current details say the step, the escalation tier and its SLA, and the last
decision. The account says who it is, its health and its journeys.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from engine.client._attributes import register
from engine.client._converter import DATA_CONVERTER
from engine.client._start import account_workflow_id, publish, send
from engine.journeys import _summaries
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AttributeChange, HealthEvent, RunStatus
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._plan import WebhookNode
from tests.support import Recorder, eventually, fresh_namespace, shipped_without_calendar
from workers.worker import build_worker

PLAYBOOKS = Path(__file__).parents[3] / "playbooks"


async def churning_account(client: Client, queue: str, account: str) -> WorkflowHandle[Any, Any]:
    """An enterprise account at 85, then 25: churn-prevention engages the CSM tier."""
    await register(client, client.namespace)
    shipped = shipped_without_calendar()
    await publish(client, build_catalog(shipped.plans(), shipped.health_plan()), queue)  # type: ignore[arg-type]
    renewal = (datetime.now(UTC) + timedelta(days=200)).date().isoformat()
    attributes = {
        "name": "Initech",
        "segment": "enterprise",
        "owner": "dana@example.com",
        "renewal_date": renewal,
    }
    await send(client, account, AttributeChange(set=attributes), queue)
    await send(client, account, HealthEvent(score=85), queue)
    await send(client, account, HealthEvent(score=25), queue)
    run = client.get_workflow_handle(f"playbook/churn-prevention/{account}/1")

    async def waiting_for_turnaround() -> bool:
        try:
            status: RunStatus = await run.query(PlaybookRunWorkflow.status)
        except Exception:  # noqa: BLE001 - not started yet
            return False
        return status.step == "turnaround" and status.escalation_tier == "csm"

    await eventually(waiting_for_turnaround, "the run waits at turnaround, the CSM engaged")
    return run


async def metadata(handle: WorkflowHandle[Any, Any]) -> WorkflowMetadata:
    result: WorkflowMetadata = await handle.query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    return result


async def summaries(handle: WorkflowHandle[Any, Any]) -> dict[str, list[str]]:
    """Each activity's and timer's summary in the run's history, by event type."""
    found: dict[str, list[str]] = {"activity": [], "timer": []}
    async for event in handle.fetch_history_events():
        kind = {
            EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity",
            EventType.EVENT_TYPE_TIMER_STARTED: "timer",
        }.get(event.event_type)
        if kind is None:
            continue
        payload = event.user_metadata.summary
        text = DATA_CONVERTER.payload_converter.from_payload(payload, str) if payload.data else ""
        found[kind].append(text)
    return found


async def test_a_run_says_in_words_what_it_does_and_why(dev_env: WorkflowEnvironment) -> None:
    """Start summary and details, activity and timer summaries, current details."""
    client = await fresh_namespace(dev_env)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"initech-{queue[-6:]}"
    recorder = Recorder()
    async with build_worker(client, queue, actions=recorder.activities()):
        run = await churning_account(client, queue, account)
        description = await run.describe()
        assert await description.static_summary() == (
            f"churn-prevention v1 for {account} (cycle 1)"
        )
        details = await description.static_details()
        assert details is not None
        assert "**churn-prevention** v1, retain" in details
        assert "Entered by `entry.when`" in details and '"health.tier": "critical"' in details

        words = await summaries(run)
        assert "email customer, cc csm: churn-outreach (step reach-out)" in words["activity"]
        root_cause = [s for s in words["activity"] if s.startswith("task for csm: Root-cause")]
        assert root_cause and "(step root-cause)" in root_cause[0]
        assert (
            "escalation tier csm: task for csm: At-risk account: acknowledge and write a CSM"
            " action plan" in words["activity"]
        )
        assert "escalation tier csm: email csm: churn-risk-csm" in words["activity"]
        assert any(s.startswith("wait_for turnaround: recheck, gives up") for s in words["timer"])
        assert "ack SLA of tier csm: 2d" in words["timer"]
        assert not any(s == "" for s in words["activity"] + words["timer"])

        now = (await metadata(run)).current_details
        assert "**churn-prevention** v1 for **" + account + "**" in now
        assert "Step: `turnaround`, waiting for its condition, gives up" in now
        assert "Escalation: tier `csm` engaged, ack SLA runs out" in now
        assert "Last decision:" in now

        home = client.get_workflow_handle(account_workflow_id(account))
        assert await (await home.describe()).static_summary() == (
            f"account {account}: health, attributes and journeys"
        )
        about = (await metadata(home)).current_details
        assert f"**Initech** ({account}): enterprise, dana@example.com" in about
        assert "Health: 25 (critical)" in about
        assert "`churn-prevention` running (cycle 1)" in about


def test_durations_and_hosts_read_as_playbooks_write_them() -> None:
    """14d, 2d 4h, 90m as 1h 30m; a webhook's host without user, password, port or query."""
    assert _summaries.duration(14 * 86_400) == "14d"
    assert _summaries.duration(2 * 86_400 + 4 * 3_600 + 59) == "2d 4h"
    assert _summaries.duration(5_400) == "1h 30m"
    assert _summaries.duration(0) == "0s"
    node = WebhookNode(
        id="crm", url="https://bot:s3cret@crm.example.com:8443/hook?api_key=k", method="POST"
    )
    from engine.journeys._messages import ActionRequest

    request = ActionRequest(
        idempotency_key="k",
        workflow_id="w",
        account_id="a",
        playbook="p",
        version=1,
        step="crm",
        node=node,
        account={},
        health={},
    )
    text = _summaries.action(request, datetime(2026, 1, 1, tzinfo=UTC))
    assert text == "webhook POST crm.example.com (step crm)"
    assert "s3cret" not in text and "api_key" not in text
