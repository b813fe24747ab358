"""The steps of a journey: the walk through a compiled plan's nodes, one at a time.

The PlaybookRun workflow (``engine.journeys._run``) runs :meth:`Steps.walk` beside its
escalation ladder: each node is entered (the run's Step search attribute), its guard read,
held back when the account's experiment arm says so, then carried out: a wait, a wait for an
event or a condition, a branch, an escalation, an approval, or an action (an email, a task,
a start of another playbook) inside its send window and under the contact policy. A step
whose date passed while the journey waited is skipped as the plan's catch-up policy says. The
walk ends at an ``end`` node, after the last step, or when a step fails and its plan says
stop; a goal or exit cancels it from outside. Sees the run only as a
:class:`engine.journeys._journey.Journey`; runs inside it, so it is deterministic.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, TemporalError

with workflow.unsafe.imports_passed_through():
    import engine.journeys._approvals as _approvals
    import engine.journeys._arms as _arms
    import engine.journeys._clock as _clock
    import engine.journeys._search as sa
    import engine.journeys._summaries as _summaries
    from engine.journeys._catch_up import skipping_policy
    from engine.journeys._contacts import permit
    from engine.journeys._evaluate import evaluate
    from engine.journeys._journey import Journey, patched
    from engine.journeys._messages import RunResult, StartPlaybook
    from engine.journeys._reviews import reviewed_email
    from engine.journeys._run_patches import CATCH_UP
    from engine.journeys._waits import wait_for, wait_for_event, wait_until
    from engine.journeys._windows import wait_business_days, wait_for_window
    from engine.language._by_segment import for_facts as by_segment
    from engine.language._plan import (
        ApprovalNode,
        BranchNode,
        EmailNode,
        EndNode,
        EscalateNode,
        Node,
        StartPlaybookNode,
        WaitForNode,
        WaitNode,
    )


class Steps:
    """Where one run is in its plan, and how it gets through each step."""

    def __init__(self, run: Journey) -> None:
        self._run = run
        self.step: str | None = None
        """The node the walk is at (the run's Step search attribute, its status)."""
        self._visits: dict[str, int] = {}
        """Times each node was entered: a node entered again (a loop) acts anew."""
        self._passed: datetime | None = None
        """The date the walk is late for, if any (catch-up)."""

    async def walk(self) -> RunResult:
        """Walk the plan from its start to an end; how the journey ended."""
        run = self._run
        plan = run.input.plan
        node_id = plan.start
        while node_id is not None:
            if run.ending:
                # The goal or exit came while the last step finished: the walk stops here,
                # so the Step attribute and the result name the same step.
                raise asyncio.CancelledError
            node = plan.nodes[node_id]
            self._enter(node_id)
            guard = evaluate(node.when, run.facts()) if node.when is not None else None
            if guard is not None and not guard.result:
                # The values the guard read are the reason: "days_to_renewal 80" says why.
                run.record("skipped", f"steps.{node_id}.if", guard.seen, "guard did not hold")
                node_id = node.next
                continue
            held = _arms.held(run.arm, node)
            if held is not None:
                run.record(held.kind, f"steps.{node_id}", held.seen, held.why)
                node_id = node.next
                continue
            if isinstance(node, EndNode):
                run.record("end", f"steps.{node_id}", detail=node.reason or node.outcome)
                return RunResult(
                    outcome=node.outcome,
                    ended_by="end",
                    reason=node.reason or f"ended at {node_id}",
                    step=node_id,
                )
            outcome = await self._execute(node)
            if isinstance(outcome, RunResult):
                return outcome
            node_id = outcome
        run.record("end", "steps", detail="all steps done")
        return RunResult(outcome="neutral", ended_by="completed", reason="all steps done")

    def _enter(self, node_id: str) -> None:
        self._visits[node_id] = self._visits.get(node_id, 0) + 1
        self.step = node_id
        workflow.upsert_search_attributes([sa.STEP.value_set(node_id)])
        self._run.describe()

    def _key(self, node: Node) -> str:
        """The idempotency key of this visit of ``node``."""
        return f"{workflow.info().workflow_id}/{node.id}/{self._visits[node.id]}"

    async def _execute(self, node: Node) -> str | RunResult | None:
        """Run one node; the id of the next node, or a result that ends the run."""
        run = self._run
        if isinstance(node, WaitNode):
            self._passed = None
            if node.seconds is not None:
                seconds = by_segment(node.seconds, node.seconds_by_segment, run.facts())
                until = run.wait_ends = _clock.now() + timedelta(seconds=seconds)
                run.waiting = (
                    f"waiting {_summaries.duration(seconds)}, until {_summaries.moment(until)}"
                )
                run.describe()
                await workflow.sleep(
                    timedelta(seconds=seconds), summary=_summaries.wait(node.id, seconds)
                )
            elif node.until is not None:
                self._passed = await wait_until(run, node.until, node.id)
            elif node.business_days is not None:
                await wait_business_days(run, node)
            run.waiting = None
            return node.next
        if isinstance(node, WaitForNode):
            self._passed = None
            timeout = by_segment(node.timeout_seconds, node.timeout_by_segment, run.facts())
            if node.event is not None:
                met = await wait_for_event(run, node.event, timeout, node.id)
            else:
                assert node.condition is not None
                met = await wait_for(run, node.condition, timeout, node.id)
            run.waiting = None
            return node.on_met if met else node.on_timeout
        if isinstance(node, BranchNode):
            taken = run.holds(node.condition, f"steps.{node.id}", record="branch")
            return node.then if taken else node.otherwise
        if isinstance(node, EscalateNode):
            run.ladder.request(node.tier, f"steps.{node.id}")
            return node.next
        if isinstance(node, ApprovalNode):
            return await _approvals.ask(run, node, self._key(node))
        assert not isinstance(node, EndNode)
        if self._skips_passed(node):
            return node.next
        reviewed = isinstance(node, EmailNode) and node.review is not None
        if not reviewed:  # a reviewed email's draft is filed now; its send waits for the window
            await wait_for_window(run, node)
        if isinstance(node, StartPlaybookNode):
            failed = await self._start_playbook(node)
        elif isinstance(node, EmailNode) and node.review is not None:
            failed = await reviewed_email(run, node, self._key(node))
        else:
            failed = await self._act(node)
        if failed and node.on_failure == "stop":
            return RunResult(outcome="failure", ended_by="failed", reason=failed, step=node.id)
        if failed and node.on_failure == "escalate":
            run.ladder.request(None, f"steps.{node.id}.on_failure")
        return node.next

    def _skips_passed(self, node: Node) -> bool:
        """Skip an action whose date had passed, as the catch-up policy says (recorded)."""
        run = self._run
        policy = skipping_policy(run.input.plan, node) if self._passed else None
        if self._passed is None or policy is None or not patched(run.input, CATCH_UP):
            return False
        seen = {"date": self._passed.date().isoformat()}
        why = f"its date had passed when the journey reached it (catch_up: {policy})"
        run.record("skipped", f"steps.{node.id}.catch_up", seen, detail=why)
        return True

    async def _act(self, node: Node) -> str | None:
        """Carry out an action step; the failure message when it failed for good."""
        run = self._run
        key = self._key(node)
        if isinstance(node, EmailNode) and not await permit(run, node, key):
            return None  # dropped under the contact policy, and recorded
        try:
            receipt = await run.activity("perform_action", run.action(key, node.id, node=node))
        except ActivityError as error:
            message = str(error.cause or error)
            run.record("action_failed", f"steps.{node.id}", detail=message)
            return message
        run.record("action", f"steps.{node.id}", detail=receipt.detail)
        return None

    async def _start_playbook(self, node: StartPlaybookNode) -> str | None:
        """Ask the account to enroll in ``node.playbook``; the failure message if it cannot."""
        run = self._run
        rule = f"steps.{node.id}"
        parent = run.input.parent_workflow_id
        if parent is None:
            run.record("skipped", rule, detail="no account workflow to enroll through")
            return None
        request = StartPlaybook(
            event_id=self._key(node),
            playbook=node.playbook,
            requested_by=f"{run.input.plan.name}.{rule}",
        )
        run.reacting()
        try:
            await workflow.get_external_workflow_handle(parent).signal("start_playbook", request)
        except TemporalError as error:
            run.record("action_failed", rule, detail=f"could not reach {parent}: {error}")
            return str(error)
        run.record("action", rule, detail=f"asked {parent} to start {node.playbook}")
        return None
