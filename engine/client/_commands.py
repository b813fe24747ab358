"""What operators do to an account's journeys (acknowledge, end) and to the account (pause,
resume), each answered with what was done or why there was nothing to do.

They are workflow updates, not signals: a signal is accepted whatever it will turn out to
change, so the command could only say "sent". An update's validator refuses a command that
would change nothing (``NothingToDo``) before anything is recorded, and its handler returns
what it did. Acknowledging and ending go to the journey itself, which alone knows whether
its ladder is engaged or it is already ending; pausing goes to the account, which holds the
pause. The account's signals stay for what was already sent and for the task inbox and the
simulation, which tell journeys without waiting for an answer.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from engine.client._names import known, published, unknown
from engine.client._operate import (
    OperateError,
    Target,
    UnknownAccount,
    _client,
    _where,
    account_status,
)
from engine.client._start import account_workflow_id
from engine.journeys._account_state import AccountStatus
from engine.journeys._messages import (
    NOTHING_TO_DO,
    Acknowledgement,
    ApprovalAnswer,
    Enrollment,
    OverrideRequest,
    PauseRequest,
    ResumeRequest,
    StopRequest,
)
from engine.journeys._overrides import override_problem

UPDATE_TIMEOUT = 30.0
"""Seconds to wait for a worker to answer. An update needs a running worker; one that nobody
answers is not recorded (the server keeps it in memory until a worker takes it)."""


class Answer(BaseModel):
    """What one command did to one workflow, or why it did nothing (``done`` False)."""

    done: bool
    text: str


async def acknowledge(
    target: Target, account_id: str, by: str, playbook: str | None = None
) -> list[Answer]:
    """Acknowledge the engaged escalation of each running journey (or of ``playbook``'s)."""
    client = await _client(target)
    account = await account_status(client, account_id)
    await _refuse_unknown(client, account, playbook)
    running = {
        name: e
        for name, e in sorted(account.enrollments.items())
        if e.running and playbook in (None, name)
    }
    if not running:
        which = f"no journey of {playbook}" if playbook else "no journey"
        return [Answer(done=False, text=f"nothing to acknowledge: {which} is running")]
    ack = Acknowledgement(by=by)
    return [
        await _update(client, e.workflow_id, "acknowledge_escalation", ack, "acknowledge")
        for e in running.values()
    ]


async def end_journey(
    target: Target, account_id: str, playbook: str, reason: str, by: str
) -> Answer:
    """End the account's running journey of ``playbook``; its open items close."""
    client = await _client(target)
    account = await account_status(client, account_id)
    await _refuse_unknown(client, account, playbook)
    enrollment = account.enrollments.get(playbook)
    if enrollment is None:
        return Answer(done=False, text=f"nothing to end: {playbook} has never run for it")
    if not enrollment.running:
        return Answer(done=False, text=f"nothing to end: {_ended(playbook, enrollment)}")
    request = StopRequest(reason=reason, by=by)
    return await _update(client, enrollment.workflow_id, "exit_journey", request, "end")


async def answer_approval(
    target: Target,
    workflow_id: str,
    step: str,
    request: str,
    approved: bool,
    by: str,
    note: str | None = None,
    verbs: tuple[str, str] = ("approve", "reject"),
) -> Answer:
    """Approve or reject the approval request ``request`` (its task's key) that the journey
    ``workflow_id`` has open at ``step``; the journey alone decides whether it still waits,
    so an answer and the request's timeout never both count."""
    client = await _client(target)
    answer = ApprovalAnswer(step=step, approved=approved, by=by, note=note, request=request)
    verb = verbs[0] if approved else verbs[1]
    return await _update(client, workflow_id, "answer_approval", answer, verb)


async def pause(target: Target, account_id: str, by: str, reason: str) -> Answer:
    client = await _client(target)
    request = PauseRequest(by=by, reason=reason)
    return await _update(client, account_workflow_id(account_id), "pause_account", request, "do")


async def resume(target: Target, account_id: str, by: str) -> Answer:
    client = await _client(target)
    request = ResumeRequest(by=by)
    return await _update(client, account_workflow_id(account_id), "resume_account", request, "do")


async def override(target: Target, account_id: str, request: OverrideRequest) -> Answer:
    """Set or clear a person's health score (engine.journeys._overrides); refused with one
    line before anything is sent when the score, reason or until cannot be taken."""
    problem = override_problem(request, datetime.now(UTC))
    if problem is not None:
        raise OperateError(f"cannot override {account_id}'s health: {problem}")
    client = await _client(target)
    workflow_id = account_workflow_id(account_id)
    return await _update(client, workflow_id, "override_health", request, "clear")


async def _refuse_unknown(client: Client, account: AccountStatus, playbook: str | None) -> None:
    """Refuse a playbook that is neither published nor one the account has run."""
    if playbook is None or playbook in account.enrollments:
        return
    catalog = await published(client)
    names = known(catalog, "playbook") if catalog is not None else []
    if playbook not in names:
        raise OperateError(str(unknown("playbook", playbook, names)))


def _ended(playbook: str, enrollment: Enrollment) -> str:
    when = f" {enrollment.ended_at:%Y-%m-%d %H:%M} UTC" if enrollment.ended_at else ""
    how = f" ({enrollment.ended_by}: {enrollment.reason})" if enrollment.ended_by else ""
    return f"{playbook} (cycle {enrollment.cycle}) already ended{when}{how}"


async def _update(client: Client, workflow_id: str, name: str, arg: Any, verb: str) -> Answer:
    """Run the update; its answer, or "nothing to VERB: why" when its validator refused."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        text = await asyncio.wait_for(
            handle.execute_update(name, arg, result_type=str), UPDATE_TIMEOUT
        )
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type == NOTHING_TO_DO:
            return Answer(done=False, text=f"nothing to {verb}: {cause.message}")
        if isinstance(cause, ApplicationError) and "expected but not found" in cause.message:
            raise OperateError(
                f"{workflow_id}: the worker that runs it does not know {name!r} yet (an older"
                " engine): nothing was done; upgrade the workers and run the command again"
            ) from None
        raise OperateError(f"{workflow_id}: {cause or error}") from None
    except TimeoutError:
        raise OperateError(
            f"{workflow_id}: no worker answered within {UPDATE_TIMEOUT:g} s, so nothing was"
            " done; is a worker running on the engine's task queue?"
        ) from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            account = workflow_id.removeprefix("account/")
            if account != workflow_id:
                raise UnknownAccount(f"no account {account!r} in {_where(client)}") from None
            return Answer(done=False, text=f"nothing to {verb}: {workflow_id} has just ended")
        raise OperateError(f"{workflow_id}: {error.message}") from None
    return Answer(done=True, text=text)
