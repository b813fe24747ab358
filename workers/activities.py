"""The action activities: where journeys reach people and systems, once per idempotency key.

``perform_action`` carries out a step's action (email, task, notify, webhook) or one channel
of an escalation tier (task, email, chat); ``close_items`` closes what a run or its ladder
opened. Roles become people through the directory; templates render here, never in workflow
code.

Exactly once: a task is created under a unique idempotency key, so a retry finds it. Email,
chat and webhooks cannot be taken back, so each records its key in the store's ledger the
moment the server accepted it, and a retry that finds the key sends nothing. What remains is
the instant between the server's acceptance and that record; the deterministic Message-ID and
the Idempotency-Key header let receivers drop a repeat from that window.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from engine.journeys._messages import (
    ActionReceipt,
    ActionRequest,
    ApprovalSettlement,
    CloseRequest,
    DecisionRecord,
    HistoryRequest,
    JourneyRecord,
)
from engine.language._by_segment import for_segment
from engine.language._plan import (
    ApprovalNode,
    EmailNode,
    TaskNode,
    WebhookNode,
)
from engine.language._template_context import PEOPLE
from workers import history, outbox
from workers.action_parts import (
    as_dict,
    chat_message,
    fail,
    journey_now,
    kind_of,
    nobody,
    people,
    render_for,
    tier_of,
    with_current_health,
)
from workers.backoff import RetrySettings, with_delay
from workers.directory import Directory, Person
from workers.email import Outgoing, RenderedEmail, SmtpSettings, send_emails
from workers.log import action_log
from workers.metrics import METRICS, EngineMetrics
from workers.outbound import OutboundClient, OutboundSettings, notify_chat, post_webhook
from workers.settings import Settings
from workers.store import NewTask, Store, TaskKind, open_store

CRASH_AFTER = "PLAYBOOK_CRASH_AFTER_SIDE_EFFECT"
"""Fault injection for the exactly-once tests: the worker exits at once after the side effect
of the step named here is done and recorded, before the activity completes. Never set it in
production."""

_HEARTBEAT_EVERY = 2.0


class Actions:
    """The action activities, bound to the store, the directory and the outbound settings."""

    def __init__(
        self,
        *,
        store: Store,
        directory: Directory,
        smtp: SmtpSettings,
        outbound: OutboundSettings,
        retry: RetrySettings | None = None,
        crash_after: str | None = None,
        metrics: EngineMetrics | None = None,
    ) -> None:
        self._store = store
        self._directory = directory
        self._smtp = smtp
        self._outbound = outbound
        self._retry = retry or RetrySettings()
        self._http: OutboundClient | None = None
        self._crash_after = crash_after
        self._metrics = METRICS if metrics is None else metrics

    @classmethod
    def from_environment(cls) -> Actions:
        """Everything from the environment; a bad setting raises one line naming it."""
        return cls.from_settings(Settings.from_env())

    @classmethod
    def from_settings(cls, settings: Settings) -> Actions:
        return cls(
            store=open_store(settings.store_url()),
            directory=Directory.load(settings.directory),
            smtp=settings.smtp,
            outbound=settings.outbound,
            retry=settings.retry,
            # A fault switch for the exactly-once tests, deliberately not a documented setting.
            crash_after=os.environ.get(CRASH_AFTER) or None,
        )

    def activities(self) -> list[Callable[..., Any]]:
        return [self.perform_action, self.close_items, self.settle_approval, self.record_history]

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        self._store.close()

    # The activities ----------------------------------------------------------------------

    @activity.defn(name="perform_action")
    async def perform_action(self, request: ActionRequest) -> ActionReceipt:
        """Carry out one step action or one channel of an escalation tier."""
        kind = kind_of(request)
        log = action_log(
            account_id=request.account_id, playbook=request.playbook, step=request.step, kind=kind
        )
        handler: Callable[[ActionRequest], Awaitable[str]] = {
            "email": self._email,
            "task": self._task,
            "chat": self._chat,
            "webhook": self._webhook,
        }[kind]
        started = time.monotonic()
        try:
            with _heartbeating():
                detail = await handler(await with_current_health(request, kind))
        except ApplicationError as error:
            if error.non_retryable:
                self._count(kind, "failed", started)
                log.warning("action failed", error=str(error), retrying=False)
                raise
            self._count(kind, "deferred", started)
            raise self._again(error, log) from None
        except Exception as error:
            self._count(kind, "deferred", started)
            raise self._again(error, log) from error
        self._count(kind, "sent", started)
        log.info("action done", detail=detail)
        return ActionReceipt(idempotency_key=request.idempotency_key, detail=detail)

    @activity.defn(name="close_items")
    async def close_items(self, request: CloseRequest) -> ActionReceipt:
        """Close the open tasks of a run (or only of its ladder), with the reason."""
        closed = await asyncio.to_thread(
            self._store.close_open, request.workflow_id, request.scope, request.reason
        )
        self._metrics.tasks_closed.labels(request.scope).inc(closed)
        action_log(scope=request.scope).info("closed tasks", closed=closed, reason=request.reason)
        return ActionReceipt(
            idempotency_key=f"{request.workflow_id}/close/{request.scope}",
            detail=f"closed {closed} {request.scope} task(s): {request.reason}",
        )

    @activity.defn(name="settle_approval")
    async def settle_approval(self, request: ApprovalSettlement) -> ActionReceipt:
        """Mark an approval request's task with how its journey settled it."""
        args = (request.idempotency_key, request.outcome, request.by, request.note)
        changed = await asyncio.to_thread(self._store.settle_approval, *args)
        changed += await asyncio.to_thread(outbox.settle_draft, self._store, *args)
        return ActionReceipt(
            idempotency_key=f"{request.idempotency_key}/settle",
            detail=f"approval {request.step} {request.outcome}"
            + ("" if changed else " (its task was already settled)"),
        )

    @activity.defn(name="record_history")
    async def record_history(self, request: HistoryRequest) -> int:
        """Keep account changes and journey endings for the dashboard; once per key."""
        new: list[DecisionRecord | JourneyRecord] = []
        added = await asyncio.to_thread(history.record, self._store, request, new)
        self._metrics.recorded(new)
        return added

    # Email --------------------------------------------------------------------------------

    async def _email(self, request: ActionRequest) -> str:
        if request.outbox == "send":
            return await self._send_draft(request)
        if request.template is None:
            raise fail(f"step {request.step} has no email template in its plan", "TemplateError")
        if isinstance(request.node, EmailNode):
            to_roles, cc_roles = request.node.to, request.node.cc
        else:
            to_roles, cc_roles = tier_of(request).notify, []
        to = self._people(to_roles, request)
        if not to:
            raise fail(nobody(to_roles, request), "NoRecipient")
        cc = [p.email for p in self._people(cc_roles, request)]
        people = {
            role: as_dict(found[0])
            for role in PEOPLE
            if (found := self._directory.resolve(role, request.account, request.owner))
        }
        if request.outbox == "draft":
            return await self._file_draft(request, to, cc, people)
        # One copy per recipient (``recipient`` in the template is that person), each under
        # its own key: a retry after a partial failure does not repeat the copies that went.
        pending = []
        for person in to:
            key = f"{request.idempotency_key}/{person.email}"
            if await self._ledger(key) is None:
                rendered = await render_for(request, person, people)
                pending.append(Outgoing(key, [person.email], cc, rendered))

        async def sent(outgoing: Outgoing, message_id: str) -> None:
            # Recorded before the next message and before QUIT: the window in which a crash
            # sends a copy again is the server's own answer time plus this write.
            await self._record(outgoing.idempotency_key, "email", message_id, request)

        await send_emails(self._smtp, pending, sent=sent)
        sent_to = [person.email for person in to]
        return f"emailed {', '.join(sent_to)}" + (f" (cc {', '.join(cc)})" if cc else "")

    async def _file_draft(
        self, request: ActionRequest, to: list[Person], cc: list[str], people: dict[str, Any]
    ) -> str:
        """Render for the first recipient and file it in the reviewer's outbox, unsent."""
        node = request.node
        assert isinstance(node, EmailNode) and node.review is not None
        assert request.template is not None
        rendered = await render_for(request, to[0], people)
        reviewers = self._directory.resolve(node.review, request.account, request.owner)
        due = journey_now() + timedelta(seconds=node.review_seconds or 0)
        draft = await asyncio.to_thread(
            outbox.file_draft,
            self._store,
            outbox.NewDraft(
                idempotency_key=request.idempotency_key,
                account_id=request.account_id,
                workflow_id=request.workflow_id,
                playbook=request.playbook,
                step=request.step,
                template=node.template,
                reviewer_role=node.review,
                reviewer=reviewers[0].email if reviewers else None,
                recipients=[p.email for p in to],
                cc=cc,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                due_at=due,
            ),
        )
        who = draft.reviewer or node.review
        return (
            f"email to {', '.join(draft.recipients)} waits for {who}'s review (draft #{draft.id})"
        )

    async def _send_draft(self, request: ActionRequest) -> str:
        """Send the reviewed draft as its reviewer left it, once per recipient."""
        draft = await asyncio.to_thread(outbox.draft_by_key, self._store, request.idempotency_key)
        if draft is None:
            raise fail(f"step {request.step}: no draft in the outbox to send", "DraftMissing")
        rendered = RenderedEmail(subject=draft.subject, text=draft.text, html=draft.html)
        pending = [
            Outgoing(key, [address], draft.cc, rendered)
            for address in draft.recipients
            if await self._ledger(key := f"{request.idempotency_key}/{address}") is None
        ]

        async def sent(outgoing: Outgoing, message_id: str) -> None:
            await self._record(outgoing.idempotency_key, "email", message_id, request)

        await send_emails(self._smtp, pending, sent=sent)
        await asyncio.to_thread(outbox.mark_sent, self._store, request.idempotency_key)
        cc = f" (cc {', '.join(draft.cc)})" if draft.cc else ""
        edited = f", as edited by {draft.edited_by}" if draft.edited_by else ""
        return f"emailed {', '.join(draft.recipients)}{cc} (draft #{draft.id}{edited})"

    # Tasks --------------------------------------------------------------------------------

    async def _task(self, request: ActionRequest) -> str:
        now = journey_now()
        if isinstance(request.node, TaskNode):
            node = request.node
            specs = [(node.assignee, request.idempotency_key)]
            title, description, priority = node.title, node.description, node.priority
            due: datetime | None = now + timedelta(seconds=node.due_seconds)
            scope = "run"
            kind: TaskKind = "task"
        elif isinstance(request.node, ApprovalNode):
            asked = request.node
            specs = [(asked.approver, request.idempotency_key)]
            title, description, priority = asked.title, asked.description, asked.priority
            # Due when the ladder engages (its sla), else when the request gives up.
            segment = request.account.get("segment")
            sla = for_segment(asked.sla_seconds, asked.sla_by_segment, segment)
            timeout = for_segment(asked.timeout_seconds, asked.timeout_by_segment, segment)
            due = now + timedelta(seconds=sla or timeout)
            scope, kind = "run", "approval"
        else:
            tier = tier_of(request)
            # One task per role the tier engages, each under its own key.
            specs = [(role, f"{request.idempotency_key}/{role}") for role in tier.notify]
            title, description, priority = tier.title, None, "high"
            # The account's segment's SLA (ack_sla by segment), as the ladder waits for it.
            segment = request.account.get("segment")
            sla = for_segment(tier.ack_sla_seconds, tier.ack_sla_by_segment, segment)
            due = now + timedelta(seconds=sla) if sla else None
            scope, kind = "ladder", "task"
        made = []
        for role, key in specs:
            people = self._directory.resolve(role, request.account, request.owner)
            task = await asyncio.to_thread(
                self._store.create_task,
                NewTask(
                    idempotency_key=key,
                    account_id=request.account_id,
                    workflow_id=request.workflow_id,
                    playbook=request.playbook,
                    step=request.step,
                    scope=scope,
                    assignee_role=role,
                    assignee=people[0].email if people else None,
                    title=title,
                    description=description,
                    priority=priority,
                    due_at=due,
                    kind=kind,
                ),
            )
            self._maybe_crash(request)
            what = "approval request" if kind == "approval" else "task"
            made.append(f"{what} #{task.id} for {task.assignee or role}")
        return ", ".join(made)

    # Chat and webhooks --------------------------------------------------------------------

    async def _chat(self, request: ActionRequest) -> str:
        channel, text = chat_message(
            request, lambda roles: people(self._directory, roles, request.account, request.owner)
        )
        name = request.account.get("name") or request.account_id
        health = request.health
        score = (
            f", health {health['score']:g} ({health.get('tier')})" if health.get("score") else ""
        )
        text = f"{text}\n{name}{score} · {request.playbook}/{request.step}"
        key = request.idempotency_key
        if await self._ledger(key) is None:
            result = await notify_chat(
                self._outbound,
                channel=channel,
                text=text,
                idempotency_key=key,
                client=self._client(),
            )
            await self._record(key, "chat", result.detail, request)
        return f"posted to {channel}"

    async def _webhook(self, request: ActionRequest) -> str:
        node = request.node
        assert isinstance(node, WebhookNode)
        key = request.idempotency_key
        existing = await self._ledger(key)
        if existing is not None:
            return existing
        body = {
            "account_id": request.account_id,
            "playbook": request.playbook,
            "version": request.version,
            "step": request.step,
            "workflow_id": request.workflow_id,
            "data": node.body,
        }
        result = await post_webhook(
            self._outbound,
            url=node.url,
            method=node.method,
            body=body,
            idempotency_key=key,
            client=self._client(),
        )
        await self._record(key, "webhook", result.detail, request)
        return result.detail

    # Helpers ------------------------------------------------------------------------------

    def _count(self, kind: str, outcome: str, started: float) -> None:
        self._metrics.actions.labels(kind, outcome).inc()
        self._metrics.action_seconds.labels(kind).observe(time.monotonic() - started)

    def _again(self, error: Exception, log: Any) -> ApplicationError:
        """The error to retry ``error`` with: no attempt limit (the journey's policy), the
        pause from the settings, and a log line that says when the next try comes."""
        attempt = activity.info().attempt if activity.in_activity() else 1
        retry = with_delay(error, self._retry.delay(attempt))
        assert retry.next_retry_delay is not None
        shown = error if isinstance(error, ApplicationError) else f"{type(error).__name__}: {error}"
        log.warning(
            "action failed",
            error=str(shown),
            retrying=True,
            next_try_in=retry.next_retry_delay.total_seconds(),
        )
        return retry

    def _people(self, roles: list[str], request: ActionRequest) -> list[Person]:
        return people(self._directory, roles, request.account, request.owner)

    def _client(self) -> OutboundClient:
        if self._http is None:
            self._http = OutboundClient(self._outbound)
        return self._http

    async def _ledger(self, key: str) -> str | None:
        return await asyncio.to_thread(self._store.ledger_get, key)

    async def _record(self, key: str, kind: str, detail: str, request: ActionRequest) -> None:
        await asyncio.to_thread(self._store.ledger_put, key, kind, detail)
        self._maybe_crash(request)

    def _maybe_crash(self, request: ActionRequest) -> None:
        if self._crash_after is not None and request.step == self._crash_after:
            os._exit(86)


@contextlib.contextmanager
def _heartbeating() -> Iterator[None]:
    """Heartbeat while an action works, so a dead worker is noticed within the timeout.

    The first beat waits an interval: the server's heartbeat timeout already runs from the
    activity's start, and most actions end well within it, so a beat at once would be an RPC
    and a write to the run's state on the server for every action, for nothing."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(_HEARTBEAT_EVERY)
            activity.heartbeat()

    task = asyncio.get_running_loop().create_task(beat()) if activity.in_activity() else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
