"""What journeys send to the engine's store: the account's changes for the dashboard, how each
run ended, and every decision (the log ``playbook why`` reads after retention).

Temporal keeps a journey's state, not its past, and deletes a closed run's history after the
namespace's retention: ARR, segment and tier changes, lifecycle events, journey outcomes and
the why trace are sent to the store (``workers/history.py``) by the ``record_history``
activity. An :class:`Outbox` coalesces them (a burst of decisions costs one send, not one
each), and its workflow waits for it before it returns or continues as new.

A send goes as a local activity inside the workflow task that noted it (patch
``history-in-task``): no activity task to dispatch and no workflow task for its completion,
which were two thirds of an enrollment's server work besides the journey's own. A reaction
never waits behind the store: a task that started an action, a child or a signal (whose
completion brings this workflow another task) leaves its sends for that next task. A local
send that fails or takes over two seconds is retried as the background activity it used to
be, and the workflow sends in the background from then on: a slow or absent database
delays no reaction and loses nothing.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, TemporalError

with workflow.unsafe.imports_passed_through():
    import engine.journeys._clock as _clock
    from engine.journeys._account_state import AccountState
    from engine.journeys._messages import (
        ChangeKind,
        Decision,
        DecisionRecord,
        HistoryChange,
        HistoryRequest,
        JourneyRecord,
        RunInput,
        RunResult,
    )
    from engine.journeys._options import ACTION_RETRY

HISTORY_TIMEOUT = timedelta(seconds=10)
HISTORY_PATCH = "record-account-history"
"""Accounts that ran before the history existed replay without it (see :meth:`send`)."""
DECISIONS_PATCH = "record-decisions"
"""Workflows that ran before the decision log replay without it: read once, at the start of
each run (an account's next run after an upgrade logs its decisions)."""
HISTORY_IN_TASK = "history-in-task"
"""workflow.patched id: sends go as local activities in a task no reaction waits on; runs from
before send each batch as a background activity."""
IN_TASK_TIMEOUT = timedelta(seconds=2)
"""How long a send inside a workflow task may take before it is retried in the background."""
UNLOGGED = "history_failed"
"""A decision about the store itself is not sent to it (it would fail alike, again)."""


def decision_record(account_id: str, decision: Decision) -> DecisionRecord:
    """``decision`` as the store keeps it: keyed by this workflow, its chain and its number."""
    info = workflow.info()
    return DecisionRecord(
        key=f"{info.workflow_id}/{info.first_execution_run_id}/why/{decision.seq}",
        account_id=account_id,
        workflow_id=info.workflow_id,
        decision=decision,
    )


class Outbox:
    """What one workflow has to send the store, sent coalesced: while one send is in flight,
    what is noted meanwhile waits and goes together in the next."""

    def __init__(
        self,
        failed: Callable[[HistoryRequest, str], None],
        patched: Callable[[str], bool],
    ) -> None:
        self._failed = failed
        self._patched = patched  # the workflow's, honouring the patches its starter vouched for
        self._changes: list[HistoryChange] = []
        self._decisions: list[DecisionRecord] = []
        self._journey: JourneyRecord | None = None
        self._sender: asyncio.Task[None] | None = None
        self._in_task: bool | None = None  # decided at the first send (the patch)
        self._reacting_in = -1  # the task (its history length) that started a reaction
        self._closing = False

    def reacting(self) -> None:
        """This workflow task is about to start an action, a child or a signal: sends wait
        for the task its completion brings, so that the reaction goes out at once."""
        self._reacting_in = workflow.info().get_current_history_length()

    async def settle(self) -> None:
        """Send what is left now, in this task even if it reacts, and wait until everything
        is sent: the workflow is about to return or continue as new, and a task it would
        wait for may not come."""
        self._closing = True
        self.flush()
        await workflow.wait_condition(self.idle)

    def add(
        self,
        changes: Sequence[HistoryChange] = (),
        decisions: Sequence[DecisionRecord] = (),
        journey: JourneyRecord | None = None,
    ) -> None:
        """Note something to send; :meth:`flush` sends it."""
        self._changes += changes
        self._decisions += decisions
        self._journey = journey or self._journey

    def flush(self) -> None:
        """Send what is noted, unless a send is in flight (it takes this along next)."""
        if self._sender is None and self._waiting():
            self._sender = asyncio.create_task(self._drain())

    def drop(self) -> None:
        """Forget what is noted (a simulation keeps no history)."""
        self._changes, self._decisions, self._journey = [], [], None

    def idle(self) -> bool:
        """Nothing noted and nothing in flight: the workflow may end."""
        return self._sender is None and not self._waiting()

    def _waiting(self) -> bool:
        return bool(self._changes or self._decisions or self._journey)

    async def _drain(self) -> None:
        while self._waiting():
            # Let the rest of this workflow task note its decisions first: one send for all.
            await workflow.wait_condition(lambda: True)
            in_task = self._sends_in_task()
            if in_task and self._reacting() and not self._closing:
                # Its reaction's completion brings the next task: send then, alongside.
                task = workflow.info().get_current_history_length()
                await workflow.wait_condition(functools.partial(self._next_task, task))
                continue
            request = HistoryRequest(
                changes=self._changes, decisions=self._decisions, journey=self._journey
            )
            self.drop()
            failed = await self._send(request, in_task)
            if failed:
                self._failed(request, failed)
        self._sender = None

    async def _send(self, request: HistoryRequest, in_task: bool) -> str | None:
        if in_task:
            try:
                await record_in_task(request)
                return None
            except TemporalError:  # a local activity's failure may come unwrapped
                self._in_task = False  # the store is slow or away: background sends from now
        return await send_history(request)

    def _sends_in_task(self) -> bool:
        if self._in_task is None:
            self._in_task = self._patched(HISTORY_IN_TASK)
        return self._in_task

    def _reacting(self) -> bool:
        return self._reacting_in == workflow.info().get_current_history_length()

    def _next_task(self, task: int) -> bool:
        return self._closing or workflow.info().get_current_history_length() != task


class Account(Protocol):
    """What the change log uses of the account workflow that owns it."""

    @property
    def state(self) -> AccountState: ...

    def note(self, decision: Decision) -> None: ...


class ChangeLog:
    """The changes and decisions one account workflow noted and has not sent yet, and those
    in flight."""

    def __init__(self, account: Account) -> None:
        self._account = account
        self._noted: list[HistoryChange] = []
        self._sending: list[asyncio.Task[None]] = []
        self._outbox: Outbox | None = None

    def start(self, decisions: bool, patched: Callable[[str], bool]) -> None:
        """At the start of a run: log decisions, coalesced, when the account's
        DECISIONS_PATCH holds (runs from before replay without); ``patched`` is the
        account's, which honours the patches its starter vouched for."""
        if decisions:
            self._outbox = Outbox(self._not_sent, patched)

    def note(self, kind: ChangeKind, old: Any, new: Any) -> None:
        """Note a change for the store; sent once the batch of events is handled."""
        state = self._account.state
        state.changes_recorded += 1
        self._noted.append(
            HistoryChange(
                key=f"{workflow.info().workflow_id}/{state.changes_recorded}",
                account_id=state.account_id,
                at=_clock.now(),
                kind=kind,
                old=None if old is None else str(old),
                new=None if new is None else str(new),
            )
        )

    def decide(self, decision: Decision) -> None:
        """Note a decision for the store, in runs that log them; sent with the changes."""
        if self._outbox is not None and decision.kind != UNLOGGED:
            self._outbox.add(decisions=[decision_record(self._account.state.account_id, decision)])

    def send(self) -> None:
        """Send the noted changes (and decisions): see :class:`Outbox` for when and how.

        Behind a patch: an account that ran before this existed replays its history without
        the activity (the patch is false for the rest of that run, so its changes are not
        recorded until it continues as new); new runs take the new path.
        """
        catalog = self._account.state.catalog
        if self._outbox is not None:
            self._outbox.add(changes=self._noted)
            self._noted = []
            if catalog is not None and catalog.simulation:
                self._outbox.drop()  # a simulation keeps no history
            self._outbox.flush()
            return
        if not self._noted:
            return
        changes, self._noted = self._noted, []
        if not workflow.patched(HISTORY_PATCH):
            return
        if catalog is not None and catalog.simulation:
            return  # a simulation keeps no dashboard history
        self._sending = [t for t in self._sending if not t.done()]
        self._sending.append(asyncio.create_task(self._send(changes)))

    def reacting(self) -> None:
        """This task starts a child or signals one (see :meth:`Outbox.reacting`)."""
        if self._outbox is not None:
            self._outbox.reacting()

    async def settle(self) -> None:
        """Wait until every send has finished (the run may continue as new)."""
        if self._outbox is not None:
            await self._outbox.settle()
        else:
            await workflow.wait_condition(lambda: all(t.done() for t in self._sending))

    async def _send(self, changes: list[HistoryChange]) -> None:
        failed = await send_history(HistoryRequest(changes=changes))
        if failed:
            self._not_sent(HistoryRequest(changes=changes), failed)

    def _not_sent(self, request: HistoryRequest, failed: str) -> None:
        # The account goes on; the dashboard misses these, and why says so.
        self._account.note(
            Decision(
                at=_clock.now(),
                kind=UNLOGGED,
                rule="account.history",
                playbook="",
                version=0,
                hash="",
                detail=not_recorded(request, failed),
            )
        )


def not_recorded(request: HistoryRequest, failed: str) -> str:
    """What of ``request`` the store missed and why, for the ``why`` of the workflow that
    sent it: its changes (an account's), its decisions (always counted for a run's) and
    its outcome."""
    lost = [f"{len(request.changes)} change(s)"] if request.changes else []
    if request.decisions or not request.changes:
        lost.append(f"{len(request.decisions)} decision(s)")
    if request.journey:
        lost.append("the outcome")
    return f"{' and '.join(lost)} not recorded: {failed}"


def _summary(request: HistoryRequest) -> str:
    what = []
    if request.journey:
        what.append("this journey's outcome")
    if request.changes:
        what.append("the account's changes")
    if request.decisions:
        what.append(f"{len(request.decisions)} decision(s)")
    return "history: the store's record of " + " and ".join(what)


async def record_in_task(request: HistoryRequest) -> None:
    """Send ``request`` to the store inside this workflow task (a local activity, one try);
    raises a TemporalError when it failed or took over IN_TASK_TIMEOUT."""
    await workflow.execute_local_activity(
        "record_history",
        request,
        summary=_summary(request),
        result_type=int,
        start_to_close_timeout=IN_TASK_TIMEOUT,
        retry_policy=RetryPolicy(maximum_attempts=1),
    )


async def send_history(request: HistoryRequest) -> str | None:
    """Send what ``request`` carries to the store (``record_history``) in the background;
    the failure, in words, when it could not be sent after every retry."""
    try:
        await workflow.execute_activity(
            "record_history",
            request,
            summary=_summary(request),
            result_type=int,
            # One idempotent write: when the worker dies during it, the next try should come
            # in seconds, not after an action's five minutes (a run waits for its decisions).
            start_to_close_timeout=HISTORY_TIMEOUT,
            retry_policy=ACTION_RETRY,
        )
    except ActivityError as error:
        return str(error.cause or error)
    return None


def journey_record(
    run: RunInput, result: RunResult, highest_tier: str | None, ack_seconds: dict[str, float]
) -> JourneyRecord:
    """How the run of ``run`` went, ending now with ``result``: the dashboard's row."""
    plan = run.plan
    return JourneyRecord(
        workflow_id=workflow.info().workflow_id,
        account_id=run.account_id,
        playbook=plan.name,
        version=plan.version,
        stage=plan.stage,
        cycle=run.cycle,
        enrolled_at=run.enrolled_at,
        ended_at=_clock.now(),
        outcome=result.outcome,
        ended_by=result.ended_by,
        highest_tier=highest_tier,
        ack_seconds=dict(ack_seconds),
    )
