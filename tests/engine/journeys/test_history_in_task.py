"""Sends to the store go inside the workflow task that noted them (a local activity), never
in a task that starts an action, a child or a signal (they wait for the task its completion
brings), and fall back to the background activity, retried, when the store fails.

On the time-skipping server, reading the account's and its runs' histories.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._start import account_workflow_id, publish, send
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import build_catalog
from engine.journeys._history import IN_TASK_TIMEOUT
from engine.journeys._messages import AccountEvent, HealthEvent, HistoryRequest
from engine.journeys._run import PlaybookRunWorkflow
from tests.support import Recorder, eventually
from workers import history
from workers.store import Store, open_store
from workers.worker import build_worker

FORWARDING = Path(__file__).parents[2] / "fixtures" / "forwarding"
_COMMANDS = {
    EventType.EVENT_TYPE_MARKER_RECORDED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_TIMER_CANCELED,
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
}
_REACTIONS = {
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
}


def _tasks(events: list[HistoryEvent]) -> list[list[HistoryEvent]]:
    """The commands of each completed workflow task, in order."""
    tasks: list[list[HistoryEvent]] = []
    taking = False
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tasks.append([])
            taking = True
        elif taking and event.event_type in _COMMANDS:
            tasks[-1].append(event)
        else:
            taking = False
    return tasks


def _local_sends(task: list[HistoryEvent]) -> int:
    return sum(
        1
        for e in task
        if e.marker_recorded_event_attributes.marker_name == "core_local_activity"
        and b"record_history" in e.marker_recorded_event_attributes.SerializeToString()
    )


def _background_sends(events: list[HistoryEvent]) -> int:
    return sum(
        1
        for e in events
        if e.activity_task_scheduled_event_attributes.activity_type.name == "record_history"
    )


def _reacts(task: list[HistoryEvent]) -> bool:
    return any(
        e.event_type in _REACTIONS
        or e.activity_task_scheduled_event_attributes.activity_type.name == "perform_action"
        for e in task
    )


async def _events(client: Client, workflow_id: str) -> list[HistoryEvent]:
    return list((await client.get_workflow_handle(workflow_id).fetch_history()).events)


def _account(tmp_path: Path) -> tuple[str, str, Store, Recorder]:
    """A queue, an account id, a store in ``tmp_path`` and a recorder writing to it."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    return queue, f"acme-{queue[-6:]}", store, Recorder(store=store)


async def _enroll_and_store(
    env: WorkflowEnvironment, tmp_path: Path, activities: Callable[[Recorder], list[Any]]
) -> tuple[Client, str, list[str], Recorder]:
    """A signed contract enrolls onboard and watch; returns when every decision of the
    account and both runs is in the store."""
    client = env.client
    queue, account, store, recorder = _account(tmp_path)
    book = load([FORWARDING])
    handle = client.get_workflow_handle(account_workflow_id(account))
    runs = [f"playbook/{name}/{account}/1" for name in ("onboard", "watch")]

    async with build_worker(client, queue, activities(recorder)):
        await publish(client, build_catalog(book.plans(), book.health_plan()), queue)  # type: ignore[arg-type]
        await send(client, account, AccountEvent(event_id="e0", name="contract.signed"), queue)

        async def all_stored() -> bool:
            status: AccountStatus = await handle.query(AccountWorkflow.status)
            if set(status.enrollments) != {"onboard", "watch"}:
                return False
            live = len(status.why)
            for run in runs:
                run_status = await client.get_workflow_handle(run).query(PlaybookRunWorkflow.status)
                live += len(run_status.why)
            return len(history.decisions(store, account)) == live and live > 0

        await eventually(all_stored, "every decision in the store")
    store.close()
    return client, handle.id, runs, recorder


