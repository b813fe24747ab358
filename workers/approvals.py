"""Answering an approval request from the inbox: the one path `playbook tasks approve|reject`
and the HTTP API share.

The task says which journey asked and under which key; the journey decides (its update
refuses an answer it no longer waits for) and then writes the answer to the task itself.
"""

from __future__ import annotations

from engine.client._commands import Answer, answer_approval
from engine.client._operate import Target
from workers.store import Task, TaskStateError


class NotAnApproval(TaskStateError):
    """The task is an ordinary one: it is done, not approved."""


def check_answerable(task: Task) -> None:
    """Raise, in one line, when ``task`` is not an approval request still open."""
    if task.kind != "approval":
        raise NotAnApproval(
            f"task {task.id} is not an approval request: mark it done instead"
            f" (playbook tasks done {task.id})"
        )
    if task.status not in ("open", "acknowledged"):
        how = f"{task.decision} by {task.completed_by}" if task.decision else task.status
        reason = f" ({task.closed_reason})" if task.closed_reason else ""
        raise TaskStateError(f"task {task.id} is already {how}{reason}: nothing to answer")


async def answer_request(
    target: Target, task: Task, approved: bool, by: str, note: str | None = None
) -> Answer:
    """Tell the journey that opened ``task`` the answer; what it did, or why it did nothing."""
    check_answerable(task)
    return await answer_approval(
        target, task.workflow_id, task.step, task.idempotency_key, approved, by, note
    )
