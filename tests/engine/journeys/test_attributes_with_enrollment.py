"""An account's first task, which upserts its AccountId anyway, upserts the search attributes
its event changed with it, before the run the event enrolls starts, and none in the task that
sees the run started: the server writes visibility once per workflow task, so a new account's
enrollment costs one write fewer. A later task that enrolls keeps its upsert for after the
start, off the path to the run's first action. On the time-skipping server, reading
histories (tests/fixtures/forwarding: onboard and watch enroll on contract.signed).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._start import account_workflow_id, publish, send_event
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AccountEvent, AttributeChange, HealthEvent
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
    env: WorkflowEnvironment,
    events: list[list[HealthEvent | AttributeChange | AccountEvent]],
    enrolls: set[str],
) -> WorkflowHistory:
    """An account given ``events`` (each one signal, the first one creating it), once the
    last is applied and ``enrolls`` are enrolled."""
    client = env.client
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    handle = client.get_workflow_handle(account_workflow_id(account))
    book = load([PLAYBOOKS])
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, build_catalog(book.plans(), book.health_plan()), queue)  # type: ignore[arg-type]
        for parts in events:
            await send_event(client, account, parts, queue)
            wanted = {
                k: v for p in parts if isinstance(p, AttributeChange) for k, v in p.set.items()
            }

            async def applied(wanted: dict[str, object] = wanted) -> bool:
                status: AccountStatus = await handle.query(AccountWorkflow.status)
                return all(status.attributes.get(k) == v for k, v in wanted.items())

            # One task each: the next event arrives once this one is handled.
            await eventually(applied, "the event applied")

        async def settled() -> bool:
            status: AccountStatus = await handle.query(AccountWorkflow.status)
            done = status.attributes.get("segment") == "smb"
            return done and enrolls <= set(status.enrollments)

        await eventually(settled, "the events applied")
        return await handle.fetch_history()


_SIGNED: list[HealthEvent | AttributeChange | AccountEvent] = [
    AttributeChange(set={"segment": "smb", "owner": "csm@example.com"}),
    AccountEvent(event_id="signed", name="contract.signed"),
]


def _shape(tasks: list[list[HistoryEvent]]) -> str:
    """Each task's events by type, with what it upserted: shown when an assertion fails."""
    return "\n".join(
        f"task {i}: {[EventType.Name(e.event_type)[11:] for e in t]} upserted {_upserted(t)}"
        for i, t in enumerate(tasks)
    )


def _enrolling(tasks: list[list[HistoryEvent]]) -> int:
    return next(i for i, t in enumerate(tasks) if any(e.event_type == _INITIATED for e in t))


async def test_a_first_event_upserts_its_attributes_with_the_start(
    skipping_env: WorkflowEnvironment,
) -> None:
    """segment and owner, set by the event that creates the account and signs its contract,
    are upserted in its first task before the first run starts; the tasks after upsert
    nothing."""
    history = await _account(skipping_env, [_SIGNED], {"onboard", "watch"})
    tasks = _tasks(history)
    starting = _enrolling(tasks)
    assert starting == 0, _shape(tasks)
    first_start = [e.event_type for e in tasks[starting]].index(_INITIATED)
    upserted = _upserted(tasks[starting][:first_start])
    assert {"AccountId", "Segment", "Owner"} <= upserted, _shape(tasks)
    assert not [_upserted(t) for t in tasks[starting + 1 :] if _upserted(t)], _shape(tasks)


async def test_a_later_event_that_enrolls_upserts_after_the_start(
    skipping_env: WorkflowEnvironment,
) -> None:
    """On an account that exists, the task that enrolls writes no upsert (a visibility write
    before the start would delay the run's first action): its attributes are upserted in the
    task that sees the run started."""
    named: list[HealthEvent | AttributeChange | AccountEvent] = [
        AttributeChange(set={"name": "Acme"})
    ]
    history = await _account(skipping_env, [named, _SIGNED], {"onboard", "watch"})
    tasks = _tasks(history)
    starting = _enrolling(tasks)
    assert starting > 0
    assert not _upserted(tasks[starting])
    assert any({"Segment", "Owner"} <= _upserted(t) for t in tasks[starting + 1 :])


async def test_attributes_that_enroll_nothing_are_still_upserted(
    skipping_env: WorkflowEnvironment,
) -> None:
    """An event that changes attributes and enrolls nothing upserts them in its task."""
    named: list[HealthEvent | AttributeChange | AccountEvent] = [
        AttributeChange(set={"name": "Acme"})
    ]
    history = await _account(skipping_env, [named, [_SIGNED[0]]], set())
    tasks = _tasks(history)
    assert not [t for t in tasks if any(e.event_type == _INITIATED for e in t)]
    assert any({"Segment", "Owner"} <= _upserted(t) for t in tasks[1:])
