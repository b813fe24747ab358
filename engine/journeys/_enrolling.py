"""Enrolling: how an account starts a journey its entry rules (or a step) chose.

The account workflow (``engine.journeys._account``) asks the entry rules what is due
(engine.journeys._entries) and hands each entry here: the plan is taken by its hash from the
worker's memory (engine.journeys._plan_cache; older accounts asked a local activity for it),
the journey starts as a PlaybookRun child with a deterministic id (``playbook/{name}/
{account}/{cycle}``, so a retry or replay cannot start it twice), its search attributes,
summary and details, and the enrollment is kept in the account's state and recorded in why.
A ``start_playbook`` step's request passes the target's segments, re-entry policy and
suppression first. Sees the workflow only through :class:`Account`; runs inside it, so it is
as deterministic as the workflow is.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any, Protocol

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    import engine.journeys._clock as _clock
    import engine.journeys._plan_cache as _plan_cache
    import engine.journeys._search as sa
    import engine.journeys._summaries as _summaries
    from engine.journeys._account_patches import FORWARD_READS, RUN_START
    from engine.journeys._account_state import AccountState
    from engine.journeys._account_view import AccountView
    from engine.journeys._catalog import EntrySummary, PlanRequest
    from engine.journeys._entries import Due, EntryRules, segment_refusal
    from engine.journeys._forwarding import Forwarding
    from engine.journeys._history import ChangeLog
    from engine.journeys._messages import (
        Decision,
        Enrollment,
        RunEnded,
        RunInput,
        StartPlaybook,
    )
    from engine.journeys._run import PlaybookRunWorkflow
    from engine.journeys._run_patches import RUN_PATCHES
    from engine.language._facts import Facts
    from engine.language._plan import ContactPolicyPlan, Plan
    from engine.language._plan_reads import ALL_HEALTH, health_reads, history_windows

_LOCAL = timedelta(seconds=10)


class Account(Protocol):
    """What enrolling uses of the account workflow that owns it."""

    @property
    def state(self) -> AccountState: ...

    @property
    def pushed(self) -> bool: ...

    @property
    def contact_policy(self) -> ContactPolicyPlan | None: ...

    def facts(self, enrolled_at: datetime | None = None) -> Facts: ...

    def patched(self, patch_id: str) -> bool: ...

    def record(
        self,
        kind: str,
        entry: EntrySummary,
        rule: str,
        seen: dict[str, Any],
        detail: str,
        plan: Plan | None = None,
    ) -> None: ...

    def note(self, decision: Decision) -> None: ...


class Enrolling:
    """The enrollments of one account workflow."""

    def __init__(
        self,
        account: Account,
        entries: EntryRules,
        changes: ChangeLog,
        view: AccountView,
        forwarding: Forwarding,
    ) -> None:
        self._account = account
        self._entries = entries
        self._changes = changes
        self._view = view
        self._forwarding = forwarding
        self.by_hash = False
        """workflow.patched(PLANS_BY_HASH), asked as the run starts: its marker and upsert go
        in a task that upserts anyway, not in the task of an enrollment."""
        self.early_upsert = False
        """workflow.patched(ATTRIBUTES_WITH_ENROLLMENT), asked as the run starts."""
        self.decision_wakes = False
        """workflow.patched(DECISION_WAKES), asked as the run starts."""

    async def start_requested(self, request: StartPlaybook) -> None:
        """A start_playbook step: its target's entry trigger is the step itself, but the
        target's segments, re-entry policy and suppression still apply."""
        entry = self._entries.summary(request.playbook)
        seen: dict[str, Any] = {"requested_by": request.requested_by}
        if entry is None:
            self._account.note(
                Decision(
                    at=_clock.now(),
                    kind="skipped",
                    rule=f"{request.playbook}.start_playbook",
                    playbook=request.playbook,
                    version=0,
                    hash="",
                    seen=seen,
                    detail="not in the published catalog",
                )
            )
            return
        record = self._account.record
        reason = segment_refusal(entry, segment := self._account.state.attributes.get("segment"))
        if reason:
            record("skipped", entry, "start_playbook", {**seen, "segment": segment}, reason)
            return
        reason, _ = self._entries.blocked(entry, [])
        if reason:
            record("skipped", entry, "start_playbook", seen, reason)
            return
        await self.enroll(entry, seen, "start_playbook")

    async def enroll_due(self, due: Due) -> None:
        """Enroll each entry the rules found due, in their order."""
        for entry, seen, rule in due:
            await self.enroll(entry, seen, rule)

    async def enroll(self, entry: EntrySummary, seen: dict[str, Any], rule: str) -> None:
        """Start ``entry``'s journey for the account, keep and record the enrollment."""
        state = self._account.state
        previous = state.enrollments.get(entry.name)
        cycle = previous.cycle + 1 if previous else 1
        plan: Plan | None
        if entry.windows is not None and entry.reads is not None and self.by_hash:
            # The plan by its hash, from this worker's memory; replaying, only if held: what
            # the account keeps of it is in the index, and the start is matched by its id.
            if workflow.unsafe.is_replaying():
                plan = _plan_cache.held(entry.hash)
            else:
                plan = _plan_cache.need(entry.hash, workflow.info().task_queue)
            windows, reads = entry.windows, entry.reads
            version, recorded = entry.version, None
            wakes = entry.wakes if self.decision_wakes else None
        else:  # an index read before it listed what runs read: the plan as it was asked for
            known = state.catalog.hash if state.catalog and self._account.pushed else None
            plan = await workflow.execute_local_activity(
                "resolve_plan",
                PlanRequest(name=entry.name, catalog_hash=known),
                summary=f"catalog: the published plan of {entry.name}",
                result_type=Plan,
                start_to_close_timeout=_LOCAL,
            )
            assert plan is not None  # the activity returns one or fails
            windows, reads = history_windows(plan), health_reads(plan)
            version, recorded = plan.version, plan
            wakes = None
        workflow_id = f"playbook/{entry.name}/{state.account_id}/{cycle}"
        now = _clock.now()
        forwarded = reads if self._account.patched(FORWARD_READS) else None
        if forwarded is None:
            wakes = None
        current = self._account.patched(RUN_START)
        # A run woken only by what its decisions read asks for the health it shows.
        fetch = wakes is not None and ALL_HEALTH not in wakes and not set(reads) <= set(wakes)
        run_input: Any = self._run_input(plan, cycle, now, windows, current, fetch)
        pairs = sa.run_attributes(state.account_id, entry.name, version)
        attributes = TypedSearchAttributes(pairs) if current else None
        self._changes.reacting()
        if self.early_upsert and self._view.upserted_in_this_task():
            self._view.upsert()
        # Enrolled before a retry or replay got here: the deterministic id makes it idempotent.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await workflow.start_child_workflow(
                PlaybookRunWorkflow.run,
                run_input,
                id=workflow_id,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                memo=_clock.memo(),
                search_attributes=attributes,
                static_summary=_summaries.run_summary(plan, state.account_id, cycle)
                if plan
                else None,
                static_details=_summaries.run_details(plan, rule, seen) if plan else None,
            )
        state.enrollments[entry.name] = Enrollment(
            cycle=cycle,
            running=True,
            version=version,
            workflow_id=workflow_id,
            started_at=now,
            windows=windows,
            reads=forwarded,
            wakes=wakes,
        )
        if forwarded is not None:
            enrollment = state.enrollments[entry.name]
            sent = self._forwarding.what_runs_read(enrollment)
            state.enrollments[entry.name] = enrollment.model_copy(update={"sent": sent})
        self._account.record("enrolled", entry, rule, seen, f"{workflow_id} v{version}", recorded)

    def finish(self, ended: RunEnded) -> str | None:
        """A journey's run ended: its enrollment is kept as ended. The run's workflow id, or
        None when ``ended`` is not of the playbook's current cycle."""
        enrollments = self._account.state.enrollments
        enrollment = enrollments.get(ended.playbook)
        if enrollment is None or enrollment.cycle != ended.cycle:
            return None
        result = ended.result
        enrollments[ended.playbook] = enrollment.model_copy(
            update={
                "running": False,
                "ended_at": _clock.now(),
                "outcome": result.outcome,
                "ended_by": result.ended_by,
                "reason": result.reason,
            }
        )
        return enrollment.workflow_id

    def _run_input(
        self,
        plan: Plan | None,
        cycle: int,
        now: datetime,
        windows: dict[str, int],
        current: bool,
        fetch_health: bool,
    ) -> RunInput | RawValue:
        """The run's input; while replaying a start without the plan at hand, an empty
        payload in its place: core matches a replayed start by the run's workflow id and
        type, and nothing reads its input (the run's own history holds it)."""
        if plan is None:
            return RawValue(Payload())
        state = self._account.state
        return RunInput(
            plan=plan,
            account_id=state.account_id,
            cycle=cycle,
            enrolled_at=now,
            facts=self._account.facts(enrolled_at=now).for_run(windows),
            parent_workflow_id=workflow.info().workflow_id,
            simulation=bool(state.catalog and state.catalog.simulation),
            contacts=self._account.contact_policy,
            patches=list(RUN_PATCHES) if current else [],
            fetch_health=fetch_health,
        )
