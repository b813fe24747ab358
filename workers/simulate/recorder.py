"""Recording actions: what a journey would send, rendered and addressed, with nothing sent.

A simulation must show CS ops the real email subject and the real recipient, so these
activities carry the production names (``perform_action``, ``close_items``) and do what
``workers.activities.Actions`` does up to the moment of sending: the same role resolution
through the people directory, the same template context and rendering, the same failures
(no recipient, a template that cannot render) that a journey then records and reacts to.
They keep a record instead of sending. Rendering is bounded and runs in a thread, as the real
one does, so a costly template fails its action in a simulation too. The catalog activities
are served from the set being simulated, so no catalog workflow needs publishing and no query
is made per account wake.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from engine.journeys._catalog import Catalog, CatalogIndex, IndexRequest
from engine.journeys._messages import (
    ActionReceipt,
    ActionRequest,
    ApprovalSettlement,
    CloseRequest,
    HistoryRequest,
)
from engine.language._plan import ApprovalNode, EmailNode, TaskNode, WebhookNode
from engine.language._template_context import PEOPLE, template_context
from workers.action_parts import (
    as_dict,
    chat_message,
    fail,
    journey_now,
    kind_of,
    nobody,
    people,
    tier_of,
    with_current_health,
)
from workers.catalog import CatalogActivities
from workers.directory import Directory, Person
from workers.email import render_off_loop
from workers.redaction import redact_url


class RecordedAction(BaseModel):
    """One action a journey took: what it would have sent, to whom, and when."""

    at: datetime
    workflow_id: str
    account_id: str
    playbook: str
    version: int
    step: str
    kind: str
    """email, task, chat, webhook, or review (an email filed for review, not yet sent)."""
    tier: str | None = None
    """The escalation tier engaged, for ladder actions."""
    recipients: list[str] = []
    """Email addresses (or a role nobody fills, for tasks)."""
    cc: list[str] = []
    summary: str = ""
    """The rendered email subject, the task title, the chat text or the webhook call."""
    error: str | None = None
    """Why the real action would have failed (no recipient, a template that cannot render)."""


class RecordedClose(BaseModel):
    """A run (or its ladder) closing what it opened."""

    at: datetime
    workflow_id: str
    scope: str
    reason: str


class Recorder:
    """The simulation's action activities, bound to a people directory.

    ``offset`` is how far the account's calendar is from the server's clock (see
    ``engine.journeys._clock``): what is recorded, and "today" in a template, are on the
    account's calendar, as the journey's own decisions are.
    """

    def __init__(self, directory: Directory | None = None, offset: timedelta = timedelta()) -> None:
        self._directory = directory or Directory()
        self._offset = offset
        self.actions: list[RecordedAction] = []
        self.closed: list[RecordedClose] = []
        self.settled: list[ApprovalSettlement] = []

    def activities(self) -> list[Callable[..., Any]]:
        return [self.perform_action, self.close_items, self.settle_approval, self.record_history]

    @activity.defn(name="perform_action")
    async def perform_action(self, request: ActionRequest) -> ActionReceipt:
        """Record one step action or one channel of an escalation tier, sending nothing."""
        kind = "review" if request.outbox == "draft" else kind_of(request)
        request = await with_current_health(request, kind)
        record = RecordedAction(
            at=self._now(),
            workflow_id=request.workflow_id,
            account_id=request.account_id,
            playbook=request.playbook,
            version=request.version,
            step=request.step,
            kind=kind,
            tier=request.tier.id if request.tier is not None and request.node is None else None,
        )
        try:
            if kind in ("email", "review"):  # renders off the loop, as the real activity does
                detail = await self._email(request, record)
            else:
                detail = {"task": self._task, "chat": self._chat, "webhook": self._webhook}[kind](
                    request, record
                )
        except ApplicationError as error:
            record.error = str(error)
            self.actions.append(record)
            # The failure is the simulated outcome, recorded in the journey's why: benign, so
            # the SDK does not log it with a traceback as it would a production failure.
            raise ApplicationError(
                error.message,
                type=error.type,
                non_retryable=error.non_retryable,
                category=ApplicationErrorCategory.BENIGN,
            ) from None
        except Exception as error:
            record.error = str(error)
            self.actions.append(record)
            raise
        self.actions.append(record)
        return ActionReceipt(idempotency_key=request.idempotency_key, detail=detail)

    @activity.defn(name="close_items")
    async def close_items(self, request: CloseRequest) -> ActionReceipt:
        """Record that a run or its ladder closes what it opened."""
        self.closed.append(
            RecordedClose(
                at=self._now(),
                workflow_id=request.workflow_id,
                scope=request.scope,
                reason=request.reason,
            )
        )
        return ActionReceipt(
            idempotency_key=f"{request.workflow_id}/close/{request.scope}",
            detail=f"closed {request.scope} items: {request.reason}",
        )

    @activity.defn(name="settle_approval")
    async def settle_approval(self, request: ApprovalSettlement) -> ActionReceipt:
        """Record how an approval request ended (the journey's decision log has it too)."""
        self.settled.append(request)
        return ActionReceipt(
            idempotency_key=f"{request.idempotency_key}/settle",
            detail=f"approval {request.step} {request.outcome}",
        )

    @activity.defn(name="record_history")
    async def record_history(self, request: HistoryRequest) -> int:
        """The dashboard's history: a simulation keeps none (nothing it does happened)."""
        return 0

    # What each kind of action would do --------------------------------------------------------

    async def _email(self, request: ActionRequest, record: RecordedAction) -> str:
        if request.template is None:
            raise fail(f"step {request.step} has no email template in its plan", "TemplateError")
        if isinstance(request.node, EmailNode):
            to_roles, cc_roles = request.node.to, request.node.cc
        else:
            to_roles, cc_roles = tier_of(request).notify, []
        account = request.account
        to = self._people(to_roles, account, request.owner)
        record.recipients = [p.email for p in to]
        record.cc = [p.email for p in self._people(cc_roles, account, request.owner)]
        if not to:
            raise fail(nobody(to_roles, request), "NoRecipient")
        people = {
            role: as_dict(found[0])
            for role in PEOPLE
            if (found := self._directory.resolve(role, account, request.owner))
        }
        subjects = []
        for person in to:
            rendered = await render_off_loop(
                request.template,
                template_context(
                    account=account,
                    health=request.health,
                    recipient=as_dict(person),
                    people=people,
                    playbook=request.playbook,
                    version=request.version,
                    step=request.step,
                    now=self._now(),
                    enrolled_at=request.enrolled_at,
                ),
            )
            subjects.append(rendered.subject)
        record.summary = subjects[0]
        cc = f" (cc {', '.join(record.cc)})" if record.cc else ""
        if request.outbox == "draft":
            assert isinstance(request.node, EmailNode)
            return (
                f"would file for {request.node.review}'s review an email to"
                f" {', '.join(record.recipients)}{cc}: {record.summary}"
            )
        return f"would email {', '.join(record.recipients)}{cc}: {record.summary}"

    def _task(self, request: ActionRequest, record: RecordedAction) -> str:
        if isinstance(request.node, TaskNode):
            roles, title = [request.node.assignee], request.node.title
        elif isinstance(request.node, ApprovalNode):
            roles, title = [request.node.approver], request.node.title
        else:
            tier = tier_of(request)
            roles, title = list(tier.notify), tier.title
        account = request.account
        for role in roles:
            people = self._directory.resolve(role, account, request.owner)
            record.recipients.append(people[0].email if people else role)
        record.summary = title
        return f"would file a task for {', '.join(record.recipients)}: {title}"

    def _chat(self, request: ActionRequest, record: RecordedAction) -> str:
        account = request.account
        channel, text = chat_message(
            request, lambda roles: self._people(roles, account, request.owner)
        )
        record.recipients = [channel]
        record.summary = text
        return f"would post to {channel}: {text}"

    def _webhook(self, request: ActionRequest, record: RecordedAction) -> str:
        node = request.node
        assert isinstance(node, WebhookNode)
        # A simulation's report is printed and shared: no password or token from the URL.
        record.recipients = [redact_url(node.url)]
        record.summary = f"{node.method} {record.recipients[0]}"
        return f"would call {record.summary}"

    def _people(self, roles: list[str], account: dict[str, Any], owner: str | None) -> list[Person]:
        return people(self._directory, roles, account, owner)

    def _now(self) -> datetime:
        """When the journey asked, on the account's calendar."""
        return journey_now() + self._offset


class FixedCatalog(CatalogActivities):
    """The catalog activities serving one catalog held in memory: the set being simulated."""

    def __init__(self, client: Client, catalog: Catalog) -> None:
        super().__init__(client)
        self._catalog = catalog

    async def _query_current(self) -> Catalog:
        return self._catalog

    async def _published_hash(self) -> str | None:
        return self._catalog.hash

    @activity.defn(name="catalog_index")
    async def catalog_index(self, request: IndexRequest) -> CatalogIndex | None:
        """The simulated set's index, marked as a simulation's (see CatalogIndex.simulation)."""
        index = await super().catalog_index(request)
        return None if index is None else index.model_copy(update={"simulation": True})
