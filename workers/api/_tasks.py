"""People in the loop over HTTP: the task inbox (and its approval requests) and the outbox of
emails waiting for review.

The same store and the same paths as `playbook tasks` and `playbook outbox`
(``workers.approvals``, ``workers.outbox``): the journey decides whether it still waits for
an answer, so a refused answer is a 409 with why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client

from engine.client._commands import Answer
from workers.approvals import NotAnApproval, answer_request
from workers.outbox import (
    MAX_SUBJECT,
    MAX_TEXT,
    Draft,
    DraftInvalid,
    DraftNotFound,
    DraftStateError,
    edit_draft,
    get_draft,
    list_drafts,
    review_draft,
)
from workers.settings import Settings
from workers.store import (
    DEFAULT_SQLITE_PATH,
    Store,
    Task,
    TaskNotFound,
    TaskStateError,
    open_store,
)

TemporalCall = Callable[[Callable[[Client], Awaitable[Any]]], Awaitable[Any]]
TaskId = Annotated[int, Path(ge=1, le=2**62, description="The task's id, as listed.")]
DraftId = Annotated[int, Path(ge=1, le=2**62, description="The draft's id, as listed.")]


class AnswerIn(BaseModel):
    """An answer to an approval request."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1, max_length=200, description="Who answers.", examples=["maria"])
    note: str | None = Field(
        None, min_length=1, max_length=2000, description="Why (kept in the decision log)."
    )


class TaskList(BaseModel):
    tasks: list[Task]


class DraftList(BaseModel):
    drafts: list[Draft]


