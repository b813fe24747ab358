"""An account wakes a journey only with news it reads: a health reading costs a journey that
never looks at health no workflow task, and one that reads the tier none while the tier
holds. Attribute changes reach every journey (their actions carry the attributes).

On the time-skipping server, counting the ``update`` signals in each run's history.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._start import account_workflow_id, publish, send
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AccountEvent, AttributeChange, HealthEvent
from tests.support import Recorder, eventually
from workers.worker import build_worker

PLAYBOOKS = Path(__file__).parents[2] / "fixtures" / "forwarding"


async def _status(client: Client, account: str) -> AccountStatus:
    handle = client.get_workflow_handle(account_workflow_id(account))
    found: AccountStatus = await handle.query(AccountWorkflow.status)
    return found


async def _updates(client: Client, workflow_id: str) -> int:
    count = 0
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            count += event.workflow_execution_signaled_event_attributes.signal_name == "update"
    return count


async def test_journeys_are_woken_only_by_what_they_read(skipping_env: WorkflowEnvironment) -> None:
    """onboard reads no health, watch reads the tier: a first reading (a tier appears) wakes
    watch only; a second in the same tier wakes neither; an owner change wakes both; a
    reading in a new tier wakes watch, whose goal then ends it."""
    client = skipping_env.client
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    book = load([PLAYBOOKS])
    ids = {name: f"playbook/{name}/{account}/1" for name in ("onboard", "watch")}

    async def counts() -> dict[str, int]:
        return {name: await _updates(client, workflow_id) for name, workflow_id in ids.items()}

    async def applied(check: Callable[[AccountStatus], bool]) -> Callable[[], Awaitable[bool]]:
        async def done() -> bool:
            return check(await _status(client, account))

        return done

    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, build_catalog(book.plans(), book.health_plan()), queue)  # type: ignore[arg-type]
        await send(client, account, AccountEvent(event_id="e0", name="contract.signed"), queue)
        await eventually(
            await applied(lambda s: {"onboard", "watch"} <= set(s.enrollments)), "both enrolled"
        )
        assert await counts() == {"onboard": 0, "watch": 0}

        await send(client, account, HealthEvent(event_id="e1", score=50), queue)
        await eventually(await applied(lambda s: s.health.score == 50), "the first reading")
        assert await counts() == {"onboard": 0, "watch": 1}

        await send(client, account, HealthEvent(event_id="e2", score=52), queue)
        await eventually(await applied(lambda s: s.health.score == 52), "a reading, same tier")
        assert await counts() == {"onboard": 0, "watch": 1}

        await send(client, account, AttributeChange(event_id="e3", set={"owner": "jo"}), queue)
        await eventually(await applied(lambda s: s.attributes.get("owner") == "jo"), "owner")
        assert await counts() == {"onboard": 1, "watch": 2}
        # The same value again changes nothing: no news for anyone.
        await send(client, account, AttributeChange(event_id="e4", set={"owner": "jo"}), queue)
        await send(client, account, HealthEvent(event_id="e5", score=53), queue)
        await eventually(await applied(lambda s: s.health.score == 53), "after the same owner")
        assert await counts() == {"onboard": 1, "watch": 2}

        await send(client, account, HealthEvent(event_id="e6", score=90), queue)
        await eventually(
            await applied(lambda s: s.enrollments["watch"].ended_by == "goal"), "watch's goal"
        )
        assert await counts() == {"onboard": 1, "watch": 3}
        found = await _status(client, account)
        assert found.enrollments["onboard"].running
        assert found.enrollments["watch"].reads == ["health.tier"]
        assert found.enrollments["onboard"].reads == []
