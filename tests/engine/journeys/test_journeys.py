"""The shipped playbooks through the account workflow, on the time-skipping test server.

These are the product's promises end to end: a health drop walks the churn ladder up to the
executive unless someone acknowledges, recovery ends the play and closes what it opened, and
a renewal journey follows its renewal date when the date moves.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from engine import PlaybookSet
from engine.client._start import publish, send
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import Catalog, build_catalog
from engine.journeys._messages import (
    AccountEvent,
    AttributeChange,
    HealthEvent,
    PlaybookAck,
    RunStatus,
)
from engine.journeys._run import PlaybookRunWorkflow
from tests.support import Recorder, eventually, shipped_without_calendar
from workers.worker import build_worker

PLAYBOOKS = Path(__file__).parents[3] / "playbooks"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    shipped: PlaybookSet = shipped_without_calendar()
    return build_catalog(shipped.plans(), shipped.health_plan())  # type: ignore[arg-type]


@dataclass
class Account:
    """One account on a fresh server with the shipped catalog published and a worker."""

    env: WorkflowEnvironment
    id: str
    queue: str
    recorder: Recorder

    @property
    def client(self) -> Client:
        return self.env.client

    async def send(self, message: HealthEvent | AttributeChange | AccountEvent) -> None:
        await send(self.client, self.id, message, self.queue)

    async def status(self) -> AccountStatus:
        handle = self.client.get_workflow_handle(f"account/{self.id}")
        # Generous: while a burst of thousands of signals is decoded, queries wait their turn.
        result: AccountStatus = await handle.query(
            AccountWorkflow.status, rpc_timeout=timedelta(seconds=60)
        )
        return result

    async def enrolled(self, playbook: str, cycle: int = 1) -> WorkflowHandle[Any, Any]:
        async def check() -> bool:
            e = (await self.status()).enrollments.get(playbook)
            return e is not None and e.cycle == cycle

        await eventually(check, f"{self.id} enrolls in {playbook} cycle {cycle}")
        return self.client.get_workflow_handle(f"playbook/{playbook}/{self.id}/{cycle}")

    async def run_status(self, playbook: str, cycle: int = 1) -> RunStatus:
        handle = self.client.get_workflow_handle(f"playbook/{playbook}/{self.id}/{cycle}")
        result: RunStatus = await handle.query(PlaybookRunWorkflow.status)
        return result

    def days(self, playbook: str, since: datetime) -> list[tuple[float, str]]:
        return [
            (round((at - since) / timedelta(days=1), 2), step)
            for at, name, step, _ in self.recorder.actions
            if name == playbook
        ]


@pytest.fixture
async def account(skipping_env: WorkflowEnvironment, catalog: Catalog) -> AsyncIterator[Account]:
    queue = f"q-{uuid.uuid4()}"
    recorder = Recorder()
    async with build_worker(skipping_env.client, queue, actions=recorder.activities()):
        await publish(skipping_env.client, catalog, queue)
        yield Account(skipping_env, f"acme-{queue[-6:]}", queue, recorder)


ENTERPRISE = AttributeChange(
    set={"segment": "enterprise", "arr": 300_000, "owner": "dana@example.com", "name": "Acme"}
)


async def test_churn_ladder_climbs_to_the_executive_when_nobody_acknowledges(
    account: Account,
) -> None:
    """healthy -> critical: CSM at once, manager after 2d, executive 1d later; why shows it."""
    await account.send(ENTERPRISE)
    await account.send(HealthEvent(score=85))
    await account.send(HealthEvent(score=30))
    await account.enrolled("churn-prevention")
    start = (await account.status()).enrollments["churn-prevention"].started_at

    await account.env.sleep(timedelta(days=3, hours=1))
    status = await account.run_status("churn-prevention")
    assert status.escalation_tier == "executive"
    ladder = [
        (day, step)
        for day, step in account.days("churn-prevention", start)
        if step.startswith("escalation.")
    ]
    assert ladder == [
        (0, "escalation.csm"),
        (0, "escalation.csm"),
        (2, "escalation.manager"),
        (2, "escalation.manager"),
        (3, "escalation.executive"),
        (3, "escalation.executive"),
    ]
    climb = [(d.kind, d.rule) for d in status.why if d.kind in ("escalated", "sla_missed")]
    assert climb == [
        ("escalated", "escalation.tiers.csm"),
        ("sla_missed", "escalation.tiers.csm"),
        ("escalated", "escalation.tiers.manager"),
        ("sla_missed", "escalation.tiers.manager"),
        ("escalated", "escalation.tiers.executive"),
    ]
    enrolled = next(d for d in (await account.status()).why if d.kind == "enrolled")
    assert enrolled.rule == "churn-prevention.entry.when"
    assert enrolled.seen["health.tier"] == "critical"
    assert (enrolled.version, enrolled.hash) == (status.version, status.hash)


async def test_ack_at_the_manager_tier_stops_the_climb_and_recovery_closes_the_play(
    account: Account,
) -> None:
    """An ack at manager holds the ladder there; recovery reaches the goal and closes items."""
    await account.send(ENTERPRISE)
    await account.send(HealthEvent(score=85))
    await account.send(HealthEvent(score=30))
    await account.enrolled("churn-prevention")
    await account.env.sleep(timedelta(days=2, hours=6))
    assert (await account.run_status("churn-prevention")).escalation_tier == "manager"

    handle = account.client.get_workflow_handle(f"account/{account.id}")
    await handle.signal(
        AccountWorkflow.acknowledge,
        PlaybookAck(by="maria@example.com", playbook="churn-prevention"),
    )

    async def acknowledged() -> bool:
        return (await account.run_status("churn-prevention")).acknowledged_by is not None

    await eventually(acknowledged, "the ack reaches the run")
    await account.env.sleep(timedelta(days=5))
    status = await account.run_status("churn-prevention")
    assert (status.escalation_tier, status.acknowledged_by) == ("manager", "maria@example.com")
    assert "escalation.executive" not in account.recorder.steps("churn-prevention")

    await account.send(HealthEvent(score=82))
    # The shipped goal asks for two weeks back in good health, as the ladder's recovery does.
    await account.env.sleep(timedelta(days=13))
    assert (await account.status()).enrollments["churn-prevention"].running
    await account.env.sleep(timedelta(days=1, hours=1))

    async def ended() -> bool:
        e = (await account.status()).enrollments["churn-prevention"]
        return not e.running

    await eventually(ended, "recovery reaches the goal and ends the run")
    status = await account.run_status("churn-prevention")
    assert status.result is not None
    assert (status.result.outcome, status.result.ended_by) == ("success", "goal")
    goal = next(d for d in status.why if d.kind == "goal")
    assert goal.seen["health.tier"] == "healthy"
    run_id = f"playbook/churn-prevention/{account.id}/1"
    # The ladder's recovery (14 days) steps down first, then the goal (held as long) closes
    # the rest.
    assert [(c.workflow_id, c.scope) for c in account.recorder.closed] == [
        (run_id, "ladder"),
        (run_id, "run"),
    ]
    assert (await account.status()).enrollments["churn-prevention"].outcome == "success"


async def test_renewal_steps_follow_a_renewal_date_that_moves(account: Account) -> None:
    """The renewal date moves 30 days later after -60: -30 and the renewal day move, none twice."""
    now = await account.env.get_current_time()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    renewal = today + timedelta(days=100)
    await account.send(
        AttributeChange(set={"segment": "smb", "renewal_date": renewal.date().isoformat()})
    )
    await account.send(HealthEvent(score=75))
    # SMB enters at renewal_date - 90d, day 10; -60 is day 40, -30 day 70.
    await account.env.sleep(timedelta(days=45))
    handle = await account.enrolled("renewal")
    moved = renewal + timedelta(days=30)
    await account.send(AttributeChange(set={"renewal_date": moved.date().isoformat()}))
    await account.env.sleep(timedelta(days=100))

    status = await account.run_status("renewal")
    assert status.result is not None and status.result.step == "unsigned"
    steps = account.days("renewal", today)
    assert [(day, step) for day, step in steps] == [
        (10, "open-crm-opportunity"),
        (10, "value-review-email"),
        (40, "prepare-proposal"),
        (100, "send-contract"),
        (100, "chase-signature"),
        (130, "renewal-overdue"),
        (130, "announce-overdue"),
    ]
    assert handle.id == f"playbook/renewal/{account.id}/1"
    keys = [key for *_, key in account.recorder.actions]
    assert len(keys) == len(set(keys))


async def test_ten_thousand_events_continue_as_new_with_state_intact(account: Account) -> None:
    """10,000 health events: the account continues as new, its history stays bounded."""
    await account.send(ENTERPRISE)
    await account.send(HealthEvent(score=85))
    await account.send(HealthEvent(score=30))
    await account.enrolled("churn-prevention")
    first_run = (
        await account.client.get_workflow_handle(f"account/{account.id}").describe()
    ).run_id

    total = 10_000
    for start in range(0, total, 250):
        await asyncio.gather(
            *(
                account.send(HealthEvent(event_id=f"e{i}", score=20 + i % 20))
                for i in range(start, min(start + 250, total))
            )
        )
    # Re-sent ids are ignored: the last 100 again change nothing.
    await asyncio.gather(
        *(account.send(HealthEvent(event_id=f"e{i}", score=99)) for i in range(total - 100, total))
    )
    await account.send(HealthEvent(event_id="last", score=42))
    handle = account.client.get_workflow_handle(f"account/{account.id}")

    async def settled() -> bool:
        try:
            return (await account.status()).health.score == 42
        except RPCError:  # the server gave up on a query while the burst was decoded: ask again
            return False

    await eventually(settled, "the last event is applied", seconds=180)
    assert (await handle.describe()).run_id != first_run
    history = await handle.fetch_history()
    # Each run handles at most 2,000 items: the current one is far from 10,000 events.
    assert len(history.events) < 5_000

    status = await account.status()
    assert status.attributes["arr"] == 300_000
    assert status.enrollments["churn-prevention"].running
    assert status.enrollments["churn-prevention"].cycle == 1
    assert sum(d.kind == "enrolled" for d in status.why) == 1


async def test_onboarding_hands_over_to_adoption_through_the_account(account: Account) -> None:
    """Day 30 of onboarding starts adoption: the account enrolls it and records who asked."""
    await account.send(ENTERPRISE)
    await account.send(HealthEvent(score=75))
    await account.send(AccountEvent(name="contract.signed"))
    await account.enrolled("onboarding")
    await account.env.sleep(timedelta(days=30, hours=1))
    await account.enrolled("adoption")
    why = (await account.status()).why
    enrolled = next(d for d in why if d.kind == "enrolled" and d.playbook == "adoption")
    assert enrolled.rule == "adoption.start_playbook"
    assert enrolled.seen == {"requested_by": "onboarding.steps.start-adoption"}
    run = await account.run_status("onboarding")
    assert any(d.kind == "action" and d.rule == "steps.start-adoption" for d in run.why)
