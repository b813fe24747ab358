"""Event counts in conditions through the account workflow on the time-skipping server: a
count that turns an entry true on the event, a wait that ends when counted events leave their
window, a CEL count, and an exit on a count met on the event itself."""

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
from engine.journeys._messages import (
    AccountEvent,
    Decision,
    HealthEvent,
    RunResult,
    RunStatus,
)
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._counts import MAX_EVENTS, MAX_PER_EVENT, count_events, keep_event
from tests.support import Recorder, eventually
from workers.worker import build_worker

FIXTURE = Path(__file__).parents[2] / "fixtures" / "counts"


class Account:
    """One account with the counts fixture published, a worker and a recorder."""

    def __init__(self, env: WorkflowEnvironment, queue: str, recorder: Recorder) -> None:
        self.env, self.queue, self.recorder = env, queue, recorder
        self.id = f"acme-{queue[-6:]}"
        self.sent = 0

    async def event(self, name: str) -> None:
        self.sent += 1
        await send(
            self.env.client, self.id, AccountEvent(event_id=f"e{self.sent}", name=name), self.queue
        )

    async def status(self) -> AccountStatus:
        handle = self.env.client.get_workflow_handle(account_workflow_id(self.id))
        result: AccountStatus = await handle.query(AccountWorkflow.status)
        return result

    async def run(self, playbook: str) -> RunStatus | None:
        handle = self.env.client.get_workflow_handle(f"playbook/{playbook}/{self.id}/1")
        try:
            status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
        except RPCError:  # not started yet
            return None
        return status

    async def decided(self, playbook: str, kind: str) -> Decision:
        async def check() -> Decision | None:
            status = await self.run(playbook)
            return next((d for d in status.why if d.kind == kind), None) if status else None

        found: Decision = await eventually(check, f"{kind} in {playbook}")
        return found

    async def now(self) -> datetime:
        return await self.env.get_current_time()


@pytest.fixture
async def account(skipping_env: WorkflowEnvironment) -> AsyncIterator[Account]:
    queue = f"q-{uuid.uuid4()}"
    book = load([FIXTURE])
    catalog: Any = build_catalog(book.plans(), book.health_plan())
    recorder = Recorder()
    async with build_worker(skipping_env.client, queue, actions=recorder.activities()):
        await publish(skipping_env.client, catalog, queue)
        yield Account(skipping_env, queue, recorder)


async def test_an_executive_meeting_turns_the_expansion_entry_true(account: Account) -> None:
    """Healthy without executive engagement: not entered; the exec.meeting event makes the
    count 1 and the account enters, with the count and the score in `seen`."""
    await send(account.env.client, account.id, HealthEvent(event_id="h", score=85), account.queue)
    await account.event("login")

    async def scored() -> bool:
        return (await account.status()).health.score == 85

    await eventually(scored, "the reading is handled")
    # Not on a whole day: the account's daily timer would fire as the event comes, a race the
    # time-skipping server refuses ("invalid history builder state").
    await account.env.sleep(timedelta(days=3, hours=1))
    assert "upsell" not in (await account.status()).enrollments
    await account.event("exec.meeting")

    async def enrolled() -> Decision | None:
        why = (await account.status()).why
        return next((d for d in why if d.playbook == "upsell" and d.kind == "enrolled"), None)

    decision = await eventually(enrolled, "upsell enrolled")
    assert decision.rule == "upsell.entry.when"
    assert decision.seen == {"health.score": 85, "count(exec.meeting, 90d)": 1}


async def test_a_wait_for_a_count_ends_when_the_counted_events_leave_the_window(
    account: Account,
) -> None:
    """`{count: {event: login, over: 7d, eq: 0}}` after a login is met a week later, by the
    calendar alone, with the count in `seen`."""
    start = await account.now()
    await account.event("login")
    await account.event("contract.signed")
    status = await eventually(lambda: account.run("quiet"), "quiet enrolled")
    assert status.step == "silence"
    await account.env.sleep(timedelta(days=8))
    met = await account.decided("quiet", "wait_met")
    assert met.seen == {"count(login, 7d)": 0}
    # A week after the login (the server's clock and the workflow's differ by milliseconds).
    assert abs(met.at - start - timedelta(days=7)) < timedelta(minutes=1)
    assert account.recorder.steps("quiet") == ["reach-out"]


async def test_a_count_in_cel_meets_a_wait_and_an_exit_fires_on_the_event(
    account: Account,
) -> None:
    """`event_count("login", "7d") >= 3` is met on the third login; an exit counting
    champion.left fires on that event itself."""
    await account.event("contract.signed")
    await eventually(lambda: account.run("busy"), "busy enrolled")
    await account.event("login")
    await account.event("login")
    await account.env.sleep(timedelta(days=1))
    assert account.recorder.steps("busy") == []
    await account.event("login")
    met = await account.decided("busy", "wait_met")
    assert met.seen["count(login, 7d)"] == 3
    await account.event("champion.left")
    handle = account.env.client.get_workflow_handle(
        f"playbook/quiet/{account.id}/1", result_type=RunResult
    )
    result = await handle.result()
    assert result.ended_by == "exit"
    exit_ = await account.decided("quiet", "exit")
    assert exit_.seen["count(champion.left, 30d)"] == 1


def test_the_event_log_is_bounded_per_event_by_count_and_age_and_in_names() -> None:
    """Per name at most MAX_PER_EVENT moments within 400 days; at most MAX_EVENTS names,
    dropping the one heard of longest ago; counts read only the window up to now."""
    events: dict[str, list[int]] = {}
    for at in range(MAX_PER_EVENT + 10):
        keep_event(events, "login", at)
    assert len(events["login"]) == MAX_PER_EVENT
    keep_event(events, "login", 500 * 86_400)
    assert events["login"] == [500 * 86_400]
    for index in range(MAX_EVENTS):
        keep_event(events, f"e{index}", 600 * 86_400 + index)
    assert "login" not in events and len(events) == MAX_EVENTS
    log = {"x": [10, 20, 30]}
    assert count_events(log, "x", 15, 30) == 2
    assert count_events(log, "x", 15, 25) == 1
    assert count_events(log, "y", 15, 30) == 0
