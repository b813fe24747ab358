"""A journey is woken only by the health its decisions read, and still shows current health.

``shows`` decides on the tier alone (its goal) and emails the score after a ten-day wait.
Score changes inside a tier no longer wake it (engine.journeys._forwarding, DECISION_WAKES);
its email, decided by a timer away from its last update, asks the account for the health it
holds (ActionRequest.fetch_health, workers.action_parts.with_current_health). Real workflows
on the time-skipping server.
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._start import account_workflow_id, publish, send
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import Catalog, build_catalog
from engine.journeys._messages import AccountEvent, ActionRequest, HealthEvent
from tests.support import Recorder, eventually
from workers.simulate import recorder
from workers.simulate.inputs import TimedRow, read_account, read_rows, resolve_days
from workers.simulate.runner import Scenario, run
from workers.worker import build_worker

ROOT = Path(__file__).parents[3]
PLAYBOOKS = ROOT / "tests" / "fixtures" / "decision_wakes"
EXAMPLES = ROOT / "examples" / "simulate"
ACCOUNT = {"name": "Acme", "csm": "dana@example.com"}
# Day 0 the account signs and reads 50 (at-risk); inside the tier the score moves on days 3,
# 6 and 9; the wait ends on day 10.
READINGS = [(0, 50.0), (3, 55.0), (6, 45.0), (9, 58.0)]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    book = load([PLAYBOOKS])
    return build_catalog(book.plans(), book.health_plan())  # type: ignore[arg-type]


def _rows(account: str) -> list[TimedRow]:
    (_, first), *later = READINGS
    signed = [AccountEvent(name="contract.signed"), HealthEvent(score=first)]
    return [TimedRow(line=1, account=account, day=0, on=None, messages=signed)] + [
        TimedRow(line=n, account=account, day=day, on=None, messages=[HealthEvent(score=score)])
        for n, (day, score) in enumerate(later, start=2)
    ]


async def test_an_email_after_a_wait_shows_the_score_of_its_day(catalog: Catalog) -> None:
    """The run slept through three score changes it does not decide on; its email on day 10
    shows 58, the account's score then, not the 50 it enrolled with."""
    result = await run(catalog, Scenario({"acme": ACCOUNT}, _rows("acme"), date(2027, 1, 4), 12))
    [report] = [a for a in result.actions if a.step == "report"]
    assert report.summary == "Acme: health 58.0 (at-risk)"
    assert report.recipients == ["dana@example.com"]


async def test_without_asking_the_email_would_show_the_score_it_last_heard(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the asking is for: with the activity rendering the run's own facts, the same
    email shows the 50 of the run's last update, the staleness fetch_health exists to avoid
    (the request says so: fetch_health is set)."""
    asked: list[ActionRequest] = []

    async def as_the_run_has_it(request: ActionRequest, kind: str) -> ActionRequest:
        asked.append(request)
        return request

    monkeypatch.setattr(recorder, "with_current_health", as_the_run_has_it)
    result = await run(catalog, Scenario({"acme": ACCOUNT}, _rows("acme"), date(2027, 1, 4), 12))
    [report] = [a for a in result.actions if a.step == "report"]
    assert report.summary == "Acme: health 50.0 (at-risk)"
    assert [r.fetch_health for r in asked] == [True]


def _requests_asked(monkeypatch: pytest.MonkeyPatch) -> list[ActionRequest]:
    """The requests the simulation's perform_action takes, as it asks (or not) for health."""
    asked: list[ActionRequest] = []
    ask = recorder.with_current_health

    async def recording(request: ActionRequest, kind: str) -> ActionRequest:
        asked.append(request)
        return await ask(request, kind)

    monkeypatch.setattr(recorder, "with_current_health", recording)
    return asked


async def test_an_email_decided_on_an_update_shows_its_health_without_asking(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alerts emails when the tier turns critical: the email is decided in the task of the
    update that brought the tier (the reaction path), whose health is the account's, so its
    request asks for nothing and shows 30."""
    asked = _requests_asked(monkeypatch)
    rows = [*_rows("acme")[:1], TimedRow(2, "acme", 2, None, [HealthEvent(score=30)])]
    result = await run(catalog, Scenario({"acme": ACCOUNT}, rows, date(2027, 1, 4), 4))
    [alert] = [a for a in result.actions if a.step == "alert"]
    assert alert.summary == "Acme: health 30.0 (critical)"
    assert [(r.step, r.fetch_health) for r in asked] == [("alert", False)]


async def _updates(env: WorkflowEnvironment, workflow_id: str) -> int:
    count = 0
    async for event in env.client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            count += event.workflow_execution_signaled_event_attributes.signal_name == "update"
    return count


async def test_score_changes_inside_a_tier_wake_no_journey_that_only_shows_them(
    skipping_env: WorkflowEnvironment, catalog: Catalog
) -> None:
    """Three readings in the at-risk tier cost the run no update (before: one each); a reading
    in a new tier wakes it, and its goal ends it. The enrollment keeps what wakes it."""
    client = skipping_env.client
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    run_id = f"playbook/shows/{account}/1"
    handle = client.get_workflow_handle(account_workflow_id(account))

    async def status() -> AccountStatus:
        found: AccountStatus = await handle.query(AccountWorkflow.status)
        return found

    async def scored(score: float) -> Any:
        async def done() -> bool:
            return (await status()).health.score == score

        return done

    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, catalog, queue)
        await send(client, account, HealthEvent(event_id="h0", score=50), queue)
        await send(client, account, AccountEvent(event_id="e0", name="contract.signed"), queue)
        await eventually(lambda: _running(status), "enrolled")
        for n, score in enumerate((55.0, 45.0, 58.0), start=1):
            await send(client, account, HealthEvent(event_id=f"h{n}", score=score), queue)
            await eventually(await scored(score), f"reading {score}")
        assert await _updates(skipping_env, run_id) == 0
        enrollment = (await status()).enrollments["shows"]
        assert (enrollment.reads, enrollment.wakes) == (["health"], ["health.tier"])

        await send(client, account, HealthEvent(event_id="h9", score=90), queue)

        async def ended() -> bool:
            return (await status()).enrollments["shows"].ended_by == "goal"

        await eventually(ended, "the goal on the healthy tier")
        assert await _updates(skipping_env, run_id) == 1


async def _running(status: Any) -> bool:
    found: AccountStatus = await status()
    return "shows" in found.enrollments and found.enrollments["shows"].running


async def test_the_first_escalation_of_a_health_drop_asks_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reaction path stays one round trip: the shipped churn-prevention, enrolled by a
    drop to 30 on day 10 of examples/simulate/churn.jsonl, engages its CSM tier in the run's
    first task, whose facts came with the start, so its email asks the account for nothing
    and shows the 30 that enrolled it."""
    asked = _requests_asked(monkeypatch)
    shipped = load([ROOT / "playbooks"])
    catalog = build_catalog(shipped.plans(), shipped.health_plan())  # type: ignore[arg-type]
    account = read_account(EXAMPLES / "acme.yaml")
    rows = read_rows(EXAMPLES / "churn.jsonl", account.id)
    start = resolve_days(rows, account.start, EXAMPLES / "churn.jsonl")
    result = await run(catalog, Scenario({account.id: account.attributes}, rows, start, 11))
    tier = [r for r in asked if r.step == "escalation.csm"]
    assert sorted((r.channel, r.fetch_health) for r in tier) == [
        ("email", False),
        ("task", False),
    ]
    [email] = [a for a in result.actions if a.step == "escalation.csm" and a.kind == "email"]
    assert "health 30" in email.summary
