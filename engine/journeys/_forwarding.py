"""Forwarding: what an account tells the journeys it runs, and when.

A running journey (a PlaybookRun, the account's child) reads the account's facts: health,
attributes, the history windows its plan measures changes over, events it counts. The account
workflow (``engine.journeys._account``) sends each journey those facts when something it
reads changed, its lifecycle events as they come, and the people's commands (pause,
acknowledge, answer, exit). Kept apart from the workflow's message loop; it sees the workflow
only through :class:`Account`. Runs inside that workflow, so it is as deterministic as the
workflow is.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.journeys._account_state import AccountState
    from engine.journeys._history import ChangeLog
    from engine.journeys._messages import Enrollment, LifecycleEvent
    from engine.language._counts import EVENT_KEY
    from engine.language._facts import Facts, Health
    from engine.language._plan_reads import ALL_HEALTH


class Account(Protocol):
    """What forwarding uses of the account workflow that owns it."""

    @property
    def state(self) -> AccountState: ...

    def facts(self) -> Facts: ...

    def health_read(self) -> Health: ...


class Forwarding:
    """The running journeys of one account workflow, and the signals it sends them."""

    def __init__(self, account: Account, changes: ChangeLog) -> None:
        self._account = account
        self._changes = changes
        self.exact = False
        """workflow.patched(EXACT_WAKES): a change goes to every journey at once (before: one
        after the other, a round trip each)."""

    def running(self, playbook: str | None) -> list[str]:
        """The running journeys, by playbook name: all, or ``playbook``'s."""
        return [
            name
            for name, e in self._account.state.enrollments.items()
            if e.running and (playbook is None or name == playbook)
        ]

    def child(self, name: str) -> workflow.ExternalWorkflowHandle[Any]:
        """The journey ``name``'s run, about to be signalled (a reaction: see ChangeLog)."""
        self._changes.reacting()
        enrollment = self._account.state.enrollments[name]
        return workflow.get_external_workflow_handle(enrollment.workflow_id)

    async def forward(self) -> None:
        """Send each running journey the facts it reads, where they changed."""
        state = self._account.state
        facts = self._account.facts()
        # Each journey gets only the readings its plan measures changes over: the whole
        # history is most of an update's size, and most journeys read none of it. And only
        # when something it reads changed: a daily reading an onboarding journey never
        # looks at costs it no workflow task.
        updates = []
        for name in self.running(None):
            enrollment = state.enrollments[name]
            if enrollment.reads is not None:
                now_read = self.what_runs_read(enrollment)
                if now_read == enrollment.sent:
                    continue
                sent = {"sent": now_read}
                state.enrollments[name] = enrollment.model_copy(update=sent)
            updates.append((self.child(name), facts.for_run(enrollment.windows)))
        if not self.exact:
            for child, update in updates:
                await child.signal("update", update)
            return
        # A journey that ended a moment ago refuses the signal; its run_ended is on its way.
        await asyncio.gather(
            *(child.signal("update", update) for child, update in updates),
            return_exceptions=True,
        )

    def what_runs_read(self, enrollment: Enrollment) -> list[Any]:
        """What ``enrollment``'s run reads of the account, as JSON values (it is kept in the
        state and compared after continue-as-new): the count of attribute changes, the
        health values its plan reads (its decisions read, for an enrollment that keeps
        them: its actions ask for the rest as they render), and the last reading of each
        field it measures changes over."""
        state = self._account.state
        reads = enrollment.wakes if enrollment.wakes is not None else enrollment.reads or []
        seen = self._account.health_read()
        if ALL_HEALTH in reads:
            health: list[Any] = [seen.model_dump(mode="json")]
        else:
            health = [seen.value(path) for path in reads]
        history = []
        for field in sorted(enrollment.windows or {}):
            if field.startswith(EVENT_KEY):  # a counted event: when it last came, how often
                moments = state.events.get(field.removeprefix(EVENT_KEY)) or []
                history.append([field, moments[-1], len(moments)] if moments else [field])
                continue
            samples = state.history.get(field)
            history.append([field, samples[-1].at, samples[-1].value] if samples else [field])
        return [state.attributes_changed, health, history]

    def counting(self, event: str) -> bool:
        """Whether a running journey counts ``event`` (its plan's history windows name it)."""
        key = EVENT_KEY + event
        enrollments = self._account.state.enrollments
        return any(key in (enrollments[name].windows or {}) for name in self.running(None))

    async def forward_event(self, name: str) -> None:
        """Tell every running journey of the lifecycle event ``name``."""
        await self.tell(None, "event", LifecycleEvent(name=name))

    async def tell(self, playbook: str | None, signal: str, message: Any) -> None:
        """Signal ``message`` to the running journeys (all, or ``playbook``'s), in turn."""
        for name in self.running(playbook):
            await self.child(name).signal(signal, message)
