"""PlaybookRun: one workflow that interprets a compiled plan for one account.

In the spirit of temporalio/samples-python ``dsl/``: the plan is data, passed as input, so a
running journey keeps the version it began with whatever is published later. Waits are
durable timers, condition waits wake on the signal that changes the facts, actions are
activities with idempotency keys, and the escalation ladder runs beside the steps. Goal and
exit end the run from any state, cancel what is pending and close what it opened.

The walk through the steps is engine.journeys._steps, the way an action is asked for and
called engine.journeys._actions, the ladder engine.journeys._ladder, the waits
engine.journeys._waits; the run's patch ids are in engine.journeys._run_patches.

Deterministic by construction: no I/O, clock or randomness; time is ``_clock.now()``.
"""

# No ``from __future__ import annotations`` here: the workflow sandbox runs this module anew
# for every workflow it starts, and the SDK reads each handler's type hints as it does; as
# strings, each would be compiled and evaluated every time (15% of a new instance).

import asyncio
import functools
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.exceptions import TemporalError

with workflow.unsafe.imports_passed_through():
    import engine.journeys._actions as _actions
    import engine.journeys._approvals as _approvals
    import engine.journeys._arms as _arms
    import engine.journeys._clock as _clock
    import engine.journeys._search as sa
    import engine.journeys._summaries as _summaries
    from engine.journeys._endings import Endings
    from engine.journeys._evaluate import evaluate
    from engine.journeys._history import (
        DECISIONS_PATCH,
        UNLOGGED,
        Outbox,
        decision_record,
        journey_record,
        not_recorded,
        send_history,
    )
    from engine.journeys._journey import patched
    from engine.journeys._ladder import Ladder
    from engine.journeys._messages import (
        Acknowledgement,
        ActionReceipt,
        ActionRequest,
        ApprovalAnswer,
        ApprovalSettlement,
        CloseRequest,
        ContactVerdict,
        Decision,
        HistoryRequest,
        JourneyRecord,
        LifecycleEvent,
        PauseRequest,
        ResumeRequest,
        RunEnded,
        RunInput,
        RunResult,
        RunStatus,
        StopRequest,
        nothing_to_do,
    )
    from engine.journeys._run_patches import (
        ANY_ANCHORS,
        EXACT_JOURNEYS,
        EXACT_WAKES,
        HISTORY_PATCH,
        LADDER_STOPS,
        TICK,
    )
    from engine.journeys._steps import Steps
    from engine.journeys._timing import sleep_at_most
    from engine.journeys._waits import watch_calendar
    from engine.journeys._windows import journey_zone
    from engine.language._facts import Facts, anchor_value
    from engine.language._plan import ConditionPlan, Node, TierPlan
    from engine.language._plan_reads import date_anchors

# Endings that close all the run opened; a natural end closes only the ladder's items.
_CLOSES_ALL = ("goal", "exit", "stopped")


