"""The shipped playbooks on the real dev server: reaction to a health drop, and visibility.

The time-skipping server proves the calendar; this proves the running product: an account
whose health collapses reaches its first escalation activity (the latency is printed with
``-s``, and measured properly by ``bench/reaction.py``), and operators find it by the
search attributes the workflows upsert.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._attributes import register
from engine.client._start import publish, send
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import (
    ActionReceipt,
    ActionRequest,
    AttributeChange,
    CloseRequest,
    HealthEvent,
)
from tests.support import eventually, fresh_namespace, ignore_history
from workers.worker import build_worker

PLAYBOOKS = Path(__file__).parents[3] / "playbooks"


async def ids(client: Client, query: str) -> set[str]:
    return {execution.id async for execution in client.list_workflows(query)}


async def test_health_drop_reaches_the_executive_and_operators_can_find_it(
    dev_env: WorkflowEnvironment,
) -> None:
    """A critical account near renewal: escalation activity runs; search attributes list it."""
    client = await fresh_namespace(dev_env)
    await register(client, client.namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    engaged: list[tuple[float, str]] = []

    @activity.defn(name="perform_action")
    async def perform_action(request: ActionRequest) -> ActionReceipt:
        engaged.append((time.perf_counter(), request.step))
        return ActionReceipt(idempotency_key=request.idempotency_key, detail="recorded")

    @activity.defn(name="close_items")
    async def close_items(request: CloseRequest) -> ActionReceipt:
        return ActionReceipt(idempotency_key=request.workflow_id, detail="closed")

    shipped = load([PLAYBOOKS])
    catalog = build_catalog(shipped.plans(), shipped.health_plan())  # type: ignore[arg-type]
    renewal = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    async with build_worker(client, queue, actions=[perform_action, close_items, ignore_history]):
        await publish(client, catalog, queue)
        attributes: dict[str, Any] = {
            "segment": "enterprise",
            "owner": "dana@example.com",
            "renewal_date": renewal,
        }
        await send(client, account, AttributeChange(set=attributes), queue)
        await send(client, account, HealthEvent(score=85), queue)

        async def healthy() -> set[str]:
            return await ids(client, f"AccountId = '{account}' AND HealthTier = 'healthy'")

        await eventually(healthy, "the account is listed as healthy")
        dropped = time.perf_counter()
        await send(client, account, HealthEvent(score=25), queue)

        async def escalated() -> bool:
            return any(step.startswith("escalation.") for _, step in engaged)

        await eventually(escalated, "the first escalation activity runs")
        first, step = next((at, s) for at, s in engaged if s.startswith("escalation."))
        print(f"health drop -> first escalation activity: {(first - dropped) * 1000:.0f} ms")
        # Critical with the renewal inside 30 days: straight to the executive tier.
        assert step == "escalation.executive"

        run = f"playbook/churn-prevention/{account}/1"

        async def listed_executive() -> bool:
            return run in await ids(client, "EscalationTier = 'executive'")

        await eventually(listed_executive, "the run is listed at escalation tier executive")
        assert await ids(client, f"Playbook = 'churn-prevention' AND AccountId = '{account}'") == {
            run
        }
        critical = await ids(
            client,
            "HealthTier = 'critical' AND Segment = 'enterprise' AND Owner = 'dana@example.com'",
        )
        assert f"account/{account}" in critical
