"""What the run's helpers (the escalation ladder, the waits) see of the run they serve.

:class:`Journey` is the PlaybookRun workflow as ``engine.journeys._ladder`` and
``engine.journeys._waits`` use it: its plan and facts, its decision log, and the one way it
calls activities. The helpers take the run as a ``Journey`` instead of importing the
workflow module, so the run imports them and nothing imports the run back.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.journeys._arms import Arm
    from engine.journeys._messages import (
        Acknowledgement,
        ActionReceipt,
        ActionRequest,
        ApprovalSettlement,
        CloseRequest,
        ContactVerdict,
        RunInput,
    )
    from engine.language._facts import Facts
    from engine.language._plan import ConditionPlan, Node, TierPlan


class Observer(Protocol):
    """The run's escalation ladder, as the waits and the approval step use it."""

    @property
    def tier(self) -> str | None:
        """The tier engaged, if any."""
        ...

    def observe(self) -> None:
        """Re-read the facts (the calendar turned)."""
        ...

    def request(self, tier: str | None, rule: str) -> None:
        """Engage the ladder (at ``tier``, or the first)."""
        ...

    def acknowledge(self, ack: Acknowledgement) -> None:
        """Someone took ownership: stop the climb."""
        ...


class Journey(Protocol):
    """The PlaybookRun workflow, as its ladder and waits use it."""

    @property
    def input(self) -> RunInput: ...

    @property
    def paused(self) -> bool: ...

    @property
    def exact_wakes(self) -> bool: ...

    @property
    def exact_journeys(self) -> bool: ...

    @property
    def ending(self) -> bool:
        """A goal, exit or stop has fired: no action may start any more."""
        ...

    @property
    def anchors(self) -> int:
        """Counts the moves of the renewal date: a date-anchored wait re-reads it at each."""
        ...

    @property
    def latest_facts(self) -> Facts | None: ...

    @property
    def finishing(self) -> bool:
        """Whether the steps ended and the ladder is being stood down: it engages what they
        asked last, and climbs no further."""
        ...

    def reacting(self) -> None:
        """A signal or action is about to go out (its decisions wait for the next task)."""
        ...

    @property
    def ladder(self) -> Observer: ...

    arm: Arm | None
    """The account's arm in the plan's experiment, when it has one (engine.journeys._arms)."""

    @property
    def events(self) -> list[str]:
        """The lifecycle events this run received, in order."""
        ...

    approval: Any
    """The approval request the run waits on (engine.journeys._approvals.Request), if any."""

    verdicts: dict[str, ContactVerdict]
    """The account's answers to the run's contact requests, by key, until taken."""

    events_taken: dict[str, int]
    """Per wait_for step, how many of ``events`` it has looked past (the one that met it)."""

    def facts(self) -> Facts: ...

    def facts_came_in_this_task(self) -> bool:
        """Whether the facts came in this workflow task (the start or an update): as new as
        the account's, when a run is woken only by what its decisions read."""
        ...

    waiting: str | None
    """What the current step waits for, in words (the run's current details)."""

    wait_ends: datetime | None
    """When that wait ends at the latest, when it has a date (the run's status shows it)."""

    def describe(self) -> None:
        """Bring the run's current details in the Temporal UI up to date."""
        ...

    def record(
        self, kind: str, rule: str, seen: dict[str, Any] | None = None, detail: str = ""
    ) -> None: ...

    def action(
        self,
        key: str,
        step: str,
        node: Node | None = None,
        tier: TierPlan | None = None,
        channel: Any = None,
    ) -> ActionRequest: ...

    async def activity(
        self, name: str, request: ActionRequest | CloseRequest | ApprovalSettlement
    ) -> ActionReceipt: ...

    def wake_within(
        self, limit: timedelta | None, conditions: list[ConditionPlan | None]
    ) -> timedelta | None: ...

    def check_endings(self, event: str | None = None) -> None: ...

    def holds(self, condition: ConditionPlan, rule: str, record: str | None = None) -> bool:
        """Whether ``condition`` holds now; recorded as ``record`` when given."""
        ...

    @property
    def endings_due(self) -> datetime | None:
        """When a goal or exit condition holding now will have held for its ``for``."""
        ...


def patched(run_input: RunInput | None, patch_id: str) -> bool:
    """``workflow.patched(patch_id)``, unless the run's account vouched for it at the start
    (``RunInput.patches``): decided by the run's first event, so replay decides the same."""
    if run_input is not None and patch_id in run_input.patches:
        return True
    return workflow.patched(patch_id)


def stop_if_ending(run: Journey) -> None:
    """Stop the caller (the steps or the ladder) once a goal, exit or stop has fired.

    The run cancels its steps and ladder when it ends, but a wait with a timeout can swallow
    that cancellation: Python 3.11's ``asyncio.wait_for`` (behind ``wait_condition(timeout=)``)
    returns the result instead of raising when the condition comes true in the same
    activation as the cancel. Every loop that waits with a timeout checks here after waking.
    """
    if run.ending:
        raise asyncio.CancelledError
