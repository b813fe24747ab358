"""An account enrolls with its plan taken by hash from the worker's memory
(engine.journeys._plan_cache), not through a local activity; a worker that does not hold
the plan reads the published catalog, and one that cannot read it fails the workflow task
until it can, never deciding otherwise. On the time-skipping server, reading histories.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import Future
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._start import account_workflow_id, publish, send
from engine.journeys import _plan_cache
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_patches import (
    ACCOUNT_PATCHES,
    ATTRIBUTES_WITH_ENROLLMENT,
    DECISION_WAKES,
    PLANS_BY_HASH,
)
from engine.journeys._account_state import AccountState
from engine.journeys._catalog import Catalog, build_catalog
from engine.journeys._messages import AccountEvent, RunInput
from engine.language._plan_reads import health_reads, history_windows
from tests.support import Recorder, eventually
from workers.worker import build_worker

PLAYBOOKS = Path(__file__).parents[2] / "fixtures" / "forwarding"


def _catalog() -> Catalog:
    book = load([PLAYBOOKS])
    return build_catalog(book.plans(), book.health_plan())  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _cold() -> None:
    """Each test starts as a worker that holds no plan (the cache is the process's)."""
    _plan_cache.forget()


def test_the_index_lists_what_runs_read() -> None:
    """Each entry of the index carries its plan's history windows and health reads, which the
    account keeps as it enrolls."""
    catalog = _catalog()
    for entry in catalog.index().entries:
        plan = catalog.plans[entry.name]
        assert entry.hash == plan.hash
        assert entry.windows == history_windows(plan)
        assert entry.reads == health_reads(plan)


def test_the_cache_holds_plans_by_hash_and_forgets_the_oldest() -> None:
    catalog = _catalog()
    plan = catalog.plans["onboard"]
    _plan_cache.keep([plan])
    assert _plan_cache.held(plan.hash) is plan
    others = [plan.model_copy(update={"hash": f"sha256:{n}"}) for n in range(_plan_cache.KEPT)]
    _plan_cache.keep(others)
    assert _plan_cache.held(plan.hash) is None
    assert _plan_cache.held(others[-1].hash) is others[-1]


def test_a_plan_no_loader_can_bring_is_refused() -> None:
    """Without the plan and without a loader for the queue: PlanNotHeld, which fails the
    workflow task (Temporal retries it)."""
    with pytest.raises(_plan_cache.PlanNotHeld, match="is not in this worker's memory"):
        _plan_cache.need("sha256:nothing", f"q-{uuid.uuid4().hex[:8]}")


def test_a_loader_brings_the_plan() -> None:
    plan = _catalog().plans["watch"]
    queue = f"q-{uuid.uuid4().hex[:8]}"

    def load_it(plan_hash: str) -> Future[object]:
        _plan_cache.keep([plan])
        done: Future[object] = Future()
        done.set_result(None)
        return done

    _plan_cache.set_loader(queue, load_it)
    try:
        assert _plan_cache.need(plan.hash, queue) is plan
    finally:
        _plan_cache.set_loader(queue, None)


def _names() -> tuple[str, str]:
    """A task queue and an account of this test's own."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    return queue, f"acme-{queue[-6:]}"


def _events(history: WorkflowHistory, kind: EventType.ValueType) -> list[object]:
    return [e for e in history.events if e.event_type == kind]


async def _signed(env: WorkflowEnvironment, queue: str, account: str) -> WorkflowHistory:
    """Send contract.signed (onboard and watch enroll on it) and wait for both runs."""
    client = env.client
    await send(client, account, AccountEvent(event_id="e0", name="contract.signed"), queue)
    for name in ("onboard", "watch"):
        run = client.get_workflow_handle(f"playbook/{name}/{account}/1")

        async def started(run=run) -> bool:  # type: ignore[no-untyped-def]
            try:
                await run.describe()
            except Exception:  # noqa: BLE001 - not started yet
                return False
            return True

        await eventually(started, f"{name} started")
    return await client.get_workflow_handle(account_workflow_id(account)).fetch_history()


async def _at_rest(env: WorkflowEnvironment, queue: str, account: str) -> None:
    """Start the account and wait for its first task: it has read its index by then."""
    await send(env.client, account, AccountEvent(event_id="hello", name="hello"), queue)
    handle = env.client.get_workflow_handle(account_workflow_id(account))
    await eventually(lambda: handle.query(AccountWorkflow.status), "the account answers")


async def test_an_account_enrolls_without_asking_for_the_plan(
    skipping_env: WorkflowEnvironment,
) -> None:
    """No local activity for the plan in the account's history; the run's input carries the
    plan its index entry names."""
    client = skipping_env.client
    queue, account = _names()
    catalog = _catalog()
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, catalog, queue)
        history = await _signed(skipping_env, queue, account)
        markers = _events(history, EventType.EVENT_TYPE_MARKER_RECORDED)
        assert not [m for m in markers if b"resolve_plan" in m.SerializeToString()]  # type: ignore[attr-defined]
        run = await client.get_workflow_handle(f"playbook/onboard/{account}/1").fetch_history()
        started = run.events[0].workflow_execution_started_event_attributes
        payload = started.input.payloads[0]
        run_input = client.data_converter.payload_converter.from_payload(payload, RunInput)
        assert run_input.plan.hash == catalog.plans["onboard"].hash


async def test_a_worker_that_does_not_hold_the_plan_reads_it(
    skipping_env: WorkflowEnvironment,
) -> None:
    """The worker forgot every plan after the account read its index (a restart): the
    enrolling task reads the catalog and enrolls, no task failed."""
    client = skipping_env.client
    queue, account = _names()
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, _catalog(), queue)
        await _at_rest(skipping_env, queue, account)
        _plan_cache.forget()
        history = await _signed(skipping_env, queue, account)
        assert not _events(history, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)


async def test_a_plan_that_cannot_be_read_fails_the_task_until_it_can(
    skipping_env: WorkflowEnvironment,
) -> None:
    """The first read brings nothing (the catalog is away): the account's task fails, with
    nothing decided, and the retried task enrolls once the plan is there."""
    client = skipping_env.client
    queue, account = _names()
    catalog = _catalog()
    asked: list[str] = []

    def flaky(plan_hash: str) -> Future[object]:
        asked.append(plan_hash)
        if len(asked) > 1:
            _plan_cache.keep(catalog.plans.values())
        done: Future[object] = Future()
        done.set_result(None)
        return done

    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, catalog, queue)
        await _at_rest(skipping_env, queue, account)
        _plan_cache.forget()
        _plan_cache.set_loader(queue, flaky)
        history = await _signed(skipping_env, queue, account)
    failed = _events(history, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
    assert len(failed) == 1
    message = failed[0].workflow_task_failed_event_attributes.failure.message  # type: ignore[attr-defined]
    assert "is not in this worker's memory" in message
    assert asked[0] in {catalog.plans["onboard"].hash, catalog.plans["watch"].hash}


# What each release's client leaves out of the patches it vouches for (README, "Releases and
# upgrades"): its account asks about those itself. No client vouches yet for decision-wakes,
# which ships in this release.
_NOT_VOUCHED = {
    "0.2.0": {PLANS_BY_HASH, ATTRIBUTES_WITH_ENROLLMENT, DECISION_WAKES},
    "0.3.0": {ATTRIBUTES_WITH_ENROLLMENT, DECISION_WAKES},
    "0.4.0": {DECISION_WAKES},
    "current": set(),
}


@pytest.mark.parametrize("vouched", sorted(_NOT_VOUCHED))
async def test_the_patches_are_asked_as_the_account_starts_not_as_it_enrolls(
    skipping_env: WorkflowEnvironment, vouched: str
) -> None:
    """The patches asked as a run starts (plans-by-hash from an account a 0.2.0 client made,
    attributes-with-enrollment from one a 0.3.0 client made, wake-on-decisions from one a
    0.4.0 client made) cost a new account a marker and an upsert in its first task, which
    upserts anyway, and one made now neither; the task that enrolls on a later event writes
    none, so a health drop that enrolls waits on no visibility write of them."""
    client = skipping_env.client
    queue, account = _names()
    asked = _NOT_VOUCHED[vouched]
    patches = [p for p in ACCOUNT_PATCHES if p not in asked]
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, _catalog(), queue)
        await client.start_workflow(
            AccountWorkflow.run,
            AccountState(account_id=account, patches=patches),
            id=account_workflow_id(account),
            task_queue=queue,
            start_signal="lifecycle",
            start_signal_args=[AccountEvent(event_id="hello", name="hello")],
        )
        handle = client.get_workflow_handle(account_workflow_id(account))
        await eventually(lambda: handle.query(AccountWorkflow.status), "the account answers")
        history = await _signed(skipping_env, queue, account)
    tasks: list[list[object]] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tasks.append([])
        elif tasks:
            tasks[-1].append(event)
    first, enrolling = tasks[0], next(t for t in tasks if _starts(t))
    assert {_patch_id(e) for e in first if _is_patch(e)} == asked
    assert not [e for e in enrolling if _is_patch(e) or _changes_version(e)]


def _patch_id(event: object) -> str:
    marker = event.marker_recorded_event_attributes  # type: ignore[attr-defined]
    data = json.loads(marker.details["patch-data"].payloads[0].data)
    return str(data["id"])


def _starts(events: list[object]) -> bool:
    initiated = EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    return any(e.event_type == initiated for e in events)  # type: ignore[attr-defined]


def _is_patch(event: object) -> bool:
    marker = event.marker_recorded_event_attributes  # type: ignore[attr-defined]
    return bool(marker.marker_name == "core_patch")


def _changes_version(event: object) -> bool:
    upsert = event.upsert_workflow_search_attributes_event_attributes  # type: ignore[attr-defined]
    return "TemporalChangeVersion" in upsert.search_attributes.indexed_fields
