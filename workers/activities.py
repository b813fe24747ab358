"""Activities: where the side effects of journeys happen, once per idempotency key.

For now the actions are recorded, not delivered: each logs what it would send with its
idempotency key and returns a receipt. Email, tasks, chat and webhooks replace these bodies
(issue 5); the workflow side, keys included, does not change.
"""

from __future__ import annotations

import logging

from temporalio import activity

from engine._messages import ActionReceipt, ActionRequest, CloseRequest

log = logging.getLogger("playbook.actions")


@activity.defn(name="perform_action")
async def perform_action(request: ActionRequest) -> ActionReceipt:
    """Carry out one step action or ladder engagement."""
    what = request.node.type if request.node else f"escalation via {request.channel}"
    detail = f"{what} for {request.account_id} ({request.playbook}/{request.step})"
    log.info("action %s key=%s", detail, request.idempotency_key)
    return ActionReceipt(idempotency_key=request.idempotency_key, detail=f"logged {detail}")


@activity.defn(name="close_items")
async def close_items(request: CloseRequest) -> ActionReceipt:
    """Close what a run or its ladder opened (tasks), with the reason."""
    log.info("close %s items of %s: %s", request.scope, request.workflow_id, request.reason)
    return ActionReceipt(
        idempotency_key=f"{request.workflow_id}/close/{request.scope}",
        detail=f"closed {request.scope} items: {request.reason}",
    )


ACTIVITIES = [perform_action, close_items]
