"""AccountWorkflow on the time-skipping server: enrollment, exclusion, re-entry, versions."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine import load
from engine.client._converter import DATA_CONVERTER
from engine.client._start import publish, send
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import CATALOG_SIGNAL, CatalogNotice, build_catalog
from engine.journeys._messages import (
    ActionReceipt,
    ActionRequest,
    CloseRequest,
    HealthEvent,
    PlaybookExit,
    RunInput,
    RunStatus,
)
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._facts import Facts
from tests.support import ignore_history
from workers.worker import build_worker

JOURNEYS = Path(__file__).parents[2] / "fixtures" / "journeys"


@activity.defn(name="perform_action")
async def perform_action(request: ActionRequest) -> ActionReceipt:
    return ActionReceipt(idempotency_key=request.idempotency_key, detail="recorded")


@activity.defn(name="close_items")
async def close_items(request: CloseRequest) -> ActionReceipt:
    return ActionReceipt(idempotency_key=request.workflow_id, detail="closed")


def worker(client: Client, queue: str) -> Worker:
    return build_worker(client, queue, actions=[perform_action, close_items, ignore_history])


async def eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll a query until it returns something truthy (signals are processed asynchronously)."""
    for _ in range(100):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_enrollment_exclusion_reentry_and_versions(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Health drives enrollment; suppression and cooldown skip with reasons; v1 runs keep v1."""
    client = skipping_env.client
    queue = f"q-{uuid.uuid4()}"
    account = f"acme-{queue[-6:]}"
    v1 = load([JOURNEYS])
    shutil.copytree(JOURNEYS, tmp_path / "v2")
    rescue = tmp_path / "v2" / "rescue.yaml"
    rescue.write_text(rescue.read_text().replace("version: 1", "version: 2"))
    v2 = load([tmp_path / "v2"])

    async def status() -> AccountStatus:
        handle = client.get_workflow_handle(f"account/{account}")
        result: AccountStatus = await handle.query(AccountWorkflow.status)
        return result

    async def health(score: float) -> None:
        await send(client, account, HealthEvent(score=score), queue)

    def enrollment(name: str, cycle: int, running: bool) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            e = (await status()).enrollments.get(name)
            return e is not None and e.cycle == cycle and e.running is running

        return check

    def skipped(name: str, reason: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return any(
                d.kind == "skipped" and d.playbook == name and reason in d.detail
                for d in (await status()).why
            )

        return check

    async with worker(client, queue):
        await publish(client, build_catalog(v1.plans(), v1.health_plan()), queue)  # type: ignore[arg-type]
        await health(90)
        await eventually(enrollment("upsell", 1, True), "upsell enrolls at 90")
        handle = client.get_workflow_handle(f"account/{account}")
        await handle.signal(
            AccountWorkflow.exit_playbook, PlaybookExit(playbook="upsell", reason="test")
        )
        await eventually(enrollment("upsell", 1, False), "upsell ends on exit")

        await health(30)
        await eventually(enrollment("rescue", 1, True), "rescue enrolls on the drop")
        first = (await status()).why[-1]
        assert first.kind == "enrolled" and first.seen == {"health.tier": "critical"}

        second = build_catalog(v2.plans(), v2.health_plan())  # type: ignore[arg-type]
        await publish(client, second, queue)
        # What announce_catalog sends each running account (this server keeps no visibility
        # to list them, so the announcement itself fails here).
        await client.get_workflow_handle(f"account/{account}").signal(
            CATALOG_SIGNAL, CatalogNotice(hash=second.hash)
        )
        await health(85)
        await eventually(skipped("upsell", "suppressed while rescue runs"), "upsell suppressed")
        run = client.get_workflow_handle(f"playbook/rescue/{account}/1")
        run_status: RunStatus = await run.query(PlaybookRunWorkflow.status)
        assert run_status.version == 1

        await health(96)
        await eventually(enrollment("rescue", 1, False), "rescue reaches its goal")
        await health(30)
        await eventually(skipped("rescue", "in cooldown"), "rescue skipped in cooldown")

        # Still at-risk when the cooldown ends: the account enters again by itself.
        await skipping_env.sleep(timedelta(days=31))
        await eventually(enrollment("rescue", 2, True), "rescue re-enrolls after cooldown")
        assert (await status()).enrollments["rescue"].version == 2
        second = client.get_workflow_handle(f"playbook/rescue/{account}/2")
        assert (await second.query(PlaybookRunWorkflow.status)).version == 2


async def test_journeys_get_only_the_history_their_plan_measures(
    skipping_env: WorkflowEnvironment,
) -> None:
    """The account keeps every reading; a journey whose plan measures no change is started
    and updated without them (they were most of each update's size)."""
    client = skipping_env.client
    queue = f"q-{uuid.uuid4()}"
    account = f"acme-{queue[-6:]}"
    journeys = load([JOURNEYS])
    async with worker(client, queue):
        await publish(client, build_catalog(journeys.plans(), journeys.health_plan()), queue)  # type: ignore[arg-type]
        run = client.get_workflow_handle(f"playbook/rescue/{account}/1")

        def updates(count: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                try:
                    events = (await run.fetch_history()).events
                except RPCError:
                    return False  # not enrolled yet
                signals = [e.workflow_execution_signaled_event_attributes for e in events]
                return len([s for s in signals if s.signal_name == "update"]) >= count

            return check

        await send(client, account, HealthEvent(score=70), queue)
        for score, told in ((30, 0), (28, 1), (25, 2)):
            await send(client, account, HealthEvent(score=score), queue)
            await eventually(updates(told), f"rescue enrolled and told of {told} later readings")
        history = await run.fetch_history()
    converter = DATA_CONVERTER.payload_converter
    started = history.events[0].workflow_execution_started_event_attributes
    sent = [converter.from_payload(started.input.payloads[0], RunInput).facts]
    sent += [
        converter.from_payload(
            e.workflow_execution_signaled_event_attributes.input.payloads[0], Facts
        )
        for e in history.events
        if e.workflow_execution_signaled_event_attributes.signal_name == "update"
    ]
    assert len(sent) >= 3
    assert all(facts.history == {} for facts in sent)
