"""Record the event histories that tests/engine/journeys/test_replay.py replays against the
workflow code.

Why they exist: a journey that is running (for weeks, an account for years) is resumed by
replaying its history through whatever workflow code the worker has now. Code that issues
different commands for the same history breaks every running journey at once, and no test
that starts fresh journeys notices. Replaying histories recorded from the previous code does.

Usage, from the repository root::

    .venv/bin/python -m tests.histories.record            # every journey
    .venv/bin/python -m tests.histories.record ladder_climb_ack_recover

Each journey runs the real workflows (``workers.worker.build_worker``) on a fresh
time-skipping test server, started as the ``skipping_env`` fixture starts it, with recording
action activities instead of real deliveries; then each workflow's history is written as
``<name>.json`` next to this file (the JSON of ``WorkflowHistory.to_json``, which the Temporal
CLI and UI also read) and replayed once, so a recording that would not replay is never kept.

Re-record only for an intentional, versioned change of workflow code: a re-recording makes
the replay test pass by forgetting what running journeys did, which they cannot forget.
Changes that running journeys must survive go behind ``workflow.patched`` and keep the old
histories.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from engine import PlaybookSet, load
from engine.client import _start
from engine.client._attributes import register
from engine.client._converter import DATA_CONVERTER
from engine.client._start import ACCOUNT_SIGNALS, account_workflow_id, publish, send, send_event
from engine.journeys import _enrolling
from engine.journeys._account import _EVENTS_PER_RUN, AccountWorkflow
from engine.journeys._account_patches import (
    ACCOUNT_PATCHES,
    ATTRIBUTES_WITH_ENROLLMENT,
    DECISION_WAKES,
)
from engine.journeys._account_state import AccountState, AccountStatus
from engine.journeys._catalog import (
    _PUBLISHES_PER_RUN,
    CATALOG_SIGNAL,
    CATALOG_WORKFLOW_ID,
    MEMO_HASH,
    CatalogNotice,
    build_catalog,
)
from engine.journeys._clock import memo_for
from engine.journeys._messages import (
    AccountEvent,
    Acknowledgement,
    ActionReceipt,
    ActionRequest,
    ApprovalAnswer,
    ApprovalSettlement,
    AttributeChange,
    CloseRequest,
    CombinedEvent,
    HealthEvent,
    LifecycleEvent,
    OverrideRequest,
    PauseRequest,
    PlaybookExit,
    ResumeRequest,
    RunInput,
    RunResult,
    RunStatus,
    StopRequest,
)
from engine.journeys._run import PlaybookRunWorkflow
from engine.journeys._run_patches import LADDER_STOPS, RUN_PATCHES
from engine.language._facts import Facts, Health
from tests.histories import HERE, WORKFLOW_IDS, load_history, workflow_ids
from tests.support import ignore_history
from workers.sandbox import workflow_runner
from workers.worker import WORKFLOWS, build_worker

ROOT = HERE.parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
BIN = Path(sys.executable).parent
QUEUE = "recorder"
# Without it the client and worker identity is pid@hostname, which would differ on every
# re-recording and put the recording machine's name into the repository.
IDENTITY = "history-recorder"

Histories = dict[str, WorkflowHistory]


@activity.defn(name="perform_action")
async def perform_action(request: ActionRequest) -> ActionReceipt:
    """Stands in for deliveries: the history needs a result, not an email."""
    return ActionReceipt(idempotency_key=request.idempotency_key, detail=f"recorded {request.step}")


@activity.defn(name="close_items")
async def close_items(request: CloseRequest) -> ActionReceipt:
    """Stands in for closing tasks."""
    return ActionReceipt(idempotency_key=request.workflow_id, detail=f"closed {request.scope}")


@activity.defn(name="settle_approval")
async def settle_approval(request: ApprovalSettlement) -> ActionReceipt:
    """Stands in for marking an approval request's task."""
    return ActionReceipt(idempotency_key=request.idempotency_key, detail=request.outcome)


class JourneyWentWrong(RuntimeError):
    """The journey did not do what its recording is meant to show; nothing is written."""


def expect(condition: bool, what: str) -> None:
    # Not `assert`: a recording of the wrong journey must not pass silently under python -O.
    if not condition:
        raise JourneyWentWrong(what)


@asynccontextmanager
async def environment() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per journey, as the ``skipping_env`` fixture makes one.

    Fresh, so one journey's long-lived accounts neither hold the clock nor add events to the
    next journey's workflows.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
        test_server_existing_path=str(BIN / "temporal-test-server"),
        identity=IDENTITY,
    )
    try:
        await register(env.client)
        async with build_worker(
            env.client,
            QUEUE,
            actions=[perform_action, close_items, settle_approval, ignore_history],
        ):
            yield env
    finally:
        await env.shutdown()


_IN_FLIGHT = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
}


async def settled(handle: WorkflowHandle[Any, Any]) -> WorkflowHistory:
    """The history once no workflow task is in flight.

    The replayer copes with a history cut mid-task, but a cut that depends on timing would
    make each re-recording differ for no reason.
    """
    for _ in range(200):
        history = await handle.fetch_history()
        if history.events[-1].event_type not in _IN_FLIGHT:
            return history
        await asyncio.sleep(0.05)
    raise JourneyWentWrong(f"{handle.id} never settled")


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll until ``check`` holds: signals are handled asynchronously."""
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise JourneyWentWrong(f"never happened: {what}")


# Journeys -----------------------------------------------------------------------------------


async def onboarding_run(env: WorkflowEnvironment) -> Histories:
    """The shipped onboarding playbook through its day 1/3/7/14/30 steps to its end."""
    return {"onboarding_run": await _onboarding(env, "playbook/onboarding/acme/1")}


async def _onboarding(env: WorkflowEnvironment, workflow_id: str) -> WorkflowHistory:
    """Acme through the shipped onboarding to its end; the run's history."""
    enrolled = await env.get_current_time()
    run_input = RunInput(
        plan=load_relative(ROOT, "playbooks").plan("onboarding"),
        account_id="acme",
        cycle=1,
        enrolled_at=enrolled,
        facts=Facts(
            now=enrolled,
            health=Health(score=72, tier="good", trend="stable"),
            account={"segment": "mid-market", "name": "Acme"},
        ),
    )
    handle = await env.client.start_workflow(
        PlaybookRunWorkflow.run, run_input, id=workflow_id, task_queue=QUEUE
    )
    result: RunResult = await handle.result()
    expect((result.outcome, result.ended_by) == ("success", "end"), f"onboarding ended {result}")
    return await settled(handle)


async def ladder_climb_ack_recover(env: WorkflowEnvironment) -> Histories:
    """The escalation ladder: CSM, no acknowledgement in 2 days, manager, acknowledged,
    recovered for 7 days, stood down; then the run's 60-day hold ends it."""
    client = env.client
    start = await env.get_current_time()
    run_input = RunInput(
        plan=load_relative(FIXTURES, "ladder").plan("rescue"),
        account_id="globex",
        cycle=1,
        enrolled_at=start,
        facts=Facts(now=start, health=Health(score=45, tier="at-risk"), account={}),
    )
    handle = await client.start_workflow(
        PlaybookRunWorkflow.run, run_input, id="playbook/rescue/globex/1", task_queue=QUEUE
    )
    await env.sleep(timedelta(days=2, hours=1))
    status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
    expect(status.escalation_tier == "manager", f"climbed to {status.escalation_tier}")
    await handle.signal(PlaybookRunWorkflow.acknowledge, Acknowledgement(by="maria"))
    await env.sleep(timedelta(days=5))
    recovered = Facts(now=start, health=Health(score=75, tier="good"), account={})
    await handle.signal(PlaybookRunWorkflow.update, recovered)
    await env.sleep(timedelta(days=7, hours=1))
    status = await handle.query(PlaybookRunWorkflow.status)
    kinds = [d.kind for d in status.why]
    expect(
        status.escalation_tier is None and {"acknowledged", "de-escalated"} <= set(kinds),
        f"ladder went {kinds}",
    )
    result: RunResult = await handle.result()
    expect(result.ended_by == "completed", f"rescue ended {result}")
    return {"ladder_climb_ack_recover": await settled(handle)}


