"""The outbox: emails that wait for a person's review before they go.

An email step with ``review: csm`` is rendered by its action and filed here as a draft
(one per step action, under the action's idempotency key), not sent. The reviewer reads it
(`playbook outbox`, the HTTP API), may edit its subject and text (the first original is kept
beside the edit, with who and when), and sends or discards it; sending and discarding go to
the journey, which decides (it may have stopped waiting) and then sends the draft as it is
now, once per recipient, under the action ledger. The table lives in the task store
(migration 5 of ``workers.store``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from engine.client._commands import Answer, answer_approval
from engine.client._operate import Target
from workers.store import Store, StoreError

DraftStatus = Literal["waiting", "sent", "discarded", "closed"]
MAX_SUBJECT = 998
"""RFC 5322's line limit: a subject longer than this cannot be sent as one header line."""
MAX_TEXT = 1_000_000
"""The renderer's own bound on a rendered text (docs/errors.md, render bounds)."""


class DraftNotFound(StoreError):
    """No draft has that id."""


class DraftStateError(StoreError):
    """The draft is no longer waiting: sent, discarded or closed."""


class DraftInvalid(StoreError):
    """An edit that no email can carry (an empty or multi-line subject, a NUL)."""


class NewDraft(BaseModel):
    """A rendered email to file for review."""

    model_config = ConfigDict(frozen=True)

    idempotency_key: str = Field(min_length=1)
    account_id: str
    workflow_id: str
    playbook: str
    step: str
    template: str
    reviewer_role: str
    reviewer: str | None = None
    recipients: list[str]
    cc: list[str] = Field(default_factory=list)
    subject: str
    text: str
    html: str | None = None
    due_at: AwareDatetime | None = None


