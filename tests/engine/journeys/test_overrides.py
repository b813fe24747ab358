"""Health overrides through the account workflow on the time-skipping server: the score
conditions use until it expires (a durable timer) or is cleared, the model's score kept and
shown, every change in `why` with who and why; and the refusals at the edge."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._commands import override
from engine.client._operate import OperateError, Overview
from engine.client._start import account_workflow_id, publish, send
from engine.client._status import status_lines
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import (
    AccountEvent,
    Decision,
    HealthEvent,
    OverrideRequest,
    RunStatus,
)
from engine.journeys._overrides import parse_until
from engine.journeys._run import PlaybookRunWorkflow
from tests.support import Recorder, eventually
from workers.worker import build_worker

FIXTURE = Path(__file__).parents[2] / "fixtures" / "overrides"


class Account:
    """One account with the overrides fixture published, a worker and a recorder."""

    def __init__(self, env: WorkflowEnvironment, queue: str, recorder: Recorder) -> None:
        self.env, self.queue, self.recorder = env, queue, recorder
        self.id = f"acme-{queue[-6:]}"
        self.sent = 0

    async def send(self, message: HealthEvent | AccountEvent) -> None:
        self.sent += 1
        message = message.model_copy(update={"event_id": f"m{self.sent}"})
        await send(self.env.client, self.id, message, self.queue)

    async def status(self) -> AccountStatus:
        handle = self.env.client.get_workflow_handle(account_workflow_id(self.id))
        result: AccountStatus = await handle.query(AccountWorkflow.status)
        return result

    async def scored(self, score: float) -> None:
        async def check() -> bool:
            return (await self.status()).health.score == score

        await eventually(check, f"scored {score}")

    async def decisions(self, kind: str) -> list[Decision]:
        return [d for d in (await self.status()).why if d.kind == kind]

    async def run(self, playbook: str) -> RunStatus | None:
        handle = self.env.client.get_workflow_handle(f"playbook/{playbook}/{self.id}/1")
        try:
            status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
        except RPCError:
            return None
        return status

    def request(self, **fields: Any) -> OverrideRequest:
        return OverrideRequest(**{"by": "dana", "reason": "champion confirmed", **fields})


@pytest.fixture
async def account(skipping_env: WorkflowEnvironment) -> AsyncIterator[Account]:
    queue = f"q-{uuid.uuid4()}"
    book = load([FIXTURE])
    catalog: Any = build_catalog(book.plans(), book.health_plan())
    recorder = Recorder()
    async with build_worker(skipping_env.client, queue, actions=recorder.activities()):
        await publish(skipping_env.client, catalog, queue)
        yield Account(skipping_env, queue, recorder)


async def test_an_override_that_expires_mid_journey_turns_its_condition(
    account: Account,
) -> None:
    """A CSM holds the score at 75 for five days while the model says 40: the journey waiting
    for health below 50 and the rescue entry do nothing until the override expires, then the
    wait is met and the rescue enters, on day 5; both scores are in status and `why`."""
    await account.send(HealthEvent(score=70))
    await account.scored(70)
    start = await account.env.get_current_time()
    answer = await override(
        account.env.client, account.id, account.request(score=75, until=start + timedelta(days=5))
    )
    assert answer.done and "health score 75 (the model says 70)" in answer.text
    await account.send(HealthEvent(score=40))
    await account.send(AccountEvent(name="contract.signed"))
    await account.scored(40)
    status = await eventually(lambda: account.run("watch"), "watch enrolled")
    assert status.step == "low"
    found = await account.status()
    assert found.health.score == 40 and found.override is not None
    assert (found.override.score, found.override.by) == (75, "dana")
    assert "rescue" not in found.enrollments
    lines = status_lines(Overview(account=found, runs={}))
    assert lines[0].startswith("account acme-") and "health 40" in lines[0]
    assert lines[1].startswith("  OVERRIDE by dana: score 75 until")
    assert lines[1].endswith(
        "champion confirmed (conditions use it; the score above is the model's)"
    )
    await account.env.sleep(timedelta(days=4))
    assert account.recorder.steps("watch") == []
    await account.env.sleep(timedelta(days=2))

    async def acted() -> bool:
        return account.recorder.steps("watch") == ["act"] and bool(
            "rescue" in (await account.status()).enrollments
        )

    await eventually(acted, "the wait is met and rescue enters at the expiry")
    [expired] = await account.decisions("override_expired")
    assert abs(expired.at - start - timedelta(days=5)) < timedelta(minutes=1)
    assert expired.seen["health.score"] == 40
    assert "override of dana (75) expired: champion confirmed" in expired.detail
    [set_] = await account.decisions("override")
    assert set_.seen["health.score"] == 75 and set_.seen["model score"] == 70
    watch = await account.run("watch")
    assert watch is not None
    met = next(d for d in watch.why if d.kind == "wait_met")
    assert met.seen == {"health.score": 40}
    assert (await account.status()).override is None


async def test_clearing_an_override_ends_it_at_once(account: Account) -> None:
    """`--clear` gives conditions the model's score back now: rescue enters; a second clear
    has nothing to do."""
    await account.send(HealthEvent(score=70))
    await account.scored(70)
    until = await account.env.get_current_time() + timedelta(days=30)
    await override(account.env.client, account.id, account.request(score=75, until=until))
    await account.send(HealthEvent(score=40))
    await account.scored(40)
    assert "rescue" not in (await account.status()).enrollments
    answer = await override(account.env.client, account.id, account.request(clear=True))
    assert answer.done

    async def entered() -> bool:
        return "rescue" in (await account.status()).enrollments

    await eventually(entered, "rescue enters on the clear")
    [cleared] = await account.decisions("override_cleared")
    assert cleared.detail == "cleared by dana: champion confirmed"
    again = await override(account.env.client, account.id, account.request(clear=True))
    assert (again.done, again.text) == (False, "nothing to clear: no health override in force")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"score": 101.0}, "the score must be a number from 0 to 100"),
        ({"score": float("nan")}, "the score must be a number from 0 to 100"),
        ({"reason": ""}, "the reason is 1-500 characters (it is 0)"),
        ({"reason": "x" * 501}, "the reason is 1-500 characters (it is 501)"),
        ({"reason": "two\nlines"}, "write it on one line"),
        ({"until": datetime(2020, 1, 1, tzinfo=UTC)}, "until 2020-01-01 00:00 UTC has passed"),
        ({"until": datetime.now(UTC) + timedelta(days=401)}, "at most 400 days ahead"),
    ],
)
async def test_a_bad_override_is_refused_in_one_line_before_anything_is_sent(
    fields: dict[str, Any], message: str
) -> None:
    """Score 0-100, reason 1-500 characters on one line, until ahead (at most 400 days):
    each refusal is one line, raised before any connection (there is no server here)."""
    request = OverrideRequest(
        **{
            "by": "dana",
            "reason": "ok",
            "score": 70.0,
            "until": datetime.now(UTC) + timedelta(days=3),
            **fields,
        }
    )
    with pytest.raises(OperateError) as raised:
        await override("unused", "acme", request)  # type: ignore[arg-type]
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_until_is_a_date_or_a_moment_with_its_time_zone() -> None:
    """A date is its midnight UTC; a moment keeps its zone, converted; no zone is refused."""
    assert parse_until("2027-01-10") == datetime(2027, 1, 10, tzinfo=UTC)
    assert parse_until("2027-01-10T09:00+02:00") == datetime(2027, 1, 10, 7, tzinfo=UTC)
    with pytest.raises(ValueError, match="has no time zone"):
        parse_until("2027-01-10T09:00")
    with pytest.raises(ValueError, match="is not a date"):
        parse_until("next week")
