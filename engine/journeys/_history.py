"""An account's changes on their way to the engine's store, for the dashboard.

Temporal keeps an account's state, not its past: ARR, segment and tier changes and lifecycle
events are sent to the store (``workers/history.py``) by the ``record_history`` activity.
The account notes changes while it handles a batch of events and sends them together in the
background, so a slow or absent database never delays its reaction to the next event; it
waits for them only before it continues as new.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from engine.journeys import _clock
    from engine.journeys._account_state import AccountState
    from engine.journeys._messages import ChangeKind, Decision, HistoryChange, HistoryRequest
    from engine.journeys._options import ACTION_RETRY, ACTION_TIMEOUT

HISTORY_PATCH = "record-account-history"
"""Accounts that ran before the history existed replay without it (see :meth:`send`)."""


class Account(Protocol):
    """What the change log uses of the account workflow that owns it."""

    @property
    def state(self) -> AccountState: ...

    def note(self, decision: Decision) -> None: ...


class ChangeLog:
    """The changes one account workflow noted and has not sent yet, and those in flight."""

    def __init__(self, account: Account) -> None:
        self._account = account
        self._noted: list[HistoryChange] = []
        self._sending: list[asyncio.Task[None]] = []

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

    def send(self) -> None:
        """Send the noted changes in the background.

        Behind a patch: an account that ran before this existed replays its history without
        the activity (the patch is false for the rest of that run, so its changes are not
        recorded until it continues as new); new runs take the new path.
        """
        if not self._noted:
            return
        changes, self._noted = self._noted, []
        if not workflow.patched(HISTORY_PATCH):
            return
        catalog = self._account.state.catalog
        if catalog is not None and catalog.simulation:
            return  # a simulation keeps no dashboard history
        self._sending = [t for t in self._sending if not t.done()]
        self._sending.append(asyncio.create_task(self._send(changes)))

    def delivered(self) -> bool:
        """Whether every send has finished (the run may continue as new)."""
        return all(t.done() for t in self._sending)

    async def _send(self, changes: list[HistoryChange]) -> None:
        failed = await send_history(HistoryRequest(changes=changes))
        if failed:
            # The account goes on; the dashboard misses these changes, and why says so.
            self._account.note(
                Decision(
                    at=_clock.now(),
                    kind="history_failed",
                    rule="account.history",
                    playbook="",
                    version=0,
                    hash="",
                    detail=f"{len(changes)} change(s) not recorded: {failed}",
                )
            )


async def send_history(request: HistoryRequest) -> str | None:
    """Send an account's changes or a run's outcome to the store (``record_history``); the
    failure, in words, when it could not be sent after every retry."""
    try:
        await workflow.execute_activity(
            "record_history",
            request,
            summary="history: the dashboard's record of "
            + ("this journey's outcome" if request.journey else "the account's changes"),
            result_type=int,
            start_to_close_timeout=ACTION_TIMEOUT,
            retry_policy=ACTION_RETRY,
        )
    except ActivityError as error:
        return str(error.cause or error)
    return None
