"""A journey's actions: the request an activity gets, and the one way the run calls one.

Steps (engine.journeys._steps), the escalation ladder and the approval step all act through
the run's ``action`` and ``activity`` (engine.journeys._run), which are these: the request
carries the account's facts as the action sees them (its template, owner, health), and an
action waits while the account is paused (and takes the facts as they are at the resume),
starts no more once a goal or exit fired, and is waited for when cancelled, so the run
closes what it opened after it landed. Sees the run only as a
:class:`engine.journeys._journey.Journey`; runs inside it, so it is deterministic.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    import engine.journeys._clock as _clock
    import engine.journeys._summaries as _summaries
    from engine.journeys._journey import Journey
    from engine.journeys._messages import (
        ActionReceipt,
        ActionRequest,
        ApprovalSettlement,
        CloseRequest,
    )
    from engine.journeys._options import ACTION_HEARTBEAT, ACTION_RETRY, ACTION_TIMEOUT
    from engine.language._plan import EmailNode, Node, TierPlan


def request(
    run: Journey,
    key: str,
    step: str,
    node: Node | None = None,
    tier: TierPlan | None = None,
    channel: Any = None,
) -> ActionRequest:
    """The request of the action at ``step`` (a node's, or an escalation tier's on
    ``channel``), with ``key`` its idempotency key."""
    facts = run.facts()
    template_name = node.template if isinstance(node, EmailNode) else None
    if tier is not None and channel == "email":
        template_name = tier.template
    plan = run.input.plan
    return ActionRequest(
        idempotency_key=key,
        workflow_id=workflow.info().workflow_id,
        account_id=run.input.account_id,
        playbook=run.input.plan.name,
        version=run.input.plan.version,
        step=step,
        node=node,
        tier=tier,
        channel=channel,
        template=plan.templates.get(template_name) if template_name else None,
        owner=plan.owner,
        enrolled_at=run.input.enrolled_at,
        account=facts.account,
        health=facts.health.model_dump(),
        fetch_health=run.input.fetch_health and not run.facts_came_in_this_task(),
    )


async def perform(
    run: Journey, name: str, request: ActionRequest | CloseRequest | ApprovalSettlement
) -> ActionReceipt:
    """Run the activity ``name`` with ``request`` for ``run``; its receipt."""
    if isinstance(request, ActionRequest) and run.ending:
        raise asyncio.CancelledError  # the task running it is being cancelled anyway
    if run.paused and isinstance(request, ActionRequest):
        # Only when paused: a journey never paused takes exactly the path it always did,
        # so recorded histories replay unchanged.
        await workflow.wait_condition(lambda: not run.paused)
        if run.ending:  # the goal or exit came during the pause
            raise asyncio.CancelledError
        facts = run.facts()
        request = request.model_copy(
            update={
                "account": facts.account,
                "health": facts.health.model_dump(),
                "fetch_health": run.input.fetch_health and not run.facts_came_in_this_task(),
            }
        )
    if isinstance(request, ActionRequest):
        summary = _summaries.action(request, _clock.now())
    elif isinstance(request, CloseRequest):
        summary = _summaries.close(request)
    else:
        summary = _summaries.settle(request)
    run.reacting()
    receipt: ActionReceipt = await workflow.execute_activity(
        name,
        request,
        summary=summary,
        result_type=ActionReceipt,
        start_to_close_timeout=ACTION_TIMEOUT,
        heartbeat_timeout=ACTION_HEARTBEAT,
        retry_policy=ACTION_RETRY,
        # An action cancelled by a goal or exit is waited for, so the run closes what it
        # opened after it landed rather than before.
        cancellation_type=(
            ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
            if run.exact_journeys
            else ActivityCancellationType.TRY_CANCEL
        ),
    )
    return receipt
