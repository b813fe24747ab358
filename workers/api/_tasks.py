"""The task inbox over HTTP: list the tasks journeys opened, and answer approval requests.

The same store and the same path as `playbook tasks` (``workers.approvals``): the journey
decides whether it still waits for an answer, so a refused answer is a 409 with why.
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


class AnswerIn(BaseModel):
    """An answer to an approval request."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1, max_length=200, description="Who answers.", examples=["maria"])
    note: str | None = Field(
        None, min_length=1, max_length=2000, description="Why (kept in the decision log)."
    )


class TaskList(BaseModel):
    tasks: list[Task]


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
