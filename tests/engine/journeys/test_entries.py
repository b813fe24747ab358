"""Entry rules through the account workflow on the time-skipping server: dates decided on the
day, and every refusal in `why` once per firing, with the values it saw."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._start import account_workflow_id, publish, send
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountState, AccountStatus
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import (
    AccountEvent,
    AttributeChange,
    Decision,
    HealthEvent,
    PauseRequest,
    ResumeRequest,
)
from tests.support import Recorder, eventually
from workers.worker import build_worker

FIXTURE = Path(__file__).parents[2] / "fixtures" / "entries"


@dataclass
class Account:
    """One account on a fresh server with the entries fixture published and a worker."""

    env: WorkflowEnvironment
    id: str
    queue: str

    async def send(self, message: HealthEvent | AttributeChange | AccountEvent) -> None:
        await send(self.env.client, self.id, message, self.queue)

    async def hold(self, request: PauseRequest | ResumeRequest) -> None:
        # Signal-with-start, like `send`: the server takes it the same way as an event.
        await self.env.client.start_workflow(
            AccountWorkflow.run,
            AccountState(account_id=self.id),
            id=account_workflow_id(self.id),
            task_queue=self.queue,
            start_signal="pause" if isinstance(request, PauseRequest) else "resume",
            start_signal_args=[request],
        )

    async def status(self) -> AccountStatus:
        handle = self.env.client.get_workflow_handle(account_workflow_id(self.id))
        result: AccountStatus = await handle.query(AccountWorkflow.status)
        return result

    async def decisions(self, playbook: str, kind: str) -> list[Decision]:
        return [d for d in (await self.status()).why if d.playbook == playbook and d.kind == kind]

    async def wait_for(self, playbook: str, kind: str, count: int = 1) -> list[Decision]:
        async def check() -> list[Decision]:
            found = await self.decisions(playbook, kind)
            return found if len(found) >= count else []

        found: list[Decision] = await eventually(check, f"{count} {kind} of {playbook}")
        return found

    async def scored(self, score: float) -> None:
        """Wait until the account has handled everything up to a reading of ``score``."""

        async def check() -> bool:
            return (await self.status()).health.score == score

        await eventually(check, f"{self.id} scored {score}")

    async def midnight_in(self, days: int) -> datetime:
        now = await self.env.get_current_time()
        return now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=days)


@pytest.fixture
async def account(skipping_env: WorkflowEnvironment) -> AsyncIterator[Account]:
    queue = f"q-{uuid.uuid4()}"
    book = load([FIXTURE])
    catalog: Any = build_catalog(book.plans(), book.health_plan())
    async with build_worker(skipping_env.client, queue, actions=Recorder().activities()):
        await publish(skipping_env.client, catalog, queue)
        yield Account(skipping_env, f"acme-{queue[-6:]}", queue)


def renewal(on: datetime) -> AttributeChange:
    return AttributeChange(set={"segment": "smb", "renewal_date": on.date().isoformat()})


async def test_a_dated_entry_whose_condition_holds_on_the_date_enrolls(account: Account) -> None:
    """`at` + `when`: healthy on the day 30 days before renewal, the account enrolls that day."""
    renews = await account.midnight_in(40)
    await account.send(renewal(renews))
    await account.send(HealthEvent(score=80))
    await account.scored(80)
    await account.env.sleep(timedelta(days=10, hours=1))
    [enrolled] = await account.wait_for("renewal-check", "enrolled")
    assert enrolled.rule == "renewal-check.entry.at"
    assert enrolled.seen == {
        "health.score": 80,
        "entry date": (renews - timedelta(days=30)).date().isoformat(),
    }
    assert enrolled.at.date() == (renews - timedelta(days=30)).date()


async def test_a_dated_entry_whose_condition_turns_true_a_day_late_does_not_enroll(
    account: Account,
) -> None:
    """`at` + `when`: not healthy on the date spends it (skipped, with the score seen); health
    that turns good the next day does not enroll the account late."""
    renews = await account.midnight_in(40)
    await account.send(renewal(renews))
    await account.send(HealthEvent(score=50))
    await account.scored(50)
    await account.env.sleep(timedelta(days=10, hours=1))
    [skipped] = await account.wait_for("renewal-check", "skipped")
    assert skipped.rule == "renewal-check.entry.at"
    assert skipped.detail == "condition did not hold on the entry date"
    assert skipped.seen == {
        "health.score": 50,
        "entry date": (renews - timedelta(days=30)).date().isoformat(),
    }
    await account.send(HealthEvent(score=80))
    await account.scored(80)
    await account.env.sleep(timedelta(days=1))
    assert "renewal-check" not in (await account.status()).enrollments
    assert len(await account.decisions("renewal-check", "skipped")) == 1


async def test_a_spent_date_that_moves_gives_the_entry_a_new_chance(account: Account) -> None:
    """A date spent because the condition did not hold comes again when the renewal date
    moves: healthy on the new date, the account enrolls."""
    renews = await account.midnight_in(40)
    await account.send(renewal(renews))
    await account.send(HealthEvent(score=50))
    await account.scored(50)
    await account.env.sleep(timedelta(days=10, hours=1))
    await account.wait_for("renewal-check", "skipped")
    await account.send(renewal(renews + timedelta(days=20)))
    await account.send(HealthEvent(score=80))
    await account.scored(80)
    await account.env.sleep(timedelta(days=20))
    [enrolled] = await account.wait_for("renewal-check", "enrolled")
    assert enrolled.seen["entry date"] == (renews - timedelta(days=10)).date().isoformat()


async def test_a_date_that_comes_while_paused_is_decided_at_the_resume(account: Account) -> None:
    """Paused on the date: the date is kept (skipped once, "account paused"); at the resume
    the condition decides, and a condition that does not hold then spends the date."""
    renews = await account.midnight_in(40)
    await account.send(renewal(renews))
    await account.send(HealthEvent(score=80))
    await account.hold(PauseRequest(by="maria"))

    async def paused() -> bool:
        return (await account.status()).paused is not None

    await eventually(paused, "the account is paused")
    await account.env.sleep(timedelta(days=10, hours=1))
    [paused] = await account.wait_for("renewal-check", "skipped")
    assert paused.detail == "account paused"
    await account.send(HealthEvent(score=50))
    await account.send(HealthEvent(score=51))
    await account.hold(ResumeRequest(by="maria"))
    spent = await account.wait_for("renewal-check", "skipped", 2)
    assert [d.detail for d in spent] == [
        "account paused",
        "condition did not hold on the entry date",
    ]
    assert spent[1].seen["health.score"] == 51
    await account.send(HealthEvent(score=90))
    await account.scored(90)
    await account.env.sleep(timedelta(days=1))
    assert "renewal-check" not in (await account.status()).enrollments


async def test_a_segment_refusal_is_recorded_once_per_firing(account: Account) -> None:
    """An entry refused by `segments` is in `why` with the values seen, once per edge of its
    condition: events while the condition still holds add nothing, a new edge adds one."""

    def risk(level: str) -> AttributeChange:
        return AttributeChange(set={"segment": "smb", "attributes": {"risk": level}})

    await account.send(risk("high"))
    [refused] = await account.wait_for("enterprise-alarm", "skipped")
    assert refused.rule == "enterprise-alarm.entry.when"
    assert refused.detail == "segment 'smb' not in enterprise"
    assert refused.seen == {"account.attributes.risk": "high", "segment": "smb"}
    for score in (70, 60, 50):
        await account.send(HealthEvent(score=score))
    await account.send(risk("low"))
    await account.send(risk("high"))
    await account.wait_for("enterprise-alarm", "skipped", 2)
    await account.send(HealthEvent(score=40))
    await account.scored(40)
    assert len(await account.decisions("enterprise-alarm", "skipped")) == 2


async def test_a_cooldown_refusal_is_recorded_again_for_a_new_edge(account: Account) -> None:
    """Refused in cooldown, again for the same reason on a new edge of `when`: both are in
    `why`; events while the condition still holds add nothing."""

    def alarm(state: str) -> AttributeChange:
        return AttributeChange(set={"attributes": {"alarm": state}})

    await account.send(alarm("on"))
    await account.wait_for("alarm", "enrolled")

    async def ended() -> bool:
        enrollment = (await account.status()).enrollments.get("alarm")
        return enrollment is not None and not enrollment.running

    await eventually(ended, "the alarm run ends")
    for edge in (1, 2):
        await account.send(alarm("off"))
        await account.send(alarm("on"))
        await account.send(HealthEvent(score=70 + edge))
        await account.send(HealthEvent(score=60 + edge))
        refused = await account.wait_for("alarm", "skipped", edge)
        assert all(d.detail.startswith("in cooldown until ") for d in refused)
    await account.scored(62)
    assert len(await account.decisions("alarm", "skipped")) == 2


async def test_an_event_entry_whose_condition_does_not_hold_is_recorded_each_time(
    account: Account,
) -> None:
    """`event` + `when`: each arrival whose condition does not hold is a skip with the values
    seen; an arrival while it holds enrolls."""
    await account.send(AttributeChange(set={"attributes": {"kickoff": "no"}}))
    for _ in range(2):
        await account.send(AccountEvent(name="contract.signed"))
    refused = await account.wait_for("signed", "skipped", 2)
    assert refused[0].detail == "condition did not hold when contract.signed came"
    assert refused[0].seen == {"account.attributes.kickoff": "no", "event": "contract.signed"}
    await account.send(AttributeChange(set={"attributes": {"kickoff": "yes"}}))
    await account.send(AccountEvent(name="contract.signed"))
    await account.wait_for("signed", "enrolled")
