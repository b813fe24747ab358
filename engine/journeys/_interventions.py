"""A person's hand on an account: pause and resume, and health overrides.

Pause, resume and override come to the account workflow (``engine.journeys._account``) as
updates: their validators (here) refuse, before anything is recorded, what would change
nothing, judged on the account as it will be once the requests already queued are handled.
Accepted, each waits its turn with the events and is applied here: a pause holds new
enrollments and tells the running journeys; an override sets the score conditions read until
it is cleared or its time runs out (engine.journeys._overrides). Every change is recorded in
why. Sees the workflow only through :class:`Account`; runs inside it, so it is as
deterministic as the workflow is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import engine.journeys._clock as _clock
    import engine.journeys._overrides as _overrides
    from engine.journeys._account_state import AccountState, HealthOverride
    from engine.journeys._forwarding import Forwarding
    from engine.journeys._messages import (
        Decision,
        OverrideRequest,
        Paused,
        PauseRequest,
        ResumeRequest,
        nothing_to_do,
    )
    from engine.language._facts import Health


class Account(Protocol):
    """What interventions use of the account workflow that owns them."""

    @property
    def state(self) -> AccountState: ...

    def health_read(self) -> Health: ...

    def note(self, decision: Decision) -> None: ...


class Interventions:
    """The pauses and health overrides of one account workflow."""

    def __init__(self, account: Account, forwarding: Forwarding) -> None:
        self._account = account
        self._forwarding = forwarding

    # Validators: ``queued`` is the account's inbox, requests accepted and not yet handled;
    # ``paused``, the state's (None too before the run has its state: an update can come
    # with the start).

    def can_pause(self, queued: Sequence[object], paused: Paused | None) -> None:
        held = _held(queued, paused)
        if isinstance(held, Paused):
            why = f": {held.reason}" if held.reason else ""
            raise nothing_to_do(
                f"already paused by {held.by} since {held.at:%Y-%m-%d %H:%M} UTC{why}"
            )
        if held is not None:
            raise nothing_to_do(f"already being paused by {held.by}")

    def can_resume(self, queued: Sequence[object], paused: Paused | None) -> None:
        if _held(queued, paused) is None:
            raise nothing_to_do("not paused")

    def can_override(self, request: OverrideRequest, queued: Sequence[object]) -> None:
        problem = _overrides.override_problem(request, _clock.now())
        if problem is not None:
            raise nothing_to_do(problem)
        overrides = [i for i in queued if isinstance(i, OverrideRequest)]
        state = self._account.state
        in_force = (not overrides[-1].clear) if overrides else state.override is not None
        if request.clear and not in_force:
            raise nothing_to_do("no health override in force")

    def override_answer(self, request: OverrideRequest) -> str:
        """What the override update answers once accepted."""
        if request.clear:
            return f"health override cleared by {request.by}"
        return f"health overridden by {request.by}: " + _overrides.describe(
            HealthOverride(
                score=request.score or 0.0,
                reason=request.reason,
                by=request.by,
                at=_clock.now(),
                until=request.until or _clock.now(),
            ),
            self._account.state.health.score,
        )

    # In turn with the events.

    async def pause(self, request: PauseRequest | ResumeRequest) -> None:
        """Hold or release the account: its running journeys are told, new ones wait."""
        state = self._account.state
        pausing = isinstance(request, PauseRequest)
        if pausing == (state.paused is not None):
            return  # already so: a repeated command changes nothing
        if isinstance(request, PauseRequest):
            state.paused = Paused(by=request.by, at=_clock.now(), reason=request.reason)
            detail = f"paused by {request.by}" + (f": {request.reason}" if request.reason else "")
        else:
            state.paused = None
            detail = f"resumed by {request.by}"
        self._account.note(
            Decision(
                at=_clock.now(),
                kind="paused" if pausing else "resumed",
                rule="account.pause" if pausing else "account.resume",
                playbook="",
                version=0,
                hash="",
                detail=detail,
            )
        )
        await self._forwarding.tell(None, "pause" if pausing else "resume", request)

    def override(self, request: OverrideRequest) -> bool:
        """Set or clear a person's score; True when the health conditions read changed (the
        account then tells its journeys and looks at its entries again)."""
        state = self._account.state
        now = _clock.now()
        if _overrides.override_problem(request, now) is not None:
            return False  # the validator refused it; a signal cannot get here, but never fail
        model_score = state.health.score
        if request.clear:
            if state.override is None:
                return False
            state.override = None
            kind, detail = "override_cleared", f"cleared by {request.by}"
            detail += f": {request.reason}" if request.reason else ""
        else:
            assert request.score is not None and request.until is not None
            state.override = HealthOverride(
                score=request.score,
                reason=request.reason,
                by=request.by,
                at=now,
                until=request.until,
            )
            kind, detail = "override", _overrides.describe(state.override, model_score)
        self._changed(kind, detail, model_score)
        return True

    def expire_override(self) -> bool:
        """End the override whose ``until`` has come (its durable timer woke the account);
        True when one ended."""
        state = self._account.state
        override = state.override
        if override is None or _clock.now() < override.until:
            return False
        state.override = None
        detail = f"the override of {override.by} ({override.score:g}) expired: {override.reason}"
        self._changed("override_expired", detail, state.health.score)
        return True

    def _changed(self, kind: str, detail: str, model_score: float | None) -> None:
        override = self._account.state.override
        seen: dict[str, Any] = {
            "health.score": self._account.health_read().score,
            "model score": model_score,
        }
        if override is not None:
            # Who and why as data too: the dashboard lists overrides in force from the log.
            seen.update(until=override.until.isoformat(), by=override.by, reason=override.reason)
        self._account.note(
            Decision(
                at=_clock.now(),
                kind=kind,
                rule=_overrides.RULE,
                playbook="",
                version=0,
                hash="",
                seen=seen,
                detail=detail,
            )
        )


def _held(queued: Sequence[object], paused: Paused | None) -> Paused | PauseRequest | None:
    """Who holds the account once the pause and resume requests queued are handled."""
    for item in reversed(queued):
        if isinstance(item, PauseRequest | ResumeRequest):
            return item if isinstance(item, PauseRequest) else None
    return paused