async def ladder_by_segment(env: WorkflowEnvironment) -> Histories:
    """Values by segment, with tests/fixtures/by_segment: an enterprise account at 60 engages
    the ladder (its threshold is 70), climbs to the manager after its 4-hour SLA, waits its
    2 days, and its wait_for times out after its 1 day."""
    client = env.client
    start = await env.get_current_time()
    run_input = RunInput(
        plan=load_relative(FIXTURES, "by_segment").plan("save"),
        account_id="wayne",
        cycle=1,
        enrolled_at=start,
        facts=Facts(now=start, health=Health(score=60), account={"segment": "enterprise"}),
    )
    handle = await client.start_workflow(
        PlaybookRunWorkflow.run, run_input, id="playbook/save/wayne/1", task_queue=QUEUE
    )
    await env.sleep(timedelta(hours=5))
    status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
    expect(status.escalation_tier == "manager", f"climbed to {status.escalation_tier}")
    result: RunResult = await handle.result()
    ended = await env.get_current_time() - start
    expect(result.ended_by == "completed" and ended < timedelta(days=4), f"ended {result}")
    return {"ladder_by_segment": await settled(handle)}


async def ladder_paused(env: WorkflowEnvironment) -> Histories:
    """A tier's channels at once (task and email), then a 3-day pause: no climb; the SLA
    restarts at the resume and the manager is engaged 2 days later; an operator stops it."""
    client = env.client
    start = await env.get_current_time()
    run_input = RunInput(
        plan=load_relative(FIXTURES, "ladder").plan("rescue"),
        account_id="umbrella",
        cycle=1,
        enrolled_at=start,
        facts=Facts(now=start, health=Health(score=45, tier="at-risk"), account={}),
    )
    handle = await client.start_workflow(
        PlaybookRunWorkflow.run, run_input, id="playbook/rescue/umbrella/1", task_queue=QUEUE
    )
    await env.sleep(timedelta(hours=1))
    await handle.signal(PlaybookRunWorkflow.pause, PauseRequest(by="maria"))
    await env.sleep(timedelta(days=3))
    status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
    expect(status.paused and status.escalation_tier == "csm", f"paused at {status}")
    await handle.signal(PlaybookRunWorkflow.resume, ResumeRequest(by="maria"))
    await env.sleep(timedelta(days=1))
    status = await handle.query(PlaybookRunWorkflow.status)
    expect(status.escalation_tier == "csm", f"climbed early to {status.escalation_tier}")
    await env.sleep(timedelta(days=1, hours=2))
    status = await handle.query(PlaybookRunWorkflow.status)
    expect(status.escalation_tier == "manager", f"after the SLA: {status.escalation_tier}")
    await handle.signal(PlaybookRunWorkflow.stop, StopRequest(reason="handled"))
    result: RunResult = await handle.result()
    expect(result.ended_by == "stopped", f"rescue ended {result}")
    return {"ladder_paused": await settled(handle)}


