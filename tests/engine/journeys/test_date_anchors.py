"""Dates anchored on any date attribute of the account (``go_live_date + 7d``), through the
account workflow on the time-skipping server: waits that wait for the date to be known, move
when it moves, and say in `why` when it is missing or not a date; entries on such a date."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._start import account_workflow_id, publish, send
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AccountEvent, AttributeChange, Decision, RunStatus
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._facts import anchor_date, anchor_problem
from tests.support import Recorder, eventually
from workers.worker import build_worker

FIXTURE = Path(__file__).parents[2] / "fixtures" / "anchors"


class Account:
    """One account with the anchors fixture published, a worker and a recorder."""

    def __init__(self, env: WorkflowEnvironment, queue: str, recorder: Recorder) -> None:
        self.env, self.queue, self.recorder = env, queue, recorder
        self.id = f"acme-{queue[-6:]}"

    async def send(self, message: AttributeChange | AccountEvent) -> None:
        await send(self.env.client, self.id, message, self.queue)

    async def status(self) -> AccountStatus:
        handle = self.env.client.get_workflow_handle(account_workflow_id(self.id))
        result: AccountStatus = await handle.query(AccountWorkflow.status)
        return result

    async def run_why(self, playbook: str) -> list[Decision]:
        handle = self.env.client.get_workflow_handle(f"playbook/{playbook}/{self.id}/1")
        try:
            status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
        except RPCError:  # not started yet
            return []
        return status.why

    async def day(self, days: int) -> datetime:
        now = await self.env.get_current_time()
        return now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=days)

    def set_date(self, when: datetime | str) -> AttributeChange:
        value = when if isinstance(when, str) else when.date().isoformat()
        return AttributeChange(event_id=f"set-{value}", set={"go_live_date": value})


@pytest.fixture
async def account(skipping_env: WorkflowEnvironment) -> AsyncIterator[Account]:
    queue = f"q-{uuid.uuid4()}"
    book = load([FIXTURE])
    catalog: Any = build_catalog(book.plans(), book.health_plan())
    recorder = Recorder()
    async with build_worker(skipping_env.client, queue, actions=recorder.activities()):
        await publish(skipping_env.client, catalog, queue)
        yield Account(skipping_env, queue, recorder)


async def _waiting(account: Account, count: int) -> list[Decision]:
    async def check() -> list[Decision]:
        found = [d for d in await account.run_why("go-live-plan") if d.kind == "waiting"]
        return found if len(found) >= count else []

    found: list[Decision] = await eventually(check, f"{count} waiting decision(s)")
    return found


async def test_a_wait_on_a_custom_date_waits_for_it_and_moves_when_it_moves(
    account: Account,
) -> None:
    """`until: go_live_date - 2d` with no go-live date waits and says so in `why`; a value
    that is not a date is recorded too; once set, the steps come on their dates, and a
    go-live moved later moves the step after it."""
    await account.send(AccountEvent(event_id="signed", name="contract.signed"))
    [missing] = await _waiting(account, 1)
    assert missing.rule == "steps.before"
    assert missing.seen == {"go_live_date": None}
    assert missing.detail == "the account has no go_live_date: waits until it has"
    await account.send(account.set_date("soon"))
    not_a_date = (await _waiting(account, 2))[1]
    assert not_a_date.seen == {"go_live_date": "soon"}
    assert "'soon' is not a date" in not_a_date.detail
    go_live = await account.day(10)
    await account.send(account.set_date(go_live))
    await account.env.sleep(timedelta(days=9))
    await eventually(
        lambda: _async(account.recorder.steps("go-live-plan") == ["prepare"]), "prepare done"
    )
    [prepared] = [at for at, _, step, _ in account.recorder.actions if step == "prepare"]
    assert prepared.date() == (go_live - timedelta(days=2)).date()
    moved = await account.day(11)  # go-live slips from day 10 to day 20 of the test
    await account.send(account.set_date(moved))
    await account.env.sleep(timedelta(days=9))  # day 18: the old date + 7 has passed
    assert account.recorder.steps("go-live-plan") == ["prepare"]
    await account.env.sleep(timedelta(days=10))
    await eventually(
        lambda: _async(len(account.recorder.steps("go-live-plan")) == 2), "follow-up done"
    )
    [followed] = [at for at, _, step, _ in account.recorder.actions if step == "follow-up"]
    assert followed.date() == (moved + timedelta(days=7)).date()


async def _async(value: bool) -> bool:
    return value


async def test_an_entry_on_a_custom_date_enrolls_on_it(account: Account) -> None:
    """`entry.at: go_live_date + 7d` enrolls on that date with the date in `seen`."""
    go_live = await account.day(3)
    await account.send(account.set_date(go_live))
    await account.env.sleep(timedelta(days=10, hours=1))

    async def enrolled() -> list[Decision]:
        why = (await account.status()).why
        return [d for d in why if d.playbook == "go-live-check" and d.kind == "enrolled"]

    [decision] = await eventually(enrolled, "go-live-check enrolled")
    assert decision.rule == "go-live-check.entry.at"
    assert decision.seen == {"entry date": (go_live + timedelta(days=7)).date().isoformat()}
    assert decision.at.date() == (go_live + timedelta(days=7)).date()


async def test_an_entry_anchor_that_is_not_a_date_is_recorded_once(account: Account) -> None:
    """A go-live date of `soon` gives no entry date: skipped once in `why` with the value,
    not again at each later event, and a real date then enrolls."""
    await account.send(account.set_date("soon"))
    await account.send(AttributeChange(event_id="other", set={"arr": 1000}))

    async def skipped() -> list[Decision]:
        why = (await account.status()).why
        return [d for d in why if d.playbook == "go-live-check" and d.kind == "skipped"]

    [skip] = await eventually(skipped, "go-live-check skipped")
    assert skip.seen == {"go_live_date": "soon"}
    assert skip.detail.startswith("the account's go_live_date 'soon' is not a date")
    assert (await account.status()).attributes["arr"] == 1000
    assert len(await skipped()) == 1


def test_a_custom_anchor_reads_the_attribute_or_the_nested_custom_one() -> None:
    """A custom anchor reads `account.NAME`, else `account.attributes.NAME`; built-in
    anchors read the top level only, and dates out of range anchor nothing."""
    nested = {"attributes": {"go_live_date": "2027-01-10", "renewal_date": "2027-05-01"}}
    assert anchor_date(nested, "go_live_date") == datetime.fromisoformat("2027-01-10T00:00Z")
    assert anchor_date(nested, "renewal_date") is None
    top = {"go_live_date": "2027-02-01", **nested}
    assert anchor_date(top, "go_live_date") == datetime.fromisoformat("2027-02-01T00:00Z")
    assert anchor_date({"go_live_date": "0001-01-05"}, "go_live_date") is None
    assert anchor_problem({"go_live_date": "0001-01-05"}, "go_live_date") == (
        "the account's go_live_date is outside 1900-01-01..2199-12-31"
    )
    assert anchor_problem({}, "go_live_date") == "the account has no go_live_date"
    assert anchor_problem({"go_live_date": 5}, "go_live_date") == (
        "the account's go_live_date '5' is not a date (write 2027-03-31)"
    )
