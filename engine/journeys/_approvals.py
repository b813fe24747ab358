"""The approval step: a person decides, and the journey follows their answer.

The request is a task in the approver's inbox (opened by the ``perform_action`` activity,
under the step's idempotency key). The run then waits, durably, for an answer, at most the
step's ``timeout``; an ``sla`` shorter than that engages the escalation ladder while the
request is still open. The run is the one place an answer is decided: an answer comes as
an update (``playbook tasks approve|reject``, the HTTP API), whose validator refuses one
the run is not waiting for, or as a signal through the account (a ``playbook test``
timeline row), recorded as not applied when it is not awaited. So an answer and the
timeout can never both win. How the request ended is then written to its task
(``settle_approval``) for the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import engine.journeys._clock as _clock
    import engine.journeys._summaries as _summaries
    from engine.journeys._journey import Journey, stop_if_ending
    from engine.journeys._messages import (
        Acknowledgement,
        ApprovalAnswer,
        ApprovalSettlement,
        nothing_to_do,
    )
    from engine.language._by_segment import for_facts
    from engine.language._plan import ApprovalNode


@dataclass
class Request:
    """The approval the run is waiting on: its step, its key, and the answer once given."""

    step: str
    key: str
    answer: ApprovalAnswer | None = None
    what: str = "approval"
    """What waits for the answer, in words: approval, or review (of an email)."""
    yes: str = "approved"
    no: str = "rejected"


def refusal(request: Request | None, answer: ApprovalAnswer) -> str | None:
    """Why ``answer`` cannot be taken now, in one line; None when it can."""
    if request is None:
        return f"nothing is waiting for an answer (step {answer.step} is not open)"
    if answer.step != request.step:
        return f"the {request.what} waiting is step {request.step}, not {answer.step}"
    if answer.request is not None and answer.request != request.key:
        return f"that request of step {answer.step} is no longer open"
    if request.answer is not None:
        given = request.yes if request.answer.approved else request.no
        return f"step {answer.step} was already {given} by {request.answer.by}"
    return None


def take(run: Any, answer: ApprovalAnswer, *, from_update: bool) -> str:
    """Apply ``answer`` to the run's open request; an update's validator ran ``refusal``."""
    request: Request | None = run.approval
    refused = refusal(request, answer)
    if refused is not None:
        if from_update:  # the validator checked it; unreachable unless the state moved
            raise nothing_to_do(refused)
        run.record(
            "skipped", f"steps.{answer.step}", {"by": answer.by}, f"answer not applied: {refused}"
        )
        return refused
    assert request is not None
    request.answer = answer
    return f"step {answer.step} {request.yes if answer.approved else request.no} by {answer.by}"


async def ask(run: Journey, node: ApprovalNode, key: str) -> str | None:
    """Open the request, wait for the answer or the timeout; the node to go on with."""
    rule = f"steps.{node.id}"
    # Open for answers before the task exists: an approver who answers the moment it shows in
    # the inbox is heard even if the run has not yet seen the activity complete.
    request = run.approval = Request(step=node.id, key=key)
    try:
        receipt = await run.activity("perform_action", run.action(key, node.id, node=node))
    except ActivityError as error:
        # Nobody can answer a request that was never opened: the step goes the way of no answer.
        run.approval = None
        run.record("action_failed", rule, detail=f"{error.cause or error}; taking on_timeout")
        return node.on_timeout
    run.record("action", rule, detail=receipt.detail)
    facts = run.facts()
    answer = await wait_for_answer(
        run,
        request,
        for_facts(node.timeout_seconds, node.timeout_by_segment, facts),
        f"{node.approver}'s approval",
        for_facts(node.sla_seconds, node.sla_by_segment, facts),
    )
    settlement = ApprovalSettlement(
        idempotency_key=key,
        workflow_id=workflow.info().workflow_id,
        step=node.id,
        outcome="timeout",
    )
    if answer is None:
        run.record("approval_timeout", rule, detail=f"no answer from {node.approver} in time")
        await settle(run, settlement)
        return node.on_timeout
    outcome = "approved" if answer.approved else "rejected"
    run.record(outcome, rule, {"by": answer.by}, detail=answer.note or "")
    if run.ladder.tier is not None:  # an answer is what the sla escalated for
        run.ladder.acknowledge(Acknowledgement(by=answer.by, note=f"answered {node.id}"))
    await settle(
        run,
        settlement.model_copy(update={"outcome": outcome, "by": answer.by, "note": answer.note}),
    )
    return node.on_approve if answer.approved else node.on_reject


def review_request(step: str, key: str) -> Request:
    """The request an email's review answers: sent or discarded."""
    return Request(step=step, key=key, what="review", yes="sent", no="discarded")


async def wait_for_answer(
    run: Journey,
    request: Request,
    timeout_seconds: int,
    waiting: str,
    sla_seconds: int | None = None,
) -> ApprovalAnswer | None:
    """Wait, durably, for a person's answer to ``request`` (the run's open one, which may
    have it already); None when ``timeout_seconds`` pass first. An ``sla`` engages the
    ladder while still unanswered."""
    step = request.step
    deadline = run.wait_ends = _clock.now() + timedelta(seconds=timeout_seconds)
    run.waiting = f"waiting for {waiting}, until {_summaries.moment(deadline)}"
    run.describe()
    sla = asyncio.create_task(_sla(run, step, sla_seconds, request)) if sla_seconds else None
    try:
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: request.answer is not None,
                timeout=timedelta(seconds=timeout_seconds),
                timeout_summary=_summaries.approval(step, "no answer, give up"),
            )
    finally:
        if sla is not None:
            sla.cancel()
        run.approval = None
        run.waiting = None
    stop_if_ending(run)
    return request.answer


async def _sla(run: Journey, step: str, seconds: int, request: Request) -> None:
    await workflow.sleep(timedelta(seconds=seconds), summary=_summaries.approval(step, "sla"))
    if request.answer is None:
        run.ladder.request(None, f"steps.{step}.sla")


async def settle(run: Journey, settlement: ApprovalSettlement) -> None:
    """Write how the request ended to its task (or draft); the journey goes on if that fails."""
    try:
        await run.activity("settle_approval", settlement)
    except ActivityError as error:
        run.record("action_failed", f"steps.{settlement.step}", detail=f"{error.cause or error}")