@workflow.defn(name="PlaybookRun")
class PlaybookRunWorkflow:
    """Interprets one plan for one account, from enrollment to its end."""

    def __init__(self) -> None:
        self._input: RunInput | None = None
        self._facts: Facts | None = None
        self._facts_task: int | None = None
        """The workflow task the facts came in, by the history length it started at."""
        self._events: list[str] = []
        self.events_taken: dict[str, int] = {}
        self._ending: RunResult | None = None
        self._finishing = False  # the steps ended; the ladder is stopping (LADDER_STOPS)
        self._result: RunResult | None = None
        self._why: list[Decision] = []
        self._log: Outbox | None = None  # the decision log, in runs that keep one
        self.anchors = 0
        self._anchor_names: list[str] = ["renewal_date"]  # whose moves count in ``anchors``
        self.paused = False
        self.exact_wakes = False
        self.exact_journeys = False
        self.ladder = Ladder(self)
        self._steps = Steps(self)
        self._endings = Endings()
        self.waiting: str | None = None  # what the current step waits for, in words
        self.wait_ends: datetime | None = None  # when that wait ends at the latest
        self.approval: _approvals.Request | None = None  # the approval waiting for an answer
        self.verdicts: dict[str, ContactVerdict] = {}  # the account's, under a contact policy
        self.arm: _arms.Arm | None = None  # the account's arm in the plan's experiment

    # Signals and queries ----------------------------------------------------------------

    @workflow.signal(name="update")
    def update(self, facts: Facts) -> None:
        """New facts about the account: health, attributes (a renewal date that moved)."""
        old = self._anchor_values(self._facts)
        self._facts = facts
        self._facts_task = workflow.info().get_current_history_length()
        if self._anchor_values(facts) != old:
            self.anchors += 1
        if self._input is None:
            # Delivered with the start, before run(): run() sees these facts and checks them.
            return
        self.check_endings()
        self.ladder.observe()

    def _anchor_values(self, facts: Facts | None) -> list[Any]:
        names = self._anchor_names
        return [anchor_value(facts.account, n) if facts else None for n in names]

    @workflow.signal(name="event")
    def event(self, event: LifecycleEvent) -> None:
        """A lifecycle event; it may be this playbook's goal or exit."""
        self._events.append(event.name)
        self.check_endings(event.name)

    @workflow.signal(name="acknowledge")
    def acknowledge(self, ack: Acknowledgement) -> None:
        """Someone took ownership of the escalation: stop the climb."""
        self.ladder.acknowledge(ack)

    @workflow.signal(name="answer")
    def answer(self, answer: ApprovalAnswer) -> None:
        """An answer to the approval step waiting (from the account: a test's timeline)."""
        _approvals.take(self, answer, from_update=False)

    @workflow.signal(name="contact_verdict")
    def contact_verdict(self, verdict: ContactVerdict) -> None:
        """The account's answer to a contact request: send, drop, or wait for a slot."""
        self.verdicts[verdict.key] = verdict

    @workflow.signal(name="stop")
    def stop(self, request: StopRequest) -> None:
        """End the run now, closing what it opened."""
        if self._ending is None:
            reason = request.reason + (f" (by {request.by})" if request.by else "")
            self._ending = RunResult(
                outcome="neutral", ended_by="stopped", reason=reason, step=self._steps.step
            )
            self.record("exit", "stop", detail=reason)

    @workflow.signal(name="pause")
    def pause(self, request: PauseRequest) -> None:
        """The account is paused: take no action and do not climb until resumed."""
        if not self.paused:
            self.paused = True
            self.record("paused", "account.pause", detail=f"by {request.by}")

    @workflow.signal(name="resume")
    def resume(self, request: ResumeRequest) -> None:
        """The account is resumed: what fell due during the pause happens now, in order."""
        if self.paused:
            self.paused = False
            self.record("resumed", "account.resume", detail=f"by {request.by}")

    # Operators' commands as updates: unlike the signals above (kept for the account and
    # what was sent before), they answer what they did, and their validators refuse a
    # command that would change nothing before anything is recorded.

    @workflow.update(name="acknowledge_escalation")
    def acknowledge_escalation(self, ack: Acknowledgement) -> str:
        """Acknowledge the engaged escalation tier; says which."""
        tier = self.ladder.tier
        self.ladder.acknowledge(ack)
        return f"acknowledged {self.input.plan.name}'s escalation tier {tier} as {ack.by}"

    @acknowledge_escalation.validator
    def _can_acknowledge(self, ack: Acknowledgement) -> None:
        self._refuse_if_ended()
        if (refused := self.ladder.refusal(self._name)) is not None:
            raise nothing_to_do(refused)

    @workflow.update(name="answer_approval")
    def answer_approval(self, answer: ApprovalAnswer) -> str:
        """Approve or reject the approval step waiting; says what was decided."""
        return _approvals.take(self, answer, from_update=True)

    @answer_approval.validator
    def _can_answer(self, answer: ApprovalAnswer) -> None:
        self._refuse_if_ended()
        refused = _approvals.refusal(self.approval, answer)
        if refused is not None:
            raise nothing_to_do(refused)

    @workflow.update(name="exit_journey")
    def exit_journey(self, request: StopRequest) -> str:
        """End the run now, as the ``stop`` signal does; says what it ended."""
        self.stop(request)
        ending = self._ending.reason if self._ending else request.reason
        return f"ended {self._name} (cycle {self.input.cycle}): {ending}"

    @exit_journey.validator
    def _can_exit(self, request: StopRequest) -> None:
        self._refuse_if_ended()

    def _refuse_if_ended(self) -> None:
        ending = self._ending or self._result
        if ending is not None:
            raise nothing_to_do(
                f"{self._name} (cycle {self.input.cycle}) is already ending:"
                f" {ending.ended_by}, {ending.reason}"
            )

    @property
    def _name(self) -> str:
        return self.input.plan.name if self._input else "the journey"

    @workflow.query(name="status")
    def status(self) -> RunStatus:
        """Where the run is, who is engaged, and every decision with the values it saw."""
        plan = self.input.plan
        return RunStatus(
            account_id=self.input.account_id,
            playbook=plan.name,
            version=plan.version,
            hash=plan.hash,
            step=self._steps.step,
            escalation_tier=self.ladder.tier,
            acknowledged_by=self.ladder.acknowledged_by,
            result=self._result,
            why=self._why,
            paused=self.paused,
            waiting=self.waiting,
            wait_ends=self.wait_ends if self.waiting else None,
            sla_until=self.ladder.sla_until,
        )

    # The run ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: RunInput) -> RunResult:
        self._input = input
        if self._facts is None:  # a signal may have arrived with the start
            self._facts = input.facts
            self._facts_task = workflow.info().get_current_history_length()
        self.exact_wakes = patched(input, EXACT_WAKES)
        self.exact_journeys = patched(input, EXACT_JOURNEYS)
        anchors = date_anchors(input.plan)
        if set(anchors) - {"renewal_date"} and workflow.patched(ANY_ANCHORS):
            # Only plans anchored elsewhere: the others count renewal_date moves as before.
            self._anchor_names = anchors
        if not input.simulation and patched(input, DECISIONS_PATCH):
            self._log = Outbox(self._not_logged, functools.partial(patched, input))
        plan = input.plan
        # The account sets them on the start (engine.journeys._enrolling): an
        # upsert then would change nothing and cost an event. What the start carried is in
        # the run's first event, so a run started without them replays as it ran.
        started = workflow.info().typed_search_attributes
        wanted = sa.run_attributes(input.account_id, plan.name, plan.version)
        if missing := sa.not_yet_set(wanted, started):
            workflow.upsert_search_attributes(missing)
        self.record("enrolled", "entry", detail=f"cycle {input.cycle}")
        self.arm = _arms.assign_arm(input.account_id, plan.name, plan.experiment)
        if self.arm is not None:
            self.record(
                "experiment",
                f"experiment.{self.arm.plan.name}",
                self.arm.seen,
                _arms.describe(self.arm),
            )
        self.check_endings()
        for name in self._events:  # events delivered with the start
            self.check_endings(name)
        steps = asyncio.create_task(self._steps.walk())
        ladder = asyncio.create_task(self.ladder.run()) if plan.escalation else None
        calendar = asyncio.create_task(watch_calendar(self)) if self.exact_wakes else None
        await workflow.wait_condition(lambda: steps.done() or self._ending is not None)
        if calendar:
            calendar.cancel()
        if self._ending is not None:
            await self._cancel(steps)
            result = self._ending
        else:
            result = steps.result()
        escalated = self.ladder.tier is not None
        if ladder:
            if self._ending is None and self.exact_journeys and patched(input, LADDER_STOPS):
                # The steps ended: what they asked of the ladder last (an escalate step just
                # before an end) engages, then it stands down. A cancel alone could land as
                # its wait came true and be swallowed (stop_if_ending), leaving it climbing.
                self._finishing = True
                await workflow.wait_condition(lambda: ladder.done() or self.ladder.settled)
            await self._cancel(ladder)
            self.ladder.stand_down(result.reason, goal=result.ended_by == "goal")
        self._result = result
        if not self.exact_journeys or result.ended_by in _CLOSES_ALL:
            await self._close("run", result.reason)
        elif escalated:
            await self._close("ladder", f"journey ended: {result.reason}")
        if self._log is not None:
            self._log.add(journey=self._journey(result))  # with the last decisions
            self._log.flush()
        elif not input.simulation and patched(input, HISTORY_PATCH):
            # A simulation's outcome is its result; the store would drop it (nothing in a
            # simulation happened), so it costs no activity. No history of a simulation
            # outlives its server, so no replay meets this.
            await self._record_outcome(result)
        if input.parent_workflow_id:
            # By workflow id, not run id: the account may have continued as new meanwhile.
            account = workflow.get_external_workflow_handle(input.parent_workflow_id)
            self.reacting()
            try:
                await account.signal(
                    "run_ended", RunEnded(playbook=plan.name, cycle=input.cycle, result=result)
                )
            except TemporalError as error:  # the account may be gone; the result stands
                self.record("exit", "parent", detail=f"could not tell the account: {error}")
        if self._log is not None:
            # The decision log and the outcome must be in the store before the run closes.
            await self._log.settle()
        return result

    async def _cancel(self, task: asyncio.Task[Any]) -> None:
        """Cancel the steps or the ladder; in exact runs, wait until an action in flight has
        landed (done or cancelled), so what it opened exists before the run closes it."""
        task.cancel()
        if self.exact_journeys:
            # wait, not await: the task's own cancellation is not this run's to raise.
            await workflow.wait([task])

    async def _close(self, scope: Literal["run", "ladder"], reason: str) -> None:
        request = CloseRequest(workflow_id=workflow.info().workflow_id, scope=scope, reason=reason)
        await self.activity("close_items", request)

    async def _record_outcome(self, result: RunResult) -> None:
        failed = await send_history(HistoryRequest(journey=self._journey(result)))
        if failed:  # the run's result stands; the dashboard misses it
            self.record("history_failed", "history", detail=failed)

    def _not_logged(self, request: HistoryRequest, failed: str) -> None:
        # The run goes on; the store misses these (the live trace still has them).
        self.record(UNLOGGED, "history", detail=not_recorded(request, failed))

    def _journey(self, result: RunResult) -> JourneyRecord:
        ladder = self.ladder
        highest = ladder.highest_tier if self.input.plan.escalation else None
        return journey_record(self.input, result, highest, ladder.ack_seconds)

    # Helpers shared with the ladder -----------------------------------------------------

    @property
    def input(self) -> RunInput:
        assert self._input is not None
        return self._input

    def wake_within(
        self, limit: timedelta | None, conditions: list[ConditionPlan | None]
    ) -> timedelta | None:
        """How long to sleep at most: ``limit``, or less when the calendar can turn one of
        ``conditions`` before then (daily in runs from before exact wake-ups)."""
        if not self.exact_wakes:
            return TICK if limit is None else min(limit, TICK)
        return sleep_at_most(limit, conditions, self.facts())

    @property
    def events(self) -> list[str]:
        return self._events

    @property
    def latest_facts(self) -> Facts | None:
        """The facts as the last update brought them (a new object at each update)."""
        return self._facts

    def facts(self) -> Facts:
        """The current facts, seen at the workflow's own clock, in the account's zone."""
        assert self._facts is not None
        return self._facts.model_copy(
            update={
                "now": _clock.now(),
                "enrolled_at": self.input.enrolled_at,
                "zone": journey_zone(self.input.plan.calendars, self._facts.account),
            }
        )

    def facts_came_in_this_task(self) -> bool:
        return self._facts_task == workflow.info().get_current_history_length()

    def holds(self, condition: ConditionPlan, rule: str, record: str | None = None) -> bool:
        verdict = evaluate(condition, self.facts())
        if record:
            self.record(record, rule, verdict.seen, detail=str(verdict.result).lower())
        return verdict.result

    def record(
        self, kind: str, rule: str, seen: dict[str, Any] | None = None, detail: str = ""
    ) -> None:
        plan = self.input.plan
        decision = Decision(
            at=_clock.now(),
            kind=kind,
            rule=rule,
            playbook=plan.name,
            version=plan.version,
            hash=plan.hash,
            seen=seen or {},
            detail=detail,
            seq=len(self._why) + 1,
        )
        self._why.append(decision)
        if self._log is not None and kind != UNLOGGED:
            self._log.add(decisions=[decision_record(self.input.account_id, decision)])
            self._log.flush()
        self.describe()

    def describe(self) -> None:
        """Keep the run's current details (the Temporal UI's User Metadata) in words: not
        a command, so it changes nothing a replay compares."""
        if self._input is None:
            return
        ladder = self.ladder
        workflow.set_current_details(
            _summaries.run_now(
                self.input.plan,
                self.input.account_id,
                self._steps.step,
                self.waiting,
                ladder.tier,
                ladder.sla_until,
                ladder.acknowledged_by,
                self.paused,
                self._why[-1] if self._why else None,
            )
        )

    def action(
        self,
        key: str,
        step: str,
        node: Node | None = None,
        tier: TierPlan | None = None,
        channel: Any = None,
    ) -> ActionRequest:
        return _actions.request(self, key, step, node, tier, channel)

    @property
    def ending(self) -> bool:
        """Whether a goal, exit or stop has fired (in runs that honour it: no action starts)."""
        return self.exact_journeys and self._ending is not None

    @property
    def finishing(self) -> bool:
        """Whether the steps ended and the ladder is being stood down (LADDER_STOPS)."""
        return self._finishing

    def reacting(self) -> None:
        """An action, a signal or a request is about to go out: this task's decisions go to
        the store in the task its completion brings (engine.journeys._history.Outbox)."""
        if self._log is not None:
            self._log.reacting()

    async def activity(
        self, name: str, request: ActionRequest | CloseRequest | ApprovalSettlement
    ) -> ActionReceipt:
        return await _actions.perform(self, name, request)

    def check_endings(self, event: str | None = None) -> None:
        if self._ending is not None or self._input is None:
            return
        fired = self._endings.check(self.input.plan, self.facts, event)
        if fired is not None:
            self.record(fired.name, fired.name, fired.seen, detail=fired.reason)
            self._ending = RunResult(
                outcome="success" if fired.name == "goal" else "neutral",
                ended_by=fired.name,
                reason=fired.reason,
                step=self._steps.step,
            )

    @property
    def endings_due(self) -> datetime | None:
        """When a goal or exit condition holding now will have held for its ``for``."""
        return self._endings.next_due()
