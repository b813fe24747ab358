"""What an action is and whom it reaches: shared by the worker's activities
(``workers.activities``) and the simulation's recorder (``workers.simulate.recorder``), so a
simulated journey names the same people and renders the same words as a live one.

The kind of action a request asks for, the people behind its roles (each once), a chat
message with its mentions, a template rendered for one recipient on the journey's clock, and
the one-line refusals (non-retryable: a retry would fail the same way).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from engine.client._start import account_workflow_id
from engine.journeys._account import AccountWorkflow
from engine.journeys._messages import ActionRequest
from engine.language._plan import (
    ApprovalNode,
    EmailNode,
    NotifyNode,
    TaskNode,
    TierPlan,
    WebhookNode,
)
from engine.language._template_context import template_context
from workers.directory import Directory, Person
from workers.email import RenderedEmail, render_off_loop


def fail(message: str, kind: str) -> ApplicationError:
    """A refusal no retry can change: the step fails (or escalates) with ``message``."""
    return ApplicationError(message, type=kind, non_retryable=True)


def kind_of(request: ActionRequest) -> str:
    node = request.node
    if isinstance(node, EmailNode):
        return "email"
    if isinstance(node, TaskNode | ApprovalNode):
        return "task"
    if isinstance(node, NotifyNode):
        return "chat"
    if isinstance(node, WebhookNode):
        return "webhook"
    if node is None and request.tier is not None and request.channel is not None:
        return request.channel
    raise fail(f"step {request.step}: not an action this worker performs", "UnknownAction")


_ASK_HEALTH_WITHIN = timedelta(seconds=5)


async def with_current_health(request: ActionRequest, kind: str) -> ActionRequest:
    """``request`` with the account's current health, when its run may hold an older one
    (``fetch_health``: the run is woken only by what its decisions read) and the action
    shows health (an email's template, a chat line). Asked of the account workflow; when it
    cannot answer, the run's health stands, and the log says so."""
    if not request.fetch_health or not _shows_health(request, kind):
        return request
    try:
        handle = activity.client().get_workflow_handle(account_workflow_id(request.account_id))
        health = await handle.query(AccountWorkflow.current_health, rpc_timeout=_ASK_HEALTH_WITHIN)
    except Exception as error:  # noqa: BLE001 - any failure to ask leaves the run's health
        activity.logger.warning(
            "rendering with the journey's health: the account's current one was not read (%s)",
            " ".join(str(error).split())[:200] or type(error).__name__,
        )
        return request
    return request.model_copy(update={"health": health.model_dump()})


def _shows_health(request: ActionRequest, kind: str) -> bool:
    """Whether the action's words show health: a chat line (its score and tier), an email
    whose template mentions it. A reviewed draft being sent was rendered when filed."""
    if kind == "chat":
        return True
    template = request.template
    if kind not in ("email", "review") or template is None or request.outbox == "send":
        return False
    return any(
        "health" in (part or "") for part in (template.subject, template.text, template.html)
    )


def people(
    directory: Directory, roles: list[str], account: dict[str, Any], owner: str | None
) -> list[Person]:
    """The people behind ``roles`` for this account, each once."""
    found: dict[str, Person] = {}
    for role in roles:
        for person in directory.resolve(role, account, owner):
            found.setdefault(person.email, person)
    return list(found.values())


def chat_message(
    request: ActionRequest, people_of: Callable[[list[str]], list[Person]]
) -> tuple[str, str]:
    """The channel and text of a chat action: a notify step's own, or an escalation tier's
    title with its people mentioned (shared with the simulation's recorder)."""
    if isinstance(request.node, NotifyNode):
        return request.node.channel, request.node.message
    tier = tier_of(request)
    if tier.channel is None:
        raise fail(f"tier {tier.id} has no chat channel", "ChatNotConfigured")
    mentions = [p.chat or p.display for role in tier.notify for p in people_of([role])]
    text = f"{tier.title} ({' '.join(mentions)})" if mentions else tier.title
    return tier.channel, text


def tier_of(request: ActionRequest) -> TierPlan:
    if request.tier is None:
        raise fail(f"step {request.step}: no escalation tier in the request", "UnknownAction")
    return request.tier


def nobody(roles: list[str], request: ActionRequest) -> str:
    return (
        f"nobody to email for {', '.join(roles)} on account {request.account_id}: set the"
        " account's attributes (owner or csm, manager, executive, contact_email) or add the"
        " people to the directory"
    )


async def render_for(
    request: ActionRequest, person: Person, people: dict[str, Any]
) -> RenderedEmail:
    """The request's template rendered for ``person`` (``recipient`` in the template)."""
    assert request.template is not None
    context = template_context(
        account=request.account,
        health=request.health,
        recipient=as_dict(person),
        people=people,
        playbook=request.playbook,
        version=request.version,
        step=request.step,
        now=journey_now(),
        enrolled_at=request.enrolled_at,
    )
    return await render_off_loop(request.template, context)


def journey_now() -> datetime:
    """When the journey asked for the action: due dates and "today" follow the journey's
    clock (and stay the same on a retry), not the moment a worker got to it."""
    if activity.in_activity():
        return activity.info().scheduled_time
    return datetime.now(UTC)


def as_dict(person: Person) -> dict[str, Any]:
    return {"name": person.display, "email": person.email}
