"""The approval step on the time-skipping server, with the real action activities and store:
a request lands in the approver's inbox; an approval or a rejection (as `playbook tasks
approve|reject` sends it) takes its branch and is written to the task; no answer engages
the ladder at the sla and takes on_timeout at the timeout, closing the request; answers the
journey is not waiting for are refused, once decided it stays decided."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._commands import Answer, answer_approval
from engine.journeys._messages import ActionReceipt, ActionRequest, RunStatus
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._facts import Facts, Health
from tests.support import eventually, start_run, store_actions
from workers.store import Store, Task, open_store
from workers.worker import build_worker

APPROVALS = Path(__file__).parents[2] / "fixtures" / "approvals"


class _Journey:
    def __init__(self, env: WorkflowEnvironment, store: Store, handle: WorkflowHandle) -> None:
        self.env, self.store, self.handle = env, store, handle

    async def request(self) -> Task:
        """The approval task, once the run has opened it."""

        async def opened() -> Task | None:
            found = self.store.list_tasks(status="all", workflow_id=self.handle.id)
            return next((t for t in found if t.kind == "approval"), None)

        task: Task = await eventually(opened, "the approval request is in the inbox")
        return task

    async def answer(self, task: Task, approved: bool, by: str, **changes: str) -> Answer:
        fields = {"step": task.step, "request": task.idempotency_key, **changes}
        return await answer_approval(
            self.env.client,
            self.handle.id,
            fields["step"],
            fields["request"],
            approved,
            by,
            note=changes.get("note"),
        )

    def tasks(self) -> list[Task]:
        return self.store.list_tasks(status="all", workflow_id=self.handle.id)

    async def status(self) -> RunStatus:
        status: RunStatus = await self.handle.query(PlaybookRunWorkflow.status)
        return status


@asynccontextmanager
async def _journey(
    env: WorkflowEnvironment, tmp_path: Path, held: asyncio.Event | None = None
) -> AsyncIterator[_Journey]:
    """The save journey on the real activities; with ``held``, an action's completion is
    held back (its side effect done) until the event is set."""
    plan = load([APPROVALS]).plan("save")
    actions = store_actions(f"sqlite:///{tmp_path / 'playbook.db'}")
    queue = f"q-{uuid.uuid4().hex[:8]}"
    activities = actions.activities()
    if held is not None:

        @activity.defn(name="perform_action")
        async def slow(request: ActionRequest) -> ActionReceipt:
            receipt = await actions.perform_action(request)
            await held.wait()
            return receipt

        activities = [slow, *(a for a in activities if a != actions.perform_action)]
    async with build_worker(env.client, queue, activities):
        facts = Facts(now=datetime.now(UTC), health=Health(score=35, tier="at-risk"))
        handle = await start_run(env, plan, queue, facts)
        store = open_store(f"sqlite:///{tmp_path / 'playbook.db'}")
        try:
            yield _Journey(env, store, handle)
        finally:
            store.close()
            await actions.aclose()


def _titles(tasks: list[Task]) -> list[str]:
    return [t.title for t in tasks if t.kind == "task"]


@pytest.mark.parametrize(
    ("approved", "branch", "decision"),
    [(True, "Send the save offer", "approved"), (False, "Tell the customer", "rejected")],
    ids=["approve", "reject"],
)
async def test_an_answer_takes_its_branch_and_is_written_to_the_request(
    skipping_env: WorkflowEnvironment, tmp_path: Path, approved: bool, branch: str, decision: str
) -> None:
    async with _journey(skipping_env, tmp_path) as journey:
        request = await journey.request()
        assert (request.assignee_role, request.status, request.title) == (
            "manager",
            "open",
            "Approve a 15% save discount",
        )
        answer = await journey.answer(request, approved, "maria", note="worth keeping")
        assert answer.done and answer.text == f"step discount {decision} by maria"
        result = await journey.handle.result()
        why = (await journey.status()).why
        settled = journey.store.get(request.id)
        titles = _titles(journey.tasks())
    assert result.reason == "save offer settled"
    assert len(titles) == 1 and titles[0].startswith(branch)  # the branch; no escalation
    assert (settled.status, settled.decision, settled.completed_by, settled.decision_note) == (
        "done",
        decision,
        "maria",
        "worth keeping",
    )
    [answered] = [d for d in why if d.rule == "steps.discount" and d.kind == decision]
    assert answered.seen == {"by": "maria"} and answered.detail == "worth keeping"


async def test_no_answer_engages_the_ladder_at_the_sla_then_times_out(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Unanswered for a day, the manager tier is engaged; at three days on_timeout runs
    and the request is closed, never approved afterwards."""
    async with _journey(skipping_env, tmp_path) as journey:
        request = await journey.request()
        result = await journey.handle.result()
        why = (await journey.status()).why
        closed = journey.store.get(request.id)
        titles = _titles(journey.tasks())
    assert result.ended_by == "end"
    kinds = [(d.kind, d.rule) for d in why]
    assert ("escalation_requested", "steps.discount.sla") in kinds
    assert ("approval_timeout", "steps.discount") in kinds
    asked = next(d.at for d in why if d.kind == "action" and d.rule == "steps.discount")
    sla = next(d.at for d in why if d.rule == "steps.discount.sla")
    timed_out = next(d.at for d in why if d.kind == "approval_timeout")
    assert (sla - asked).total_seconds() == pytest.approx(86400, abs=60)
    assert (timed_out - asked).total_seconds() == pytest.approx(3 * 86400, abs=60)
    assert "A save offer waits for approval" in titles
    assert "Nobody approved the discount; decide yourself" in titles
    assert (closed.status, closed.decision, closed.closed_reason) == (
        "closed",
        None,
        "no answer in time",
    )


async def test_answers_the_journey_is_not_waiting_for_are_refused(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Another step, another request's key, or a second answer: refused with why, and the
    first answer stands."""
    async with _journey(skipping_env, tmp_path) as journey:
        request = await journey.request()
        other_step = await journey.answer(request, True, "maria", step="offer")
        stale = await journey.answer(request, True, "maria", request="playbook/save/acme/x/d/1")
        first = await journey.answer(request, False, "omar")
        second = await journey.answer(request, True, "maria")
        await journey.handle.result()
        settled = journey.store.get(request.id)
    assert not other_step.done
    assert other_step.text == (
        "nothing to approve: the approval waiting is step discount, not offer"
    )
    assert not stale.done and "no longer open" in stale.text
    assert first.done
    assert not second.done
    assert settled.decision == "rejected" and settled.completed_by == "omar"


async def test_an_answer_given_as_soon_as_the_request_shows_is_taken(
    skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The approver answers while the run has not yet heard that the task was filed (the
    activity is still completing): the answer is kept, and the run follows it."""
    held = asyncio.Event()
    async with _journey(skipping_env, tmp_path, held) as journey:
        request = await journey.request()
        answer = await journey.answer(request, True, "maria")
        held.set()
        await journey.handle.result()
        titles = _titles(journey.tasks())
    assert answer.done, answer.text
    assert titles == ["Send the save offer"]