class DraftEdit(BaseModel):
    """A reviewer's change to a draft: its subject, its text, or both."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1, max_length=200, description="Who edits.", examples=["dana"])
    subject: str | None = Field(None, min_length=1, max_length=MAX_SUBJECT)
    text: str | None = Field(None, min_length=1, max_length=MAX_TEXT)


def add_task_routes(
    app: FastAPI, settings: Settings, temporal_call: TemporalCall, dependencies: list[Any]
) -> None:
    """``GET /v1/tasks`` and ``POST /v1/tasks/{id}/approve|reject`` on ``app``."""

    def _store() -> Store | None:
        url = settings.store_url()
        if url is None and not DEFAULT_SQLITE_PATH.exists():
            return None  # no worker has written here: no task exists
        return open_store(url)

    def _get(task_id: int) -> Task:
        store = _store()
        if store is None:
            raise TaskNotFound(f"no task {task_id}")
        with store:
            return store.get(task_id)

    @app.get("/v1/tasks", dependencies=dependencies, tags=["tasks"])
    async def get_tasks(
        assignee: Annotated[
            str | None, Query(description="A person or a role.", max_length=200)
        ] = None,
        account: Annotated[str | None, Query(description="An account id.", max_length=200)] = None,
        state: Annotated[
            Literal["active", "all"], Query(description="active: open or acknowledged.")
        ] = "active",
    ) -> TaskList:
        """The inbox, soonest due first; approval requests have kind approval."""

        def listed() -> list[Task]:
            store = _store()
            if store is None:
                return []
            with store:
                return store.list_tasks(assignee=assignee, account=account, status=state)

        return TaskList(tasks=await asyncio.to_thread(listed))

    async def _answer(task_id: int, approved: bool, body: AnswerIn) -> Answer:
        try:
            task = await asyncio.to_thread(_get, task_id)
        except TaskNotFound as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        try:
            answer: Answer = await temporal_call(
                lambda client: answer_request(client, task, approved, body.by, body.note)
            )
        except NotAnApproval as error:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
        except TaskStateError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        if not answer.done:
            raise HTTPException(status.HTTP_409_CONFLICT, answer.text)
        return answer

    _drafts(app, _store, temporal_call, dependencies)

    refusals: dict[int | str, dict[str, Any]] = {
        404: {"description": "No such task."},
        409: {"description": "The request is no longer waiting for an answer."},
        422: {"description": "The task is not an approval request, or the body is invalid."},
    }

    @app.post(
        "/v1/tasks/{task_id}/approve",
        dependencies=dependencies,
        tags=["tasks"],
        responses=refusals,
    )
    async def approve(task_id: TaskId, body: AnswerIn) -> Answer:
        """Approve an approval request: its journey takes the on_approve steps."""
        return await _answer(task_id, True, body)

    @app.post(
        "/v1/tasks/{task_id}/reject", dependencies=dependencies, tags=["tasks"], responses=refusals
    )
    async def reject(task_id: TaskId, body: AnswerIn) -> Answer:
        """Reject an approval request: its journey takes the on_reject steps."""
        return await _answer(task_id, False, body)


def _drafts(
    app: FastAPI,
    store_of: Callable[[], Store | None],
    temporal_call: TemporalCall,
    dependencies: list[Any],
) -> None:
    def _get(draft_id: int) -> Draft:
        store = store_of()
        if store is None:
            raise DraftNotFound(f"no draft {draft_id} in the outbox")
        with store:
            return get_draft(store, draft_id)

    async def _found(draft_id: int) -> Draft:
        try:
            return await asyncio.to_thread(_get, draft_id)
        except DraftNotFound as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None

    @app.get("/v1/outbox", dependencies=dependencies, tags=["outbox"])
    async def get_outbox(
        reviewer: Annotated[
            str | None, Query(description="A person or a role.", max_length=200)
        ] = None,
        account: Annotated[str | None, Query(description="An account id.", max_length=200)] = None,
        state: Annotated[
            Literal["waiting", "all"], Query(description="waiting: not yet reviewed.")
        ] = "waiting",
    ) -> DraftList:
        """Emails waiting for review, oldest first."""

        def listed() -> list[Draft]:
            store = store_of()
            if store is None:
                return []
            with store:
                return list_drafts(store, reviewer=reviewer, account=account, status=state)

        return DraftList(drafts=await asyncio.to_thread(listed))

    @app.get(
        "/v1/outbox/{draft_id}",
        dependencies=dependencies,
        tags=["outbox"],
        responses={404: {"description": "No such draft."}},
    )
    async def get_one(draft_id: DraftId) -> Draft:
        """One draft: recipients, subject, text, and what its reviewer did."""
        return await _found(draft_id)

    @app.patch(
        "/v1/outbox/{draft_id}",
        dependencies=dependencies,
        tags=["outbox"],
        responses={
            404: {"description": "No such draft."},
            409: {"description": "The draft was sent, discarded or closed."},
            422: {"description": "Nothing to change, or a subject or text no email can carry."},
        },
    )
    async def edit(draft_id: DraftId, body: DraftEdit) -> Draft:
        """Change a waiting draft's subject and/or text; the rendered original is kept."""
        await _found(draft_id)

        def edited() -> Draft:
            store = store_of()
            assert store is not None
            with store:
                return edit_draft(store, draft_id, body.by, body.subject, body.text)

        try:
            return await asyncio.to_thread(edited)
        except DraftInvalid as error:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
        except DraftStateError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None

    async def _review(draft_id: int, send: bool, body: AnswerIn) -> Answer:
        draft = await _found(draft_id)
        try:
            answer: Answer = await temporal_call(
                lambda client: review_draft(client, draft, send, body.by, body.note)
            )
        except DraftStateError as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        if not answer.done:
            raise HTTPException(status.HTTP_409_CONFLICT, answer.text)
        return answer

    refusals: dict[int | str, dict[str, Any]] = {
        404: {"description": "No such draft."},
        409: {"description": "The draft is no longer waiting for review."},
    }

    @app.post(
        "/v1/outbox/{draft_id}/send", dependencies=dependencies, tags=["outbox"], responses=refusals
    )
    async def send(draft_id: DraftId, body: AnswerIn) -> Answer:
        """Send the draft as it is now: its journey sends it, once per recipient."""
        return await _review(draft_id, True, body)

    @app.post(
        "/v1/outbox/{draft_id}/discard",
        dependencies=dependencies,
        tags=["outbox"],
        responses=refusals,
    )
    async def discard(draft_id: DraftId, body: AnswerIn) -> Answer:
        """Discard the draft: nothing is sent, the journey goes on."""
        return await _review(draft_id, False, body)