async def account_enroll_exit(env: WorkflowEnvironment) -> Histories:
    """An account's life with the tests/fixtures/journeys catalog: enrollments, skips, ends.

    upsell enrolls at 90 and is exited by an operator; rescue enrolls on a drop to critical
    and suppresses upsell; v2 of rescue is published while v1 runs; rescue reaches its goal;
    a new drop is skipped in cooldown and enrolls (v2) once the cooldown ends. Also records
    the catalog workflow (two publishes) and both finished journeys the account started.
    """
    client = env.client
    account = "initech"
    v1 = load_relative(FIXTURES, "journeys")
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(FIXTURES / "journeys", Path(tmp) / "v2")
        rescue = Path(tmp) / "v2" / "rescue.yaml"
        rescue.write_text(rescue.read_text().replace("version: 1", "version: 2"))
        v2 = load_relative(Path(tmp), "v2")
    handle = client.get_workflow_handle(account_workflow_id(account))

    async def status() -> AccountStatus:
        result: AccountStatus = await handle.query(AccountWorkflow.status)
        return result

    async def health(score: float) -> None:
        await send(client, account, HealthEvent(score=score), QUEUE)

    def enrollment(name: str, cycle: int, running: bool) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            e = (await status()).enrollments.get(name)
            return e is not None and e.cycle == cycle and e.running is running

        return check

    def skipped(name: str, reason: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return any(
                d.kind == "skipped" and d.playbook == name and reason in d.detail
                for d in (await status()).why
            )

        return check

    await publish(client, catalog_of(v1), QUEUE)
    await health(90)
    await eventually(enrollment("upsell", 1, True), "upsell enrolls at 90")
    await handle.signal(AccountWorkflow.exit_playbook, PlaybookExit(playbook="upsell", reason="qa"))
    await eventually(enrollment("upsell", 1, False), "upsell ends on exit")
    await health(30)
    await eventually(enrollment("rescue", 1, True), "rescue enrolls on the drop")
    await publish(client, catalog_of(v2), QUEUE)
    await health(85)
    await eventually(skipped("upsell", "suppressed while rescue runs"), "upsell suppressed")
    await health(96)
    await eventually(enrollment("rescue", 1, False), "rescue reaches its goal")
    await health(30)
    await eventually(skipped("rescue", "in cooldown"), "rescue skipped in cooldown")
    await env.sleep(timedelta(days=31))
    await eventually(enrollment("rescue", 2, True), "rescue re-enrolls after cooldown")
    expect((await status()).enrollments["rescue"].version == 2, "rescue cycle 2 runs v2")

    upsell = client.get_workflow_handle_for(PlaybookRunWorkflow.run, f"playbook/upsell/{account}/1")
    rescue_run = client.get_workflow_handle_for(
        PlaybookRunWorkflow.run, f"playbook/rescue/{account}/1"
    )
    expect((await upsell.result()).ended_by == "stopped", "upsell was stopped")
    expect((await rescue_run.result()).ended_by == "goal", "rescue reached its goal")
    return {
        "catalog": await settled(client.get_workflow_handle(CATALOG_WORKFLOW_ID)),
        "account_enroll_exit_upsell": await settled(upsell),
        "account_enroll_exit_rescue": await settled(rescue_run),
        # Last: the account is still alive (accounts live for years) and is recorded mid-life.
        "account_enroll_exit": await settled(handle),
    }


async def account_continue_as_new(env: WorkflowEnvironment) -> Histories:
    """An account that handles ``_EVENTS_PER_RUN`` items and continues as new, and the
    run it continued into: the new run must still read the state the old one carried."""
    client = env.client
    account = "hooli"
    await publish(client, catalog_of(load_relative(FIXTURES, "journeys")), QUEUE)
    first = await send(client, account, HealthEvent(score=70), QUEUE)
    expect(first.result_run_id is not None, "signal-with-start returned a run id")
    gate = asyncio.Semaphore(50)

    async def used() -> None:
        async with gate:
            await send(client, account, AccountEvent(name="feature.used"), QUEUE)

    await asyncio.gather(*(used() for _ in range(_EVENTS_PER_RUN - 1)))
    old = client.get_workflow_handle(account_workflow_id(account), run_id=first.result_run_id)

    async def continued() -> bool:
        events = (await old.fetch_history()).events
        return events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW

    await eventually(continued, "the account continues as new")
    current = client.get_workflow_handle(account_workflow_id(account))
    state: AccountStatus = await current.query(AccountWorkflow.status)
    expect(state.health.score == 70, "the continued run kept the account's health")
    return {
        "account_continue_as_new": await settled(old),
        "account_continued": await settled(current),
    }


def load_relative(base: Path, folder: str) -> PlaybookSet:
    """Load ``base/folder`` with file names relative to ``base``.

    A plan keeps the path it was loaded from (``source``) and travels in workflow inputs, so
    absolute paths would put the recording machine's directories into the histories.
    """
    with contextlib.chdir(base):
        return load([folder])


def catalog_of(playbooks: PlaybookSet) -> Any:
    health = playbooks.health_plan()
    expect(health is not None, "the fixture set has a health model")
    assert health is not None  # for type checkers
    return build_catalog(playbooks.plans(), health, playbooks.contact_plan())


async def account_history(env: WorkflowEnvironment) -> Histories:
    """The dashboard's history path (behind its patches): an account's ARR, segment, tier and
    lifecycle changes sent to record_history, and a rescue run that records how it ended."""
    client = env.client
    account = "umbrella"
    handle = client.get_workflow_handle(account_workflow_id(account))

    async def rescue(running: bool) -> bool:
        status: AccountStatus = await handle.query(AccountWorkflow.status)
        e = status.enrollments.get("rescue")
        return e is not None and e.running is running

    await publish(client, catalog_of(load_relative(FIXTURES, "journeys")), QUEUE)
    await send(client, account, AttributeChange(set={"segment": "smb", "arr": 12000}), QUEUE)
    await send(client, account, HealthEvent(score=70), QUEUE)
    await send(client, account, HealthEvent(score=30), QUEUE)
    await eventually(lambda: rescue(True), "rescue enrolls on the drop")
    await send(client, account, AccountEvent(name="renewal.signed"), QUEUE)
    await send(client, account, HealthEvent(score=96), QUEUE)
    await eventually(lambda: rescue(False), "rescue reaches its goal")
    run = client.get_workflow_handle_for(PlaybookRunWorkflow.run, f"playbook/rescue/{account}/1")
    expect((await run.result()).ended_by == "goal", "rescue reached its goal")
    return {
        "account_history_rescue": await settled(run),
        "account_history": await settled(handle),
    }


async def account_decisions(env: WorkflowEnvironment) -> Histories:
    """The decision log (behind its patch): the account_history journey again, now with every
    decision of the account and of its rescue run sent to record_history as it happens,
    coalesced, and the run's outcome with its last decisions."""
    histories = await account_history(env)
    return {
        "account_decisions": histories["account_history"],
        "account_decisions_rescue": histories["account_history_rescue"],
    }


async def exists(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the workflow has started: asked by describing it, never by a query (see
    history_in_task)."""
    try:
        await handle.describe()
    except RPCError:
        return False
    return True


async def history_in_task(env: WorkflowEnvironment) -> Histories:
    """History sent inside workflow tasks (patch history-in-task): the account_history journey
    again, each send a local activity in its own task, those of a task that enrolls, signals
    or acts waiting for the task that reaction's completion brings, and the run's last
    decisions and outcome sent as it ends.

    It waits by describing workflows, never by querying them: the time-skipping server
    delivers a query that meets a local activity inside the workflow task (a legacy query),
    which splits the task where a real server would not, and that split does not replay.
    """
    client = env.client
    account = "umbrella"
    handle = client.get_workflow_handle(account_workflow_id(account))
    run = client.get_workflow_handle_for(PlaybookRunWorkflow.run, f"playbook/rescue/{account}/1")

    await publish(client, catalog_of(load_relative(FIXTURES, "journeys")), QUEUE)
    await send(client, account, AttributeChange(set={"segment": "smb", "arr": 12000}), QUEUE)
    await send(client, account, HealthEvent(score=70), QUEUE)
    await send(client, account, HealthEvent(score=30), QUEUE)
    await eventually(lambda: exists(run), "rescue enrolls on the drop")
    await send(client, account, AccountEvent(name="renewal.signed"), QUEUE)
    await send(client, account, HealthEvent(score=96), QUEUE)
    expect((await run.result()).ended_by == "goal", "rescue reached its goal")
    return {
        "history_in_task_rescue": await settled(run),
        "history_in_task": await settled(handle),
    }


async def combined_events(env: WorkflowEnvironment) -> Histories:
    """One event's parts in one signal (patch combined-events; tests/fixtures/forwarding: onboard
    and watch enroll on contract.signed): attributes with the event that enrolls the account,
    then a reading with an attribute change. Waits by describing, as history_in_task does."""
    client = env.client
    account = "acme"
    handle = client.get_workflow_handle(account_workflow_id(account))
    run = client.get_workflow_handle(f"playbook/onboard/{account}/1")

    await publish(client, catalog_of(load_relative(FIXTURES, "forwarding")), QUEUE)
    signed: list[HealthEvent | AttributeChange | AccountEvent] = [
        AttributeChange(event_id="crm-1/set", set={"segment": "smb", "owner": "jo"}),
        AccountEvent(event_id="crm-1/event", name="contract.signed"),
    ]
    await send_event(client, account, signed, QUEUE)
    await eventually(lambda: exists(run), "onboard enrolls on the signed contract")
    reading: list[HealthEvent | AttributeChange | AccountEvent] = [
        AttributeChange(event_id="crm-2/set", set={"arr": 24000}),
        HealthEvent(event_id="crm-2/health", score=64),
    ]
    await send_event(client, account, reading, QUEUE)
    history = await settled(handle)
    names = [
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in history.events
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    expect(names[:2] == ["event", "event"], f"one signal per event, saw {names}")
    return {"combined_events": history}


async def account_exact_wakes(env: WorkflowEnvironment) -> Histories:
    """Exact wake-ups (behind their patch), on the shipped playbooks: an account whose renewal
    is 110 days off; a 23-point drop in 3 days enters churn-prevention through its 14-day
    change rule, the account wakes when that drop leaves the window (day 17) besides its daily
    look for a newer catalog, and the renewal run starts on its entry date (day 20, 90 days
    before the renewal)."""
    client = env.client
    account = "hooli"
    handle = client.get_workflow_handle(account_workflow_id(account))

    async def running(name: str) -> bool:
        status: AccountStatus = await handle.query(AccountWorkflow.status)
        e = status.enrollments.get(name)
        return e is not None and e.running

    await publish(client, catalog_of(load([ROOT / "playbooks"])), QUEUE)
    renewal = (await env.get_current_time() + timedelta(days=110)).date().isoformat()
    people = {"owner": "csm@example.com", "manager": "lead@example.com", "name": "Hooli"}
    await send(client, account, AttributeChange(set={**people, "segment": "smb"}), QUEUE)
    await send(client, account, AttributeChange(set={"renewal_date": renewal}), QUEUE)
    await send(client, account, HealthEvent(score=85), QUEUE)
    await env.sleep(timedelta(days=3))
    await send(client, account, HealthEvent(score=62), QUEUE)
    await eventually(lambda: running("churn-prevention"), "churn-prevention enrolls on the drop")
    await env.sleep(timedelta(days=8))
    expect(not await running("renewal"), "renewal waits for its date")
    await env.sleep(timedelta(days=10))
    await eventually(lambda: running("renewal"), "renewal enrolls 90 days before the renewal")
    await send(client, account, AccountEvent(name="contract.cancelled"), QUEUE)
    await eventually(lambda: _not(running("renewal")), "the cancellation ends the renewal")
    churn = client.get_workflow_handle_for(
        PlaybookRunWorkflow.run, f"playbook/churn-prevention/{account}/1"
    )
    expect((await churn.result()).ended_by == "exit", "the cancellation ends churn-prevention")
    history = await settled(handle)
    markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    expect(bool(markers), "the exact-wakes patch marker is in the history")
    return {"account_exact_wakes": history, "account_exact_wakes_churn": await settled(churn)}


async def onboarding_exact_end(env: WorkflowEnvironment) -> Histories:
    """Exact endings (behind their patch): the shipped onboarding to its last step, which
    now leaves the tasks it handed to people open (no close at the natural end)."""
    history = await _onboarding(env, "playbook/onboarding/acme/2")
    closes = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "close_items"
    ]
    expect(not closes, "a natural end closed the run's tasks")
    return {"onboarding_exact_end": history}


async def ladder_exact_rearm_stop(env: WorkflowEnvironment) -> Histories:
    """Exact endings (behind their patch): CSM engaged and acknowledged, recovered for 7 days
    and stood down, red at the next reading so engaged again at once; an operator's stop
    closes everything and clears EscalationTier."""
    client = env.client
    start = await env.get_current_time()
    at_risk = Facts(now=start, health=Health(score=45, tier="at-risk"), account={})
    run_input = RunInput(
        plan=load_relative(FIXTURES, "ladder").plan("rescue"),
        account_id="stark",
        cycle=1,
        enrolled_at=start,
        facts=at_risk,
    )
    handle = await client.start_workflow(
        PlaybookRunWorkflow.run, run_input, id="playbook/rescue/stark/1", task_queue=QUEUE
    )
    await env.sleep(timedelta(hours=1))
    await handle.signal(PlaybookRunWorkflow.acknowledge, Acknowledgement(by="sam"))
    recovered = Facts(now=start, health=Health(score=75, tier="good"), account={})
    await handle.signal(PlaybookRunWorkflow.update, recovered)
    await env.sleep(timedelta(days=7, hours=1))
    await handle.signal(PlaybookRunWorkflow.update, at_risk)
    await env.sleep(timedelta(hours=1))
    status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
    kinds = [d.kind for d in status.why if d.kind in ("escalated", "de-escalated")]
    expect(kinds == ["escalated", "de-escalated", "escalated"], f"ladder went {kinds}")
    await handle.signal(PlaybookRunWorkflow.stop, StopRequest(reason="handled"))
    result: RunResult = await handle.result()
    expect(result.ended_by == "stopped", f"rescue ended {result}")
    return {"ladder_exact_rearm_stop": await settled(handle)}


async def renewal_catch_up(env: WorkflowEnvironment) -> Histories:
    """Catch-up (behind its patch): the shipped renewal play entered 20 days before the
    renewal skips the passed value-review email, files the passed tasks, sends the contract
    (its step asks to run when passed) and is ended by the signed renewal."""
    start = await env.get_current_time()
    renewal = (start + timedelta(days=20)).date().isoformat()
    run_input = RunInput(
        plan=load_relative(ROOT, "playbooks").plan("renewal"),
        account_id="wayne",
        cycle=1,
        enrolled_at=start,
        facts=Facts(
            now=start,
            health=Health(score=70, tier="good"),
            account={"segment": "smb", "name": "Wayne", "renewal_date": renewal},
        ),
    )
    handle = await env.client.start_workflow(
        PlaybookRunWorkflow.run, run_input, id="playbook/renewal/wayne/1", task_queue=QUEUE
    )
    await env.sleep(timedelta(days=1))
    status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
    skipped = [d.rule for d in status.why if d.rule.endswith(".catch_up")]
    expect(skipped == ["steps.value-review-email.catch_up"], f"skipped {skipped}")
    await handle.signal(PlaybookRunWorkflow.event, LifecycleEvent(name="renewal.signed"))
    result: RunResult = await handle.result()
    expect(result.ended_by == "goal", f"renewal ended {result}")
    return {"renewal_catch_up": await settled(handle)}


async def experiment_holdout(env: WorkflowEnvironment) -> Histories:
    """Experiments (behind their patch): a held-out account of the strict fixture play
    (internal: skip) is assigned its arm, skips its tasks and a variant's step, has its
    ladder held while at-risk and engaged by the guard rail when health turns critical."""
    plan = load_relative(FIXTURES, "experiments").plan("strict")
    start = await env.get_current_time()
    facts = Facts(now=start, health=Health(score=50, tier="at-risk"), account={"name": "Oscorp"})
    run_input = RunInput(plan=plan, account_id="acct-1", cycle=1, enrolled_at=start, facts=facts)
    handle = await env.client.start_workflow(
        PlaybookRunWorkflow.run, run_input, id="playbook/strict/acct-1/1", task_queue=QUEUE
    )
    await env.sleep(timedelta(days=2))
    worse = facts.model_copy(
        update={"now": await env.get_current_time(), "health": Health(score=20, tier="critical")}
    )
    await handle.signal(PlaybookRunWorkflow.update, worse)
    await env.sleep(timedelta(days=1))
    status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
    held = [d.rule for d in status.why if d.kind == "held_out"]
    expect(held == ["steps.note", "escalation"], f"held out {held}")
    expect(status.escalation_tier == "csm", f"escalation {status.escalation_tier}")
    await handle.signal(PlaybookRunWorkflow.stop, StopRequest(reason="recorded"))
    await handle.result()
    return {"experiment_holdout": await settled(handle)}


async def account_refuses_values(env: WorkflowEnvironment) -> Histories:
    """An account given what it cannot use, sent around the edge's checks: a renewal date in
    the year 1 (left out, recorded), a reading whose payload is not a HealthEvent (recorded,
    dropped); the next reading enrolls it in rescue as usual."""
    client = env.client
    account = "soylent"
    handle = client.get_workflow_handle(account_workflow_id(account))
    await publish(client, catalog_of(load_relative(FIXTURES, "journeys")), QUEUE)
    change = AttributeChange(
        event_id="bad-date", set={"segment": "smb", "renewal_date": "0001-01-05"}
    )
    await send(client, account, change, QUEUE)
    await handle.signal("health", {"kind": "health", "components": {"usage": None}})
    await send(client, account, HealthEvent(event_id="drop", score=30), QUEUE)

    async def enrolled() -> bool:
        status: AccountStatus = await handle.query(AccountWorkflow.status)
        return "rescue" in status.enrollments

    await eventually(enrolled, "rescue enrolls on the drop after the refusals")
    status: AccountStatus = await handle.query(AccountWorkflow.status)
    refused = {d.rule for d in status.why if d.kind == "skipped"}
    expect(
        {"account.attributes.renewal_date", "account.signals.health"} <= refused,
        "both refusals are recorded",
    )
    return {"account_refuses_values": await settled(handle)}


async def account_forwards_reads(env: WorkflowEnvironment) -> Histories:
    """Journeys woken only by what they read (behind its patch), with tests/fixtures/forwarding:
    onboard reads no health, watch the tier; readings in one tier wake neither, an owner
    change both, a new tier watch (whose goal ends it). A segment that is not a name is left
    out (behind its patch)."""
    client = env.client
    account = "initech"
    handle = client.get_workflow_handle(account_workflow_id(account))
    await publish(client, catalog_of(load_relative(FIXTURES, "forwarding")), QUEUE)
    await send(client, account, AccountEvent(event_id="signed", name="contract.signed"), QUEUE)

    async def status() -> AccountStatus:
        found: AccountStatus = await handle.query(AccountWorkflow.status)
        return found

    async def enrolled() -> bool:
        return {"onboard", "watch"} <= set((await status()).enrollments)

    await eventually(enrolled, "both journeys enroll")
    for event_id, score in (("r1", 50), ("r2", 52)):
        await send(client, account, HealthEvent(event_id=event_id, score=score), QUEUE)
    change = AttributeChange(event_id="o1", set={"owner": "jo", "segment": {"not": "a name"}})
    await send(client, account, change, QUEUE)
    await send(client, account, HealthEvent(event_id="n1", components={"nps": 60.0}), QUEUE)
    await send(client, account, HealthEvent(event_id="r3", score=90), QUEUE)

    async def watched() -> bool:
        return (await status()).enrollments["watch"].ended_by == "goal"

    await eventually(watched, "watch reaches its goal on the new tier")
    found = await status()
    expect(found.attributes.get("owner") == "jo", "the owner is applied")
    expect("segment" not in found.attributes, "the segment is left out")
    return {"account_forwards_reads": await settled(handle)}


async def vouched_0_2(env: WorkflowEnvironment) -> Histories:
    """An account created by a 0.2.0 client, which vouches for every patch the account and its
    runs ask about (README, "Releases and upgrades"): the history_in_task journey with an
    event's parts in one signal, and neither history records a marker for a vouched patch."""
    client = env.client
    account = "vouched"
    handle = client.get_workflow_handle(account_workflow_id(account))
    run = client.get_workflow_handle_for(PlaybookRunWorkflow.run, f"playbook/rescue/{account}/1")

    await publish(client, catalog_of(load_relative(FIXTURES, "journeys")), QUEUE)
    first: list[HealthEvent | AttributeChange | AccountEvent] = [
        AttributeChange(set={"segment": "smb", "arr": 12000}),
        HealthEvent(score=70),
    ]
    await send_event(client, account, first, QUEUE)
    await send(client, account, HealthEvent(score=30), QUEUE)
    await eventually(lambda: exists(run), "rescue enrolls on the drop")
    await send(client, account, AccountEvent(name="renewal.signed"), QUEUE)
    await send(client, account, HealthEvent(score=96), QUEUE)
    expect((await run.result()).ended_by == "goal", "rescue reached its goal")
    histories = {"vouched_0_2_rescue": await settled(run), "vouched_0_2": await settled(handle)}
    for name, history in histories.items():
        asked = [
            e.marker_recorded_event_attributes.SerializeToString()
            for e in history.events
            if e.HasField("marker_recorded_event_attributes")
            and e.marker_recorded_event_attributes.marker_name == "core_patch"
        ]
        # Patches too new to vouch for are asked (each joins the lists a release after it).
        vouched = [p.encode() for p in (*ACCOUNT_PATCHES, *RUN_PATCHES)]
        asked = [m for m in asked if any(p in m for p in vouched)]
        expect(not asked, f"{name} asks about no vouched patch, saw {asked}")
    return histories


async def plans_by_hash(env: WorkflowEnvironment) -> Histories:
    """An account whose index lists what each plan's runs read, so it enrolls with the plan
    from the worker's memory and no local activity (engine.journeys._plan_cache); replayed
    with nothing in memory (tests/fixtures/forwarding: onboard and watch enroll on
    contract.signed), then a reading the runs read. Waits by describing."""
    client = env.client
    account = "hashed"
    handle = client.get_workflow_handle(account_workflow_id(account))
    run = client.get_workflow_handle(f"playbook/watch/{account}/1")
    await publish(client, catalog_of(load_relative(FIXTURES, "forwarding")), QUEUE)
    signed: list[HealthEvent | AttributeChange | AccountEvent] = [
        AttributeChange(set={"segment": "smb", "owner": "jo"}),
        AccountEvent(name="contract.signed"),
    ]
    await send_event(client, account, signed, QUEUE)
    await eventually(lambda: exists(run), "watch enrolls on the signed contract")
    await send(client, account, HealthEvent(score=35), QUEUE)
    history = await settled(handle)
    markers = [
        e.marker_recorded_event_attributes.SerializeToString()
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
    ]
    expect(not [m for m in markers if b"resolve_plan" in m], "no local activity for a plan")
    return {"plans_by_hash": history, "plans_by_hash_watch": await settled(run)}


async def run_starts_current(env: WorkflowEnvironment) -> Histories:
    """An account that starts its runs with their account, playbook and version as search
    attributes and their patches vouched for (behind its patch), and one of those runs, whose
    first task then records no patch marker and upserts only its step
    (tests/fixtures/forwarding: onboard and watch enroll on contract.signed)."""
    client = env.client
    account = "acme"
    handle = client.get_workflow_handle(account_workflow_id(account))
    await publish(client, catalog_of(load_relative(FIXTURES, "forwarding")), QUEUE)
    await send(client, account, AccountEvent(event_id="signed", name="contract.signed"), QUEUE)

    async def enrolled() -> bool:
        found: AccountStatus = await handle.query(AccountWorkflow.status)
        return {"onboard", "watch"} <= set(found.enrollments)

    await eventually(enrolled, "both journeys enroll")
    run = await settled(client.get_workflow_handle(f"playbook/onboard/{account}/1"))
    started = run.events[0].workflow_execution_started_event_attributes
    expect("Playbook" in started.search_attributes.indexed_fields, "the run starts with them")
    markers = [e for e in run.events if e.HasField("marker_recorded_event_attributes")]
    expect(not markers, "the run asks about no patch")
    return {
        "run_starts_current_onboard": run,
        "run_starts_current": await settled(handle),
    }


async def approvals(env: WorkflowEnvironment) -> Histories:
    """Approval steps (tests/fixtures/approvals): one request answered (rejected, with a note)
    after its sla engaged the ladder; one that nobody answers, which times out."""
    plan = load_relative(FIXTURES, "approvals").plan("save")
    start = await env.get_current_time()
    facts = Facts(now=start, health=Health(score=35, tier="at-risk", trend="declining"))
    histories: Histories = {}
    for name, account in (("approval_answered", "wonka"), ("approval_timed_out", "oscorp")):
        handle = await env.client.start_workflow(
            PlaybookRunWorkflow.run,
            RunInput(plan=plan, account_id=account, cycle=1, enrolled_at=start, facts=facts),
            id=f"playbook/save/{account}/1",
            task_queue=QUEUE,
        )
        if name == "approval_answered":

            async def asking(handle: WorkflowHandle[Any, Any] = handle) -> bool:
                status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
                return status.waiting is not None and "approval" in status.waiting

            await eventually(asking, "the approval request is open")
            await env.sleep(timedelta(hours=30))
            answer = ApprovalAnswer(step="discount", approved=False, by="maria", note="not now")
            await handle.execute_update(PlaybookRunWorkflow.answer_approval, answer)
        result: RunResult = await handle.result()
        status = await handle.query(PlaybookRunWorkflow.status)
        kinds = [d.kind for d in status.why]
        wanted = "rejected" if name == "approval_answered" else "approval_timeout"
        expect(wanted in kinds and result.ended_by == "end", f"{name}: {kinds}")
        expect("escalation_requested" in kinds, f"{name}: the sla engages the ladder")
        histories[name] = await settled(handle)
    return histories


async def email_reviewed(env: WorkflowEnvironment) -> Histories:
    """Reviewed emails (tests/fixtures/outbox): the first draft sent after its review, the
    second not reviewed in its day and sent as written (its step says unreviewed: send)."""
    plan = load_relative(FIXTURES, "outbox").plan("outreach")
    start = await env.get_current_time()
    handle = await env.client.start_workflow(
        PlaybookRunWorkflow.run,
        RunInput(
            plan=plan,
            account_id="tyrell",
            cycle=1,
            enrolled_at=start,
            facts=Facts(now=start, health=Health(score=40)),
        ),
        id="playbook/outreach/tyrell/1",
        task_queue=QUEUE,
    )

    async def reviewing() -> bool:
        status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
        return status.waiting is not None and "review" in status.waiting

    await eventually(reviewing, "the first draft waits for its review")
    answer = ApprovalAnswer(step="save-note", approved=True, by="sam", note="fine")
    await handle.execute_update(PlaybookRunWorkflow.answer_approval, answer)
    result: RunResult = await handle.result()
    status = await handle.query(PlaybookRunWorkflow.status)
    kinds = [d.kind for d in status.why]
    expect(result.ended_by == "end", f"outreach ended {result}")
    expect(kinds.count("drafted") == 2 and "review_timeout" in kinds, f"reviews: {kinds}")
    return {"email_reviewed": await settled(handle)}


async def contact_caps(env: WorkflowEnvironment) -> Histories:
    """Contact caps (tests/fixtures/caps): three journeys enrolled together email the
    customer under a cap of two a week; the lowest-priority one is deferred until day 7."""
    client = env.client
    account = "cyberdyne"
    handle = client.get_workflow_handle(account_workflow_id(account))
    await publish(client, catalog_of(load_relative(FIXTURES, "caps")), QUEUE)
    contact = {"name": "Cyberdyne", "contact_email": "miles@cyberdyne.example"}
    await send(client, account, AttributeChange(event_id="a", set=contact), QUEUE)
    await send(client, account, AccountEvent(event_id="s", name="contract.signed"), QUEUE)

    async def enrolled() -> bool:
        status: AccountStatus = await handle.query(AccountWorkflow.status)
        return {"welcome", "renewal-notice", "qbr-invite"} <= set(status.enrollments)

    await eventually(enrolled, "the three journeys enroll")
    await env.sleep(timedelta(days=8))
    run = client.get_workflow_handle(f"playbook/qbr-invite/{account}/1")
    status: RunStatus = await run.query(PlaybookRunWorkflow.status)
    kinds = [d.kind for d in status.why]
    expect("contact_deferred" in kinds and "action" in kinds, f"qbr-invite: {kinds}")
    return {
        "account_contact_caps": await settled(handle),
        "contact_caps_deferred": await settled(run),
    }


async def account_date_anchors(env: WorkflowEnvironment) -> Histories:
    """Dates on a custom attribute (behind their patches), with tests/fixtures/anchors: a run
    waits for a go-live date it does not have yet (recorded in why), prepares two days
    before it, follows the date when it slips and follows up a week after; the account
    enters go-live-check a week after the date."""
    client = env.client
    account = "initech"
    handle = client.get_workflow_handle(account_workflow_id(account))
    await publish(client, catalog_of(load_relative(FIXTURES, "anchors")), QUEUE)
    await send(client, account, AccountEvent(event_id="signed", name="contract.signed"), QUEUE)
    run = client.get_workflow_handle_for(
        PlaybookRunWorkflow.run, f"playbook/go-live-plan/{account}/1"
    )

    async def waiting() -> bool:
        with contextlib.suppress(Exception):  # the run may not have started yet
            status: RunStatus = await run.query(PlaybookRunWorkflow.status)
            return any(d.kind == "waiting" for d in status.why)
        return False

    await eventually(waiting, "the run says it waits for the go-live date")
    start = await env.get_current_time()
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    go_live = (day + timedelta(days=5)).date().isoformat()
    await send(
        client, account, AttributeChange(event_id="g1", set={"go_live_date": go_live}), QUEUE
    )
    await env.sleep(timedelta(days=4))
    slipped = (day + timedelta(days=8)).date().isoformat()
    await send(
        client, account, AttributeChange(event_id="g2", set={"go_live_date": slipped}), QUEUE
    )
    await env.sleep(timedelta(days=12))  # past the slipped date + 7 days
    expect((await run.result()).ended_by == "completed", "go-live-plan runs to its end")

    async def checked() -> bool:
        status: AccountStatus = await handle.query(AccountWorkflow.status)
        return "go-live-check" in status.enrollments

    await eventually(checked, "go-live-check enrolls a week after the go-live")
    return {
        "account_date_anchors": await settled(handle),
        "account_date_anchors_run": await settled(run),
    }


async def account_event_counts(env: WorkflowEnvironment) -> Histories:
    """Event counts, with tests/fixtures/counts: an executive meeting turns upsell's entry
    true; busy's CEL count is met on the third login; quiet's exit counts champion.left and
    fires on that event, the account sending the count before the event."""
    client = env.client
    account = "hooli"
    handle = client.get_workflow_handle(account_workflow_id(account))
    await publish(client, catalog_of(load_relative(FIXTURES, "counts")), QUEUE)
    await send(client, account, HealthEvent(event_id="h1", score=85), QUEUE)
    await send(client, account, AccountEvent(event_id="m1", name="exec.meeting"), QUEUE)
    await send(client, account, AccountEvent(event_id="s1", name="contract.signed"), QUEUE)

    async def status() -> AccountStatus:
        found: AccountStatus = await handle.query(AccountWorkflow.status)
        return found

    async def enrolled() -> bool:
        return {"upsell", "quiet", "busy"} <= set((await status()).enrollments)

    await eventually(enrolled, "upsell, quiet and busy enroll")
    for index in range(3):
        await send(client, account, AccountEvent(event_id=f"l{index}", name="login"), QUEUE)
    await send(client, account, AccountEvent(event_id="c1", name="champion.left"), QUEUE)
    quiet = client.get_workflow_handle_for(PlaybookRunWorkflow.run, f"playbook/quiet/{account}/1")
    expect((await quiet.result()).ended_by == "exit", "quiet exits on champion.left")
    busy = client.get_workflow_handle_for(PlaybookRunWorkflow.run, f"playbook/busy/{account}/1")
    expect((await busy.result()).ended_by == "completed", "busy is met on the third login")
    return {
        "account_event_counts": await settled(handle),
        "account_event_counts_quiet": await settled(quiet),
    }


async def cadence_windows(env: WorkflowEnvironment) -> Histories:
    """Calendars (behind their patches), with tests/fixtures/windows: an account in Tokyo
    enrolled on Wednesday 2027-03-03 14:00 local; the day-3 email falls on Saturday and waits
    for Monday's 09:00 window (deferred in why), then a 2bd wait ends Wednesday 09:00."""
    enrolled = datetime(2027, 3, 3, 5, 0, tzinfo=UTC)  # 14:00 in Tokyo
    offset = timedelta(seconds=math.ceil((enrolled - await env.get_current_time()).total_seconds()))
    run_input = RunInput(
        plan=load_relative(FIXTURES, "windows").plan("cadence"),
        account_id="kaisha",
        cycle=1,
        enrolled_at=enrolled,
        facts=Facts(
            now=enrolled,
            health=Health(score=70, tier="good"),
            account={"segment": "enterprise", "name": "Kaisha", "timezone": "Asia/Tokyo"},
        ),
    )
    handle = await env.client.start_workflow(
        PlaybookRunWorkflow.run,
        run_input,
        id="playbook/cadence/kaisha/1",
        task_queue=QUEUE,
        memo=memo_for(offset),
    )
    result: RunResult = await handle.result()
    expect(result.ended_by == "completed", f"cadence ended {result}")
    status: RunStatus = await handle.query(PlaybookRunWorkflow.status)
    deferred = [d.rule for d in status.why if d.kind == "deferred"]
    expect(deferred == ["steps.day-3-email.send_window"], f"deferred {deferred}")
    return {"cadence_windows": await settled(handle)}


async def account_overrides(env: WorkflowEnvironment) -> Histories:
    """A health override set and expiring, with tests/fixtures/overrides: watch waits for a
    score below 50; a CSM overrides to 75 for three days, so the model's 40 starts nothing;
    at the end of the override (a durable timer) rescue enrolls and watch acts."""
    client = env.client
    account = "globex"
    handle = client.get_workflow_handle(account_workflow_id(account))
    await publish(client, catalog_of(load_relative(FIXTURES, "overrides")), QUEUE)
    await send(client, account, HealthEvent(event_id="h1", score=80), QUEUE)
    await send(client, account, AccountEvent(event_id="s1", name="contract.signed"), QUEUE)

    async def status() -> AccountStatus:
        found: AccountStatus = await handle.query(AccountWorkflow.status)
        return found

    async def watching() -> bool:
        return "watch" in (await status()).enrollments

    await eventually(watching, "watch enrolls on the signed contract")
    until = await env.get_current_time() + timedelta(days=3)
    request = OverrideRequest(by="dana", reason="renewal confirmed", score=75, until=until)
    await handle.execute_update("override_health", request)
    await send(client, account, HealthEvent(event_id="h2", score=40), QUEUE)

    async def model_scored() -> bool:
        found = await status()
        return found.health.score == 40 and found.override is not None

    await eventually(model_scored, "the model scores 40 under the override")
    expect("rescue" not in (await status()).enrollments, "the override holds rescue off")
    await env.sleep(timedelta(days=4))

    async def rescued() -> bool:
        found = await status()
        ended = any(d.kind == "override_expired" for d in found.why)
        return ended and "rescue" in found.enrollments

    await eventually(rescued, "the override expires and rescue enrolls")
    watch = client.get_workflow_handle_for(PlaybookRunWorkflow.run, f"playbook/watch/{account}/1")
    rescue = client.get_workflow_handle_for(PlaybookRunWorkflow.run, f"playbook/rescue/{account}/1")
    expect((await rescue.result()).ended_by == "completed", "rescue runs its call")
    return {
        "account_overrides": await settled(handle),
        "account_overrides_watch": await settled(watch),
    }


async def catalog_announced(env: WorkflowEnvironment) -> Histories:
    """An account that reads the catalog when a publish is announced, not on its events.

    Under a set without upsell, readings of 90 a day apart read no catalog; the set with
    upsell is published and announced (this server keeps no visibility, so the catalog's
    announcement fails and the journey sends the account the notice announce_catalog would),
    and the account enrolls in upsell with no event of its own. Also records the catalog
    workflow, its announcements failing on this server.
    """
    client = env.client
    account = "vandelay"
    handle = client.get_workflow_handle(account_workflow_id(account))
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(FIXTURES / "journeys", Path(tmp) / "rescue-only")
        (Path(tmp) / "rescue-only" / "upsell.yaml").unlink()
        rescue = Path(tmp) / "rescue-only" / "rescue.yaml"
        rescue.write_text(rescue.read_text().replace("suppresses: [upsell]\n", ""))
        first = catalog_of(load_relative(Path(tmp), "rescue-only"))
    second = catalog_of(load_relative(FIXTURES, "journeys"))

    async def readings(n: int) -> bool:
        status: AccountStatus = await handle.query(AccountWorkflow.status)
        return len(status.score_history) == n

    async def upsell() -> bool:
        status: AccountStatus = await handle.query(AccountWorkflow.status)
        return "upsell" in status.enrollments

    await publish(client, first, QUEUE)
    for n in range(2):
        await send(client, account, HealthEvent(event_id=f"r{n}", score=90), QUEUE)
        await eventually(lambda n=n: readings(n + 1), f"reading {n + 1} applied")
        await env.sleep(timedelta(days=1))
    await publish(client, second, QUEUE)
    await handle.signal(CATALOG_SIGNAL, CatalogNotice(hash=second.hash))
    await eventually(upsell, "upsell enrolled on the notice")
    return {
        "catalog_announces": await settled(client.get_workflow_handle(CATALOG_WORKFLOW_ID)),
        "catalog_announced": await settled(handle),
    }


_INITIATED = EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED


async def attributes_with_enrollment(env: WorkflowEnvironment) -> Histories:
    """An account a 0.3.0 client made (attributes-with-enrollment not vouched for: asked, its
    marker in the first task) whose first event sets its segment and owner and signs the
    contract (tests/fixtures/forwarding: onboard and watch enroll on it): the attributes are
    upserted in the task that starts the first run, none in the tasks after."""
    made_by_0_3 = [p for p in ACCOUNT_PATCHES if p != ATTRIBUTES_WITH_ENROLLMENT]
    history = await _signs_with_attributes(env, "acme", made_by_0_3)
    expect(_patches_asked(history) == [ATTRIBUTES_WITH_ENROLLMENT], "its patch asked once")
    return {"attributes_with_enrollment": history}


async def vouched_0_4(env: WorkflowEnvironment) -> Histories:
    """The same account made by a 0.4.0 client, which vouches for attributes-with-enrollment:
    no patch marker in its history, the attributes still go with the first run's start."""
    history = await _signs_with_attributes(env, "vouched", list(ACCOUNT_PATCHES))
    expect(not _patches_asked(history), "no patch asked")
    return {"vouched_0_4": history}


async def _signs_with_attributes(
    env: WorkflowEnvironment, account: str, patches: list[str]
) -> WorkflowHistory:
    client = env.client
    handle = client.get_workflow_handle(account_workflow_id(account))
    await publish(client, catalog_of(load_relative(FIXTURES, "forwarding")), QUEUE)
    signed = CombinedEvent(
        parts=[
            AttributeChange(set={"segment": "smb", "owner": "csm@example.com"}),
            AccountEvent(event_id="signed", name="contract.signed"),
        ]
    )
    # As engine.client._start.send starts an account, with the patches of the client named.
    await client.start_workflow(
        AccountWorkflow.run,
        AccountState(account_id=account, patches=patches),
        id=account_workflow_id(account),
        task_queue=QUEUE,
        start_signal=ACCOUNT_SIGNALS[CombinedEvent],
        start_signal_args=[signed],
    )

    async def enrolled() -> bool:
        found: AccountStatus = await handle.query(AccountWorkflow.status)
        return {"onboard", "watch"} <= set(found.enrollments)

    await eventually(enrolled, "both journeys enroll")
    history = await settled(handle)
    kinds = [e.event_type for e in history.events]
    segment = next(
        i
        for i, e in enumerate(history.events)
        if "Segment"
        in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    )
    expect(segment < kinds.index(_INITIATED), "segment upserted before the first start")
    return history


async def decision_wakes(env: WorkflowEnvironment) -> Histories:
    """An account a 0.4.0 client made (wake-on-decisions asked as it starts) with
    tests/fixtures/decision_wakes: three readings inside the at-risk tier wake neither
    journey; ten days on, shows's email is requested with fetch_health; a reading in the
    healthy tier wakes shows, whose goal ends it."""
    with made_by_0_4():
        return await _wakes_on_decisions(env)


async def _wakes_on_decisions(env: WorkflowEnvironment) -> Histories:
    client = env.client
    account = "wakes"
    handle = client.get_workflow_handle(account_workflow_id(account))
    run_id = f"playbook/shows/{account}/1"
    await publish(client, catalog_of(load_relative(FIXTURES, "decision_wakes")), QUEUE)
    signed = [
        HealthEvent(event_id="h0", score=50),
        AccountEvent(event_id="e0", name="contract.signed"),
    ]
    await send_event(client, account, signed, QUEUE)  # type: ignore[arg-type]

    async def status() -> AccountStatus:
        found: AccountStatus = await handle.query(AccountWorkflow.status)
        return found

    async def enrolled() -> bool:
        return {"shows", "alerts"} <= set((await status()).enrollments)

    await eventually(enrolled, "both journeys enroll")
    for n, score in enumerate((55.0, 45.0, 58.0), start=1):
        await send(client, account, HealthEvent(event_id=f"h{n}", score=score), QUEUE)

        async def applied(score: float = score) -> bool:
            return (await status()).health.score == score

        await eventually(applied, f"reading {score}")
    await env.sleep(timedelta(days=10, hours=1))
    run = client.get_workflow_handle(run_id)

    async def reported() -> bool:
        return any(_is_report(e) for e in (await run.fetch_history()).events)

    await eventually(reported, "the report is requested")
    await send(client, account, HealthEvent(event_id="h9", score=90), QUEUE)

    async def ended() -> bool:
        return (await status()).enrollments["shows"].ended_by == "goal"

    await eventually(ended, "shows's goal")
    history, run_history = await settled(handle), await settled(run)
    expect(_patches_asked(history) == [DECISION_WAKES], "its patch asked once")
    updates = [
        e
        for e in run_history.events
        if e.workflow_execution_signaled_event_attributes.signal_name == "update"
    ]
    expect(len(updates) == 1, "shows woken once, by the healthy tier")
    return {"decision_wakes_account": history, "decision_wakes_run": run_history}


async def ladder_stops(env: WorkflowEnvironment) -> Histories:
    """tests/fixtures/ladder_stops: handover engages its CSM tier, and a week later asks for
    its manager tier and ends in the same task; the manager is engaged, the ladder stands
    down and the run ends there (ladder-stops-with-the-steps asked as the steps end: the
    account a 0.4.0 client made enrolls the run with 0.4.0's patches)."""
    with made_by_0_4():
        history, _ = await _hands_over(env, "handover")
    expect(_patches_asked(history) == [LADDER_STOPS], "its patch asked once")
    return {"ladder_stops": history}


async def vouched_0_5(env: WorkflowEnvironment) -> Histories:
    """The handover of ladder_stops by an account a 0.5.0 client made, which vouches for
    wake-on-decisions and, to the runs it starts, ladder-stops-with-the-steps: no patch marker
    in either history; the manager tier still engages once and the run ends there."""
    run, account = await _hands_over(env, "vouched5")
    expect(not _patches_asked(run), "the run asks no patch")
    expect(not _patches_asked(account), "the account asks no patch")
    return {"vouched_0_5_run": run, "vouched_0_5": account}


async def _hands_over(
    env: WorkflowEnvironment, account: str
) -> tuple[WorkflowHistory, WorkflowHistory]:
    """tests/fixtures/ladder_stops for ``account``: its run's history, its account's."""
    client = env.client
    await publish(client, catalog_of(load_relative(FIXTURES, "ladder_stops")), QUEUE)
    signed = [AccountEvent(event_id="e0", name="contract.signed"), HealthEvent(score=50)]
    await send_event(client, account, signed, QUEUE)  # type: ignore[arg-type]
    run = client.get_workflow_handle(f"playbook/handover/{account}/1")
    await eventually(lambda: exists(run), "the run starts")
    await env.sleep(timedelta(days=7, hours=1))
    result = await run.result()
    expect(RunResult.model_validate(result).ended_by == "end", "the steps end the run")
    history = await settled(run)
    engaged = [
        e
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and b"manager" in e.activity_task_scheduled_event_attributes.input.payloads[0].data
    ]
    expect(len(engaged) == 1, "the manager tier engaged once")
    return history, await settled(client.get_workflow_handle(account_workflow_id(account)))


@contextlib.contextmanager
def made_by_0_4() -> Iterator[None]:
    """Accounts created meanwhile vouch for 0.4.0's patches, and runs they enroll get 0.4.0's
    (a recording of the release that shipped wake-on-decisions and ladder-stops-with-the-
    steps, asked; 0.5.0 vouches for both)."""
    account = [p for p in ACCOUNT_PATCHES if p != DECISION_WAKES]
    run = [p for p in RUN_PATCHES if p != LADDER_STOPS]
    with (
        mock.patch.object(_start, "ACCOUNT_PATCHES", tuple(account)),
        mock.patch.object(_enrolling, "RUN_PATCHES", tuple(run)),
    ):
        yield


def _is_report(event: Any) -> bool:
    """An activity scheduled for shows's report step, asking for the account's health."""
    if not event.HasField("activity_task_scheduled_event_attributes"):
        return False
    [payload] = event.activity_task_scheduled_event_attributes.input.payloads
    request = json.loads(payload.data)
    return bool(request["step"] == "report" and request["fetch_health"])


def _patches_asked(history: WorkflowHistory) -> list[str]:
    """The ids of the patch markers in ``history``, in order."""
    return [
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]


async def catalog_hash_memo(env: WorkflowEnvironment) -> Histories:
    """The catalog keeping the published hash in its memo (behind its patch): two sets
    published in turn until the run continues as new (the catalog's run ends after
    _PUBLISHES_PER_RUN publishes) and once more in the next run, which wrote the hash of the
    catalog it continued with as it started."""
    client = env.client
    sets = [
        catalog_of(load_relative(FIXTURES, "journeys")),
        catalog_of(load_relative(FIXTURES, "forwarding")),
    ]
    handle = client.get_workflow_handle(CATALOG_WORKFLOW_ID)
    await publish(client, sets[0], QUEUE)
    first = (await handle.describe()).run_id
    for n in range(1, _PUBLISHES_PER_RUN):
        await publish(client, sets[n % 2], QUEUE)

    async def continued() -> bool:
        return (await handle.describe()).run_id != first

    await eventually(continued, "the catalog continued as new")
    await publish(client, sets[_PUBLISHES_PER_RUN % 2], QUEUE)
    memo = await (await handle.describe()).memo_value(MEMO_HASH, None, type_hint=str)
    expect(memo == sets[_PUBLISHES_PER_RUN % 2].hash, "the memo holds the last published hash")
    return {
        "catalog_hash_memo": await settled(
            client.get_workflow_handle(CATALOG_WORKFLOW_ID, run_id=first)
        ),
        "catalog_hash_memo_continued": await settled(handle),
    }


async def _not(check: Awaitable[bool]) -> bool:
    return not await check


JOURNEYS: dict[str, Callable[[WorkflowEnvironment], Awaitable[Histories]]] = {
    "onboarding_run": onboarding_run,
    "ladder_climb_ack_recover": ladder_climb_ack_recover,
    "ladder_paused": ladder_paused,
    "ladder_by_segment": ladder_by_segment,
    "account_enroll_exit": account_enroll_exit,
    "account_continue_as_new": account_continue_as_new,
    "account_history": account_history,
    "account_decisions": account_decisions,
    "account_exact_wakes": account_exact_wakes,
    "onboarding_exact_end": onboarding_exact_end,
    "ladder_exact_rearm_stop": ladder_exact_rearm_stop,
    "renewal_catch_up": renewal_catch_up,
    "account_refuses_values": account_refuses_values,
    "account_forwards_reads": account_forwards_reads,
    "run_starts_current": run_starts_current,
    "approvals": approvals,
    "email_reviewed": email_reviewed,
    "contact_caps": contact_caps,
    "account_date_anchors": account_date_anchors,
    "account_event_counts": account_event_counts,
    "cadence_windows": cadence_windows,
    "experiment_holdout": experiment_holdout,
    "account_overrides": account_overrides,
    "catalog_announced": catalog_announced,
    "history_in_task": history_in_task,
    "combined_events": combined_events,
    "vouched_0_2": vouched_0_2,
    "plans_by_hash": plans_by_hash,
    "catalog_hash_memo": catalog_hash_memo,
    "attributes_with_enrollment": attributes_with_enrollment,
    "vouched_0_4": vouched_0_4,
    "decision_wakes": decision_wakes,
    "ladder_stops": ladder_stops,
    "vouched_0_5": vouched_0_5,
}


# Writing ------------------------------------------------------------------------------------


async def record(name: str) -> list[tuple[Path, int]]:
    """Run one journey, write its histories and their workflow ids, and replay what was written
    exactly as the test will: a recording that does not replay is removed, not kept."""
    async with environment() as env:
        histories = await JOURNEYS[name](env)
    ids = workflow_ids()
    written = []
    for file, history in histories.items():
        path = HERE / f"{file}.json"
        path.write_text(history.to_json() + "\n")
        ids[file] = history.workflow_id
        try:
            await Replayer(
                workflows=WORKFLOWS,
                data_converter=DATA_CONVERTER,
                workflow_runner=workflow_runner(DATA_CONVERTER),
            ).replay_workflow(load_history(path, ids))
        except Exception:
            path.unlink()
            raise
        written.append((path, len(history.events)))
    lines = [f"{stem} = {json.dumps(ids[stem])}" for stem in sorted(ids)]
    WORKFLOW_IDS.write_text(
        "# The workflow id of each recorded history (the history JSON does not carry it).\n"
        "# Written by `python -m tests.histories.record`.\n" + "\n".join(lines) + "\n"
    )
    return written


async def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in JOURNEYS]
    if unknown:
        print(f"unknown journeys: {', '.join(unknown)}; known: {', '.join(JOURNEYS)}")
        return 2
    for name in names or list(JOURNEYS):
        began = time.monotonic()
        written = await record(name)
        print(f"{name}: {time.monotonic() - began:.1f}s")
        for path, events in written:
            size = path.stat().st_size
            print(f"  {path.relative_to(ROOT)}: {events} events, {size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
