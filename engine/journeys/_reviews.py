"""An email step with ``review``: the rendered email waits in the reviewer's outbox.

The ``perform_action`` activity renders it and files it as a draft (``outbox: draft``) under
the step's key, and the run waits for the reviewer's answer as an approval step waits (the
same update and refusals, engine.journeys._approvals): to send it, edited or not, or to
discard it, at most ``review_within``. Sending is a second ``perform_action``
(``outbox: send``) that reads the draft as the reviewer left it and sends it once per
recipient under the action ledger, so the text that goes is the edited one, once. The text
lives in the store, never in the workflow's history.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from engine.journeys._approvals import review_request, settle, wait_for_answer
    from engine.journeys._contacts import permit
    from engine.journeys._journey import Journey
    from engine.journeys._messages import ApprovalSettlement
    from engine.journeys._windows import wait_for_window
    from engine.language._plan import EmailNode


async def reviewed_email(run: Journey, node: EmailNode, key: str) -> str | None:
    """File the draft, wait for its review, send or drop it; the failure message, if any."""
    assert node.review is not None and node.review_seconds is not None
    rule = f"steps.{node.id}"
    draft = run.action(key, node.id, node=node).model_copy(update={"outbox": "draft"})
    request = run.approval = review_request(node.id, key)  # open before the draft shows
    try:
        receipt = await run.activity("perform_action", draft)
    except ActivityError as error:
        run.approval = None
        message = str(error.cause or error)
        run.record("action_failed", rule, detail=message)
        return message
    run.record("drafted", rule, detail=receipt.detail)
    answer = await wait_for_answer(
        run, request, node.review_seconds, f"{node.review}'s review of the email"
    )
    settlement = ApprovalSettlement(
        idempotency_key=key,
        workflow_id=workflow.info().workflow_id,
        step=node.id,
        outcome="timeout",
    )
    if answer is None and node.unreviewed != "send":
        run.record(
            "review_timeout", rule, detail=f"not reviewed by {node.review} in time: discarded"
        )
        await settle(run, settlement)
        return None
    if answer is None:
        run.record("review_timeout", rule, detail=f"not reviewed by {node.review} in time: sent")
    else:
        answered = {"by": answer.by, "note": answer.note}
        outcome = "approved" if answer.approved else "rejected"
        kind = "reviewed" if answer.approved else "discarded"
        run.record(kind, rule, {"by": answer.by}, detail=answer.note or "")
        await settle(run, settlement.model_copy(update={"outcome": outcome, **answered}))
        if not answer.approved:
            return None
    await wait_for_window(run, node)  # the reviewed email goes within the send window
    if not await permit(run, node, key):
        return None  # dropped under the contact policy, and recorded
    sending = run.action(key, node.id, node=node).model_copy(update={"outbox": "send"})
    try:
        receipt = await run.activity("perform_action", sending)
    except ActivityError as error:
        message = str(error.cause or error)
        run.record("action_failed", rule, detail=message)
        return message
    run.record("action", rule, detail=receipt.detail)
    return None
