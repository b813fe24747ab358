"""Contact caps across playbooks: the account decides which customer message goes when.

A journey whose set has a contact policy (engine.language._contact) asks its account for a
slot before each customer email (:func:`permit`): a ``contact_request`` signal, answered by
a ``contact_verdict``. The account (:class:`ContactDesk`) is the one place that sees every
journey of the account, and a workflow handles one thing at a time, so two journeys asking
at the same moment cannot both take the last slot, and its count survives crashes and
continue-as-new in its state.

Requests are decided a moment after the first of them arrives (``SETTLE``), all that arrived
by then together, highest playbook ``priority`` first (then the oldest): journeys enrolled
together send their first emails within a few workflow tasks of each other, and the priority
should pick, not the order of those tasks. When every running journey of the account could
send now within every cap, nothing is for priority to pick and a request is decided at
once (what the shipped policy gives most accounts most days). A request over a cap is
deferred until a send leaves the window (and decided again, with the others waiting, in
priority order), or dropped, as the policy says; a deferral longer than ``defer_for``
drops it. Each journey records in its ``why`` that its message was deferred (how long) or
dropped (which cap, and what used it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import TemporalError

with workflow.unsafe.imports_passed_through():
    import engine.journeys._clock as _clock
    import engine.journeys._summaries as _summaries
    from engine.journeys._account_state import AccountState, ContactSend
    from engine.journeys._journey import Journey, stop_if_ending
    from engine.journeys._messages import ContactRequest, ContactVerdict
    from engine.journeys._windows import wait_for_window
    from engine.language._fields import named_by
    from engine.language._plan import ContactCapPlan, ContactPolicyPlan, EmailNode

SETTLE = timedelta(seconds=2)
"""How long the account gathers requests before deciding them, so priority picks among
journeys that asked at (nearly) the same moment."""
AT_ONCE = "uncontended-contacts-at-once"
"""workflow.patched id: a request is decided at once, without the settle, when every running
journey of the account could send now within every cap (nothing for priority to pick);
accounts that decided before waited SETTLE for every request."""
_UNANSWERED = timedelta(days=1)
"""How long past its longest deferral a journey waits for a verdict before it sends anyway:
a cap is a courtesy to the customer, and a message is never lost for want of an answer."""


# The journey's side ---------------------------------------------------------------------


def contacts_of(node: EmailNode, policy: ContactPolicyPlan, account: dict[str, Any]) -> list[str]:
    """Who ``node`` reaches among the policy's audience: addresses from the account's
    attributes, or ``role:NAME`` for a role the account names nobody for."""
    found: list[str] = []
    for role in dict.fromkeys([*node.to, *node.cc]):
        if role in policy.audience:
            found += named_by(role, account) or [f"role:{role}"]
    return list(dict.fromkeys(found))


async def permit(run: Journey, node: EmailNode, key: str) -> bool:
    """Whether the email of ``node`` may go now (after any deferral); False when the account
    dropped it. Deferrals and drops are recorded. Emails to nobody in the audience, of an
    exempt playbook, or of a run without a policy or an account go at once."""
    policy = run.input.contacts
    parent = run.input.parent_workflow_id
    plan = run.input.plan
    if policy is None or parent is None or plan.name in policy.exempt:
        return True
    contacts = contacts_of(node, policy, run.facts().account)
    if not contacts:
        return True
    request = ContactRequest(
        key=key,
        workflow_id=workflow.info().workflow_id,
        playbook=plan.name,
        priority=plan.priority,
        step=node.id,
        contacts=contacts,
        requested_at=_clock.now(),
    )
    rule = f"steps.{node.id}.contact"
    seen = {"contacts": contacts, "policy": policy.name}
    run.reacting()
    await workflow.get_external_workflow_handle(parent).signal("contact_request", request)
    deadline = run.wait_ends = (
        _clock.now() + timedelta(seconds=policy.defer_seconds) + SETTLE + _UNANSWERED
    )
    run.waiting = f"waiting for a slot under the contact policy {policy.name}"
    run.describe()
    deferred = False
    try:
        while True:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: key in run.verdicts,
                    timeout=max(deadline - _clock.now(), timedelta(seconds=1)),
                    timeout_summary=_summaries.contact(policy.name, "no verdict: send"),
                )
            stop_if_ending(run)
            verdict = run.verdicts.pop(key, None)
            if verdict is None:
                detail = "no verdict from the account in time: sent"
                run.record("contact_unanswered", rule, seen, detail)
                return True
            if verdict.send is None:
                run.record("contact_deferred", rule, seen, verdict.detail)
                deferred = True
                continue
            if not verdict.send:
                run.record("contact_dropped", rule, seen, verdict.detail)
                return False
            if deferred:  # the slot may have freed outside the send window: wait for it
                run.waiting = None
                await wait_for_window(run, node)
            return True
    finally:
        run.waiting = None


# The account's side ---------------------------------------------------------------------


class ContactDesk:
    """The account's half: keeps the sends within the caps' windows, decides requests."""

    def __init__(self, state: Callable[[], AccountState]) -> None:
        self._state = state
        self.arrived: list[ContactRequest] = []
        """Requests signalled since the last decision (the state may not exist yet)."""

    def take(self) -> None:
        """Move what arrived into the state, where it waits to be decided."""
        state = self._state()
        known = {r.key for r in state.contact_waiting}
        state.contact_waiting += [r for r in self.arrived if r.key not in known]
        self.arrived.clear()

    async def answer(
        self, policy: ContactPolicyPlan | None, calm: bool, reacting: Callable[[], None]
    ) -> None:
        """Decide what waits (:meth:`decide`) and signal each journey its verdict;
        ``reacting`` is called before each signal (the account's ChangeLog.reacting)."""
        if not (self.arrived or self._state().contact_waiting):
            return
        self.take()
        for workflow_id, verdict in self.decide(policy, calm):
            reacting()
            # A journey that ended a moment ago refuses the signal; nothing waits for it.
            with contextlib.suppress(TemporalError):
                await workflow.get_external_workflow_handle(workflow_id).signal(
                    "contact_verdict", verdict
                )

    def next_wake(self, policy: ContactPolicyPlan | None) -> timedelta | None:
        """How long until a waiting request can be decided anew (it settles, a slot frees,
        or its deferral runs out); None when nothing waits."""
        state = self._state()
        if not state.contact_waiting:
            return None
        now = _clock.now()
        undecided = [r for r in state.contact_waiting if r.key not in state.contact_deferred]
        moments = [min(r.requested_at for r in undecided) + SETTLE] if undecided else []
        if policy is not None:
            defer = timedelta(seconds=policy.defer_seconds)
            moments += [r.requested_at + defer for r in state.contact_waiting]
            moments += [
                send.at + timedelta(seconds=cap.within_seconds)
                for send in state.contact_sends
                for cap in policy.caps
            ]
        later = [m - now for m in moments if m > now]
        return min(later) if later else None

    def decide(
        self, policy: ContactPolicyPlan | None, calm: bool = False
    ) -> list[tuple[str, ContactVerdict]]:
        """Decide every settled request, highest priority first: the verdicts to send, each
        with the run to send it to (a deferral is told once, when it begins). ``calm``: no
        event waits that could enroll another journey, so the running ones are all that
        can ask."""
        state = self._state()
        now = _clock.now()
        if policy is None:  # the policy was withdrawn: nothing holds a message back
            out = [
                (r.workflow_id, ContactVerdict(key=r.key, send=True, detail="no contact policy"))
                for r in state.contact_waiting
            ]
            state.contact_waiting, state.contact_deferred = [], []
            return out
        self._forget(policy, now)
        undecided = [r for r in state.contact_waiting if r.key not in state.contact_deferred]
        settling = undecided and now < min(r.requested_at for r in undecided) + SETTLE
        at_once = calm and self._uncontended(policy, now)
        if settling and not (at_once and workflow.patched(AT_ONCE)):
            return []  # more requests of this moment may be on their way
        waiting = sorted(state.contact_waiting, key=lambda r: (-r.priority, r.requested_at, r.key))
        out = []
        for request in waiting:
            waited = now - request.requested_at
            if waited >= timedelta(seconds=policy.defer_seconds):
                window = _summaries.duration(policy.defer_seconds)
                out.append(self._answer(request, False, f"no free slot within {window}"))
                continue
            blocking = self._blocking(policy, request, now)
            if blocking is None:
                state.contact_sends.append(
                    ContactSend(
                        at=now,
                        channel=request.channel,
                        contacts=request.contacts,
                        playbook=request.playbook,
                        key=request.key,
                    )
                )
                late = request.key in state.contact_deferred
                detail = (
                    f"sent after {_summaries.duration(waited.total_seconds())}" if late else "sent"
                )
                out.append(self._answer(request, True, detail))
            elif policy.when_capped == "drop":
                out.append(self._answer(request, False, blocking))
            elif request.key not in state.contact_deferred:
                state.contact_deferred.append(request.key)
                verdict = ContactVerdict(key=request.key, send=None, detail=blocking)
                out.append((request.workflow_id, verdict))
        return out

    def _uncontended(self, policy: ContactPolicyPlan, now: datetime) -> bool:
        """Whether every running journey of the account could send now within every cap:
        then no request can take another's slot, and priority has nothing to pick."""
        state = self._state()
        if state.contact_deferred:
            return False
        running = sum(1 for e in state.enrollments.values() if e.running)
        asking = max(running, len(state.contact_waiting))
        for cap in policy.caps:
            # Every send in the window counts against each contact: an upper bound of any
            # one contact's, so a per-contact cap is never overrun by this shortcut.
            if len(self._in_window(cap, cap.channel, now)) + asking > cap.max:
                return False
        return True

    def forget_run(self, workflow_id: str) -> None:
        """A journey ended: its requests no longer wait (and take no slot)."""
        state = self._state()
        gone = {r.key for r in state.contact_waiting if r.workflow_id == workflow_id}
        state.contact_waiting = [r for r in state.contact_waiting if r.key not in gone]
        state.contact_deferred = [k for k in state.contact_deferred if k not in gone]

    def _answer(
        self, request: ContactRequest, send: bool, detail: str
    ) -> tuple[str, ContactVerdict]:
        state = self._state()
        state.contact_waiting = [r for r in state.contact_waiting if r.key != request.key]
        state.contact_deferred = [k for k in state.contact_deferred if k != request.key]
        return request.workflow_id, ContactVerdict(key=request.key, send=send, detail=detail)

    def _blocking(
        self, policy: ContactPolicyPlan, request: ContactRequest, now: datetime
    ) -> str | None:
        """The first cap ``request`` would pass, in words (with what used it); None if none."""
        for cap in policy.caps:
            over = _over(cap, self._in_window(cap, request.channel, now), request.contacts)
            if over is not None:
                who, used = over
                by = ", ".join(dict.fromkeys(s.playbook for s in used))
                window = _summaries.duration(cap.within_seconds)
                return (
                    f"{who} had {len(used)} of {cap.max} {request.channel}s per {window}"
                    f" (from {by})"
                )
        return None

    def _in_window(self, cap: ContactCapPlan, channel: str, now: datetime) -> list[ContactSend]:
        """The sends on ``channel`` that count against ``cap`` at ``now``."""
        since = now - timedelta(seconds=cap.within_seconds)
        return [s for s in self._state().contact_sends if s.channel == channel and s.at > since]

    def _forget(self, policy: ContactPolicyPlan, now: datetime) -> None:
        """Sends older than every window no longer count."""
        since = now - timedelta(seconds=policy.window_seconds())
        state = self._state()
        state.contact_sends = [s for s in state.contact_sends if s.at > since]


def _over(
    cap: ContactCapPlan, sends: list[ContactSend], contacts: list[str]
) -> tuple[str, list[ContactSend]] | None:
    """Who is at ``cap`` among ``contacts`` (or the account), with the sends that count."""
    if cap.per == "account":
        return ("the account", sends) if len(sends) >= cap.max else None
    for contact in contacts:
        used = [s for s in sends if contact in s.contacts]
        if len(used) >= cap.max:
            return contact, used
    return None