async def test_an_enrollment_records_its_decisions_with_no_activity_task(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Account and runs send every decision inside their own tasks: no record_history
    activity task (and so no task for its completion), and none in a task that starts a
    child, signals or performs an action: a reaction never waits behind the store."""
    client, account, runs, _ = await _enroll_and_store(
        skipping_env, tmp_path, lambda recorder: recorder.activities()
    )
    for workflow_id in (account, *runs):
        events = await _events(client, workflow_id)
        assert _background_sends(events) == 0, workflow_id
        tasks = _tasks(events)
        assert sum(_local_sends(task) for task in tasks) >= 1, workflow_id
        for task in tasks:
            assert not (_reacts(task) and _local_sends(task)), (workflow_id, task)


async def test_a_failing_store_gets_the_records_from_the_background_activity(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The store refuses the first write: that send is retried as the background activity
    (with its retries) and every later send of that workflow goes in the background too;
    nothing is lost."""
    refusals: list[HistoryRequest] = []

    def activities(recorder: Recorder) -> list[Any]:
        perform, close, record = recorder.activities()

        @activity.defn(name="record_history")
        async def record_history(request: HistoryRequest) -> int:
            if not refusals:
                refusals.append(request)
                raise ApplicationError("the store is down")
            result: int = await record(request)
            return result

        return [perform, close, record_history]

    client, account, runs, recorder = await _enroll_and_store(skipping_env, tmp_path, activities)
    assert len(refusals) == 1
    assert refusals[0] in recorder.history  # the same request, from the background activity
    fell_back = []
    for workflow_id in (account, *runs):
        events = await _events(client, workflow_id)
        first = next((i for i, e in enumerate(events) if _background_sends([e])), None)
        if first is not None:
            fell_back.append(workflow_id)
            # It was tried in the task first (the refused local send), and never after.
            assert sum(_local_sends([e]) for e in events[:first]) >= 1
            assert sum(_local_sends([e]) for e in events[first:]) == 0
    assert len(fell_back) == 1


async def test_a_slow_store_is_left_to_the_background_after_two_seconds(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The first write takes longer than a send inside a task may (IN_TASK_TIMEOUT): the
    workflow does not wait on it past that; the same request is written by the background
    activity, and nothing is lost."""
    slow: list[HistoryRequest] = []

    def activities(recorder: Recorder) -> list[Any]:
        perform, close, record = recorder.activities()

        @activity.defn(name="record_history")
        async def record_history(request: HistoryRequest) -> int:
            if not slow:
                slow.append(request)
                await asyncio.sleep(IN_TASK_TIMEOUT.total_seconds() + 1)
            result: int = await record(request)
            return result

        return [perform, close, record_history]

    client, account, runs, recorder = await _enroll_and_store(skipping_env, tmp_path, activities)
    assert len(slow) == 1
    assert slow[0] in recorder.history
    backgrounds = [_background_sends(await _events(client, w)) for w in (account, *runs)]
    assert sum(backgrounds) >= 1


async def test_a_reading_no_journey_reads_costs_one_task_and_no_activity(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A reading whose NPS moves (a change the store keeps) and whose tier holds (the only
    health its journeys read): the account's one task sends the change itself, with no
    activity and no second task for its completion."""
    client = skipping_env.client
    queue, account, store, recorder = _account(tmp_path)
    book = load([FORWARDING])
    workflow_id = account_workflow_id(account)

    def nps_sent(value: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return any(
                c.kind == "nps" and c.new == value for r in recorder.history for c in r.changes
            )

        return check

    async with build_worker(client, queue, recorder.activities()):
        await publish(client, build_catalog(book.plans(), book.health_plan()), queue)  # type: ignore[arg-type]
        await send(client, account, AccountEvent(event_id="e0", name="contract.signed"), queue)
        await send(client, account, HealthEvent(score=64, components={"nps": 30}), queue)
        await eventually(nps_sent("30.0"), "the first reading recorded")
        await eventually(lambda: _quiet(client, workflow_id), "the account at rest")
        before = len(await _events(client, workflow_id))
        await send(client, account, HealthEvent(score=65, components={"nps": 50}), queue)
        await eventually(nps_sent("50.0"), "the second reading recorded")
        await eventually(lambda: _quiet(client, workflow_id), "the account at rest")
        after = (await _events(client, workflow_id))[before:]
    store.close()
    kinds = [e.event_type for e in after]
    assert kinds.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1, kinds
    assert _background_sends(after) == 0
    assert sum(_local_sends(task) for task in _tasks(after)) == 1


async def _quiet(client: Client, workflow_id: str) -> bool:
    """The last workflow task completed and nothing came after its commands: what the
    account had to do is done."""
    events = await _events(client, workflow_id)
    while events and events[-1].event_type in _COMMANDS:
        events.pop()
    return bool(events) and events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
