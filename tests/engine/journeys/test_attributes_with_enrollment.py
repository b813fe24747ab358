"""An account upserts the search attributes an event changed in the task that starts the
run the event enrolls, with the start, and none in the task that sees the run started: the
server writes visibility once per workflow task, so an enrollment costs one write fewer.
On the time-skipping server, reading histories (tests/fixtures/forwarding: onboard and watch
enroll on contract.signed).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._start import account_workflow_id, publish, send, send_event
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AccountEvent, AttributeChange
from tests.support import Recorder, eventually
from workers.worker import build_worker

PLAYBOOKS = Path(__file__).parents[2] / "fixtures" / "forwarding"
_UPSERT = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
_INITIATED = EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED


def _tasks(history: WorkflowHistory) -> list[list[HistoryEvent]]:
    """The events each completed workflow task wrote, in order."""
    tasks: list[list[HistoryEvent]] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tasks.append([])
        elif tasks and event.event_type not in (
            EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        ):
            tasks[-1].append(event)
    return tasks


def _upserted(events: list[HistoryEvent]) -> set[str]:
    upserts = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes
        for e in events
        if e.event_type == _UPSERT
    ]
    return {name for fields in upserts for name in fields.indexed_fields} - {
        "TemporalChangeVersion"
    }


async def _account(
    env: WorkflowEnvironment, parts: list[AttributeChange | AccountEvent], enrolls: set[str]
) -> WorkflowHistory:
    client = env.client
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    handle = client.get_workflow_handle(account_workflow_id(account))
    book = load([PLAYBOOKS])
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, build_catalog(book.plans(), book.health_plan()), queue)  # type: ignore[arg-type]
        await send(client, account, AttributeChange(set={"name": "Acme"}), queue)
        await send_event(client, account, parts, queue)

        async def settled() -> bool:
            status: AccountStatus = await handle.query(AccountWorkflow.status)
            done = status.attributes.get("segment") == "smb"
            return done and enrolls <= set(status.enrollments)

        await eventually(settled, "the event applied")
        return await handle.fetch_history()


async def test_the_attributes_of_an_enrolling_event_go_with_the_start(
    skipping_env: WorkflowEnvironment,
) -> None:
    """segment and owner, set by the event that signs the contract, are upserted in the task
    that starts the first run; the tasks after it upsert nothing."""
    signed = [
        AttributeChange(set={"segment": "smb", "owner": "csm@example.com"}),
        AccountEvent(event_id="signed", name="contract.signed"),
    ]
    history = await _account(skipping_env, signed, {"onboard", "watch"})
    tasks = _tasks(history)
    starting = next(i for i, t in enumerate(tasks) if any(e.event_type == _INITIATED for e in t))
    first_start = [e.event_type for e in tasks[starting]].index(_INITIATED)
    assert {"Segment", "Owner"} <= _upserted(tasks[starting][:first_start])
    assert not [_upserted(t) for t in tasks[starting + 1 :] if _upserted(t)]


async def test_attributes_that_enroll_nothing_are_still_upserted(
    skipping_env: WorkflowEnvironment,
) -> None:
    """An event that changes attributes and enrolls nothing upserts them in its task."""
    history = await _account(
        skipping_env, [AttributeChange(set={"segment": "smb", "owner": "csm@example.com"})], set()
    )
    tasks = _tasks(history)
    assert not [t for t in tasks if any(e.event_type == _INITIATED for e in t)]
    assert any({"Segment", "Owner"} <= _upserted(t) for t in tasks)