class Draft(NewDraft):
    """A draft as stored, with what its reviewer did to it."""

    id: int
    status: DraftStatus
    created_at: AwareDatetime
    original_subject: str | None = None
    """The subject as rendered, once the reviewer changed it."""
    original_text: str | None = None
    """The text as rendered, once the reviewer changed it."""
    edited_by: str | None = None
    edited_at: AwareDatetime | None = None
    answered_by: str | None = None
    answered_at: AwareDatetime | None = None
    note: str | None = None
    sent_at: AwareDatetime | None = None

    @field_validator("recipients", "cc", mode="before")
    @classmethod
    def _from_json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("due_at", "created_at", "edited_at", "answered_at", "sent_at", mode="after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None


_COLUMNS = (
    "id, idempotency_key, account_id, workflow_id, playbook, step, template, reviewer_role,"
    " reviewer, recipients, cc, subject, text, html, status, created_at, due_at,"
    " original_subject, original_text, edited_by, edited_at, answered_by, answered_at, note,"
    " sent_at"
)


def file_draft(store: Store, new: NewDraft) -> Draft:
    """File ``new``, or return the draft already filed under its key (a retried action)."""
    values = new.model_dump()
    values["recipients"] = json.dumps(new.recipients)
    values["cc"] = json.dumps(new.cc)
    names = list(values)
    with store.transaction(write=True) as tx:
        tx.run(
            f"INSERT INTO outbox ({', '.join(names)}, status, created_at)"
            f" VALUES ({', '.join('?' for _ in names)}, 'waiting', ?)"
            " ON CONFLICT (idempotency_key) DO NOTHING",
            (*values.values(), _now()),
        )
        rows = tx.run(
            f"SELECT {_COLUMNS} FROM outbox WHERE idempotency_key = ?", (new.idempotency_key,)
        )
    return Draft.model_validate(rows[0])


def get_draft(store: Store, draft_id: int) -> Draft:
    with store.transaction() as tx:
        rows = tx.run(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (draft_id,))
    if not rows:
        raise DraftNotFound(f"no draft {draft_id} in the outbox")
    return Draft.model_validate(rows[0])


def draft_by_key(store: Store, key: str) -> Draft | None:
    with store.transaction() as tx:
        rows = tx.run(f"SELECT {_COLUMNS} FROM outbox WHERE idempotency_key = ?", (key,))
    return Draft.model_validate(rows[0]) if rows else None


def list_drafts(
    store: Store,
    reviewer: str | None = None,
    account: str | None = None,
    status: DraftStatus | Literal["all"] = "waiting",
) -> list[Draft]:
    """Drafts, oldest first; ``reviewer`` matches the person or the role."""
    where: list[str] = []
    params: list[Any] = []
    if reviewer is not None:
        where.append("(reviewer = ? OR reviewer_role = ?)")
        params += [reviewer, reviewer]
    if account is not None:
        where.append("account_id = ?")
        params.append(account)
    if status != "all":
        where.append("status = ?")
        params.append(status)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    with store.transaction() as tx:
        rows = tx.run(f"SELECT {_COLUMNS} FROM outbox{clause} ORDER BY id", params)
    return [Draft.model_validate(row) for row in rows]


def edit_draft(
    store: Store, draft_id: int, by: str, subject: str | None = None, text: str | None = None
) -> Draft:
    """Change a waiting draft's subject and/or text; the rendered original is kept the first
    time. An edited text drops the HTML part, which was written for the original."""
    if subject is None and text is None:
        raise DraftInvalid("nothing to edit: give a subject or a text")
    if subject is not None and (
        not 0 < len(subject) <= MAX_SUBJECT or any(c in subject for c in "\r\n\x00")
    ):
        raise DraftInvalid(f"a subject is one line of 1 to {MAX_SUBJECT} characters")
    if text is not None and (not 0 < len(text) <= MAX_TEXT or "\x00" in text):
        raise DraftInvalid(f"a text is 1 to {MAX_TEXT:,} characters, without NUL")
    with store.transaction(write=True) as tx:
        changed = tx.count(
            "UPDATE outbox SET original_subject = COALESCE(original_subject, subject),"
            " original_text = COALESCE(original_text, text),"
            " subject = COALESCE(?, subject), text = COALESCE(?, text),"
            " html = CASE WHEN ? IS NULL THEN html ELSE NULL END,"
            " edited_by = ?, edited_at = ? WHERE id = ? AND status = 'waiting'",
            (subject, text, text, by, _now(), draft_id),
        )
    draft = get_draft(store, draft_id)
    if not changed:
        raise DraftStateError(f"draft {draft_id} is {_finished(draft)}: it can no longer change")
    return draft


def mark_sent(store: Store, key: str) -> None:
    with store.transaction(write=True) as tx:
        tx.count(
            "UPDATE outbox SET status = 'sent', sent_at = ? WHERE idempotency_key = ?"
            " AND status = 'waiting'",
            (_now(), key),
        )


def settle_draft(
    store: Store,
    key: str,
    outcome: Literal["approved", "rejected", "timeout"],
    by: str | None,
    note: str | None,
) -> int:
    """Who reviewed the draft and why (approved: it is about to be sent, which marks it
    sent); or a draft its journey will not send: discarded by its reviewer, or closed
    unreviewed."""
    status = {"approved": "waiting", "rejected": "discarded", "timeout": "closed"}[outcome]
    with store.transaction(write=True) as tx:
        return tx.count(
            "UPDATE outbox SET status = ?, answered_by = ?, answered_at = ?, note = ?"
            " WHERE idempotency_key = ? AND status = 'waiting'",
            (status, by, _now(), note, key),
        )


async def review_draft(
    target: Target, draft: Draft, send: bool, by: str, note: str | None = None
) -> Answer:
    """Tell the journey that filed ``draft`` to send it or to discard it; what it did."""
    if draft.status != "waiting":
        raise DraftStateError(f"draft {draft.id} is {_finished(draft)}: nothing to review")
    return await answer_approval(
        target,
        draft.workflow_id,
        draft.step,
        draft.idempotency_key,
        send,
        by,
        note,
        verbs=("send", "discard"),
    )


def _finished(draft: Draft) -> str:
    if draft.status == "sent":
        return "already sent"
    if draft.status == "discarded":
        return f"already discarded by {draft.answered_by}"
    return "closed (not reviewed in time)"


def _now() -> datetime:
    return datetime.now(UTC)
