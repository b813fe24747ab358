"""AccountWorkflow: one long-lived workflow per account, ``account/{account_id}``.

Its message loop takes each signal and update in turn and hands it to the part that knows
it: readings and attribute changes to the intake (engine.journeys._intake), entry decisions
to the rules (._entries), starts to enrolling (._enrolling), what the journeys read to
forwarding (._forwarding), pauses and overrides to interventions (._interventions), customer
messages to the contact desk (._contacts), the changes and decisions for the store to the
change log (._history), what the Temporal UI shows to the view (._account_view), reading the
published catalog to the catalog reads (._catalog_reads). It records why it did or did not
act, and continues as new before its history grows large, carrying its state. Its patch ids:
engine.journeys._account_patches.
"""

# No ``from __future__ import annotations`` here: the workflow sandbox runs this module anew
# for every workflow it starts, and the SDK reads each handler's type hints as it does; as
# strings, each would be compiled and evaluated every time (15% of a new instance).

import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    import engine.journeys._clock as _clock
    import engine.journeys._overrides as _overrides
    from engine.journeys._account_patches import (
        ACCOUNT_PATCHES,
        ATTRIBUTES_WITH_ENROLLMENT,
        COMBINED_EVENTS,
        DECISION_WAKES,
        EXACT_WAKES,
        PLANS_BY_HASH,
        QUIET_READINGS,
    )
    from engine.journeys._account_state import AccountState, AccountStatus
    from engine.journeys._account_view import AccountView
    from engine.journeys._alarm import Alarm
    from engine.journeys._catalog import CatalogNotice, EntrySummary
    from engine.journeys._catalog_reads import CatalogReads
    from engine.journeys._contacts import ContactDesk
    from engine.journeys._enrolling import Enrolling
    from engine.journeys._entries import EntryRules
    from engine.journeys._forwarding import Forwarding
    from engine.journeys._history import DECISIONS_PATCH, ChangeLog
    from engine.journeys._intake import Intake
    from engine.journeys._interventions import Interventions
    from engine.journeys._messages import (
        AccountEvent,
        AccountInput,
        Acknowledgement,
        ApprovalAnswer,
        AttributeChange,
        CombinedEvent,
        ContactRequest,
        Decision,
        HealthEvent,
        OverrideRequest,
        Paused,
        PauseRequest,
        PlaybookAck,
        PlaybookAnswer,
        PlaybookExit,
        ResumeRequest,
        RunEnded,
        StartPlaybook,
        StopRequest,
    )
    from engine.journeys._windows import journey_zone
    from engine.language._counts import keep_event
    from engine.language._facts import Facts, Health
    from engine.language._plan import ContactPolicyPlan, Plan


_WAKE_SUMMARY = "next entry date: check the playbooks' entries"
_WHY_KEPT = 200
_EVENTS_PER_RUN = 2_000
# Items handled per workflow task. A burst of signals arrives in one activation, and the SDK
# fails an activation that runs over 2 s as a deadlock; a short timer between batches ends the
# workflow task and the next one carries on.
_BATCH = 250
_YIELD = timedelta(milliseconds=1)
# At most this many unhandled signals travel into the next run; during a bigger burst the run
# keeps working until the backlog is below it, so the carried state stays small.
_CARRY = 100


@workflow.defn(name="Account")
class AccountWorkflow:
    """The life of one account: health, attributes, and the journeys it is enrolled in."""

    def __init__(self) -> None:
        self._state: AccountState | None = None
        self._inbox: list[AccountInput] = []
        self._ended: list[RunEnded] = []
        self._handled = 0
        self._entries = EntryRules(self)
        self._desk = ContactDesk(lambda: self.state)
        self._changes = ChangeLog(self)
        self._view = AccountView(lambda: self.state)
        self._intake = Intake(self, self._changes)
        self._forwarding = Forwarding(self, self._changes)
        self._enrolling = Enrolling(
            self, self._entries, self._changes, self._view, self._forwarding
        )
        self._interventions = Interventions(self, self._forwarding)
        self._refused: list[tuple[str, Exception]] = []
        self._catalog = CatalogReads(lambda: self.state)
        self._vouched: frozenset[str] = frozenset()
        """The patch ids this run's input vouched for (AccountState.patches)."""

    # Signals ------------------------------------------------------------------------------

    # The doors of events from outside take the raw payload and decode it here: a payload
    # that is not the message (a null where a number goes, sent around our edge's checks)
    # would otherwise fail every workflow task of the account, for good. It is recorded in
    # why and dropped, and the account goes on.

    @workflow.signal(name="health")
    def health(self, raw: RawValue) -> None:
        self._take(raw, HealthEvent, "health")

    @workflow.signal(name="attributes")
    def attributes(self, raw: RawValue) -> None:
        self._take(raw, AttributeChange, "attributes")

    @workflow.signal(name="lifecycle")
    def lifecycle(self, raw: RawValue) -> None:
        self._take(raw, AccountEvent, "lifecycle")

    @workflow.signal(name="event")
    def event(self, raw: RawValue) -> None:
        self._take(raw, CombinedEvent, "event")

    @workflow.signal(name="start_playbook")
    def start_playbook(self, request: StartPlaybook) -> None:
        self._inbox.append(request)

    @workflow.signal(name="pause")
    def pause(self, raw: RawValue) -> None:
        self._take(raw, PauseRequest, "pause")

    @workflow.signal(name="resume")
    def resume(self, raw: RawValue) -> None:
        self._take(raw, ResumeRequest, "resume")

    def _take(self, raw: RawValue, kind: type[Any], signal: str) -> None:
        try:
            message = workflow.payload_converter().from_payload(raw.payload, kind)
        except Exception as error:  # noqa: BLE001 - any undecodable payload is refused alike
            if self._state is None:  # with the start: recorded once the run has its state
                self._refused.append((signal, error))
            else:
                self._refuse(signal, error)
            return
        self._inbox.append(message)

    def _refuse(self, signal: str, error: Exception) -> None:
        reason = " ".join(str(error).split())[:200]
        detail = f"the {signal} signal's value could not be read: {reason}"
        self.not_applied(f"account.signals.{signal}", detail)

    def not_applied(self, rule: str, detail: str, seen: dict[str, Any] | None = None) -> None:
        """Record, as the account's own decision, something it received and left out."""
        self.note(
            Decision(
                at=_clock.now(),
                kind="skipped",
                rule=rule,
                playbook="",
                version=0,
                hash="",
                detail=f"not applied: {detail}",
                seen=seen or {},
            )
        )

    @workflow.signal(name="catalog_published")
    def catalog_published(self, raw: RawValue) -> None:
        """A publish, announced by the catalog workflow: read the index before going on."""
        try:
            notice = workflow.payload_converter().from_payload(raw.payload, CatalogNotice)
        except Exception:  # noqa: BLE001 - not a notice: nothing to read, nothing to lose
            return
        self._catalog.announced = notice.hash

    @workflow.signal(name="contact_request")
    def contact_request(self, request: ContactRequest) -> None:
        """A journey asks for a slot to send a customer message (engine.journeys._contacts)."""
        self._desk.arrived.append(request)

    @workflow.signal(name="run_ended")
    def run_ended(self, ended: RunEnded) -> None:
        self._ended.append(ended)

    @workflow.signal(name="acknowledge")
    async def acknowledge(self, ack: PlaybookAck) -> None:
        await self._forwarding.tell(ack.playbook, "acknowledge", Acknowledgement(by=ack.by))

    @workflow.signal(name="answer")
    async def answer(self, answer: PlaybookAnswer) -> None:
        """An answer to an approval step of a running journey (a test's timeline row)."""
        if not self._forwarding.running(answer.playbook):
            detail = f"no running journey of {answer.playbook} to answer step {answer.step}"
            self.not_applied("account.signals.answer", detail, {"by": answer.by})
        approval = ApprovalAnswer(
            step=answer.step, approved=answer.approved, by=answer.by, note=answer.note
        )
        await self._forwarding.tell(answer.playbook, "answer", approval)

    @workflow.signal(name="exit_playbook")
    async def exit_playbook(self, request: PlaybookExit) -> None:
        stop = StopRequest(reason=request.reason)
        await self._forwarding.tell(request.playbook, "stop", stop)

    # Pause, resume and overrides as updates: they answer what they did, and refuse (before
    # anything is recorded) what would change nothing (engine.journeys._interventions).
    # Queued like the signals, in turn with events.

    @workflow.update(name="pause_account")
    def pause_account(self, request: PauseRequest) -> str:
        self._inbox.append(request)
        return f"paused by {request.by}" + (f": {request.reason}" if request.reason else "")

    @pause_account.validator
    def _can_pause(self, request: PauseRequest) -> None:
        self._interventions.can_pause(self._inbox, self._paused())

    @workflow.update(name="resume_account")
    def resume_account(self, request: ResumeRequest) -> str:
        self._inbox.append(request)
        return f"resumed by {request.by}"

    @resume_account.validator
    def _can_resume(self, request: ResumeRequest) -> None:
        self._interventions.can_resume(self._inbox, self._paused())

    @workflow.update(name="override_health")
    def override_health(self, request: OverrideRequest) -> str:
        """Set (or clear) a person's health score, in turn with events."""
        self._inbox.append(request)
        return self._interventions.override_answer(request)

    @override_health.validator
    def _can_override(self, request: OverrideRequest) -> None:
        self._interventions.can_override(request, self._inbox)

    def _paused(self) -> Paused | None:
        """The pause in force; None before the run has its state (an update can come with
        the start)."""
        return self._state.paused if self._state else None

    @workflow.query(name="status")
    def status(self) -> AccountStatus:
        state = self.state
        return AccountStatus(
            account_id=state.account_id,
            health=state.health,
            attributes=state.attributes,
            enrollments=state.enrollments,
            why=state.why,
            paused=state.paused,
            override=state.override,
            score_history=state.history.get("health.score", []),
        )

    @workflow.query(name="current_health")
    def current_health(self) -> Health:
        """The health the journeys read now, for an action that renders it (an
        ActionRequest with fetch_health: its run is not woken by every reading)."""
        return self.health_read()

    # The life loop ------------------------------------------------------------------------

    @workflow.run
    async def run(self, state: AccountState) -> None:
        self._state = state
        self._vouched = frozenset(state.patches)
        self._changes.start(self.patched(DECISIONS_PATCH), self.patched)
        for signal, error in self._refused:
            self._refuse(signal, error)
        # Carried over from the previous run, ahead of anything signalled since.
        self._inbox[:0], state.pending = state.pending, []
        self._ended[:0], state.ended = state.ended, []
        self._catalog.pushed = self.patched(QUIET_READINGS)
        self._enrolling.by_hash = self.patched(PLANS_BY_HASH)
        self._enrolling.early_upsert = self.patched(ATTRIBUTES_WITH_ENROLLMENT)
        self._enrolling.decision_wakes = self.patched(DECISION_WAKES)
        # Announced publishes are read when they come; each run also reads the catalog once
        # as it starts, for a publish whose announcement did not reach this account.
        await self._catalog.refresh(force=state.catalog is None or self.pushed)
        self._view.upsert()
        self._entries.due(event=None)
        self._changes.send()
        exact = self._forwarding.exact = self.patched(EXACT_WAKES)
        alarm = Alarm(_WAKE_SUMMARY) if self.pushed else None
        enroll_due = self._enrolling.enroll_due
        while True:
            wake = self._next_wake(exact)
            if alarm is not None:
                await alarm.wait(wake, self._has_work)
            else:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        self._has_work, timeout=wake, timeout_summary=_WAKE_SUMMARY
                    )
            if self._interventions.expire_override():
                await self._reconsider()
            while self._ended:
                if (gone := self._enrolling.finish(self._ended.pop(0))) is not None:
                    self._desk.forget_run(gone)  # its requests no longer wait
            await self._contacts()
            changed = False
            batch = 0
            while self._inbox and not (self._time_to_continue() and len(self._inbox) <= _CARRY):
                if batch == _BATCH:
                    await workflow.sleep(_YIELD, summary="let queries in between event batches")
                    batch = 0
                item = self._inbox.pop(0)
                if isinstance(item, CombinedEvent):
                    # Its parts, in order, as if each had come alone. Workers before this
                    # signal existed took nothing from it, and replay as they ran.
                    if self.patched(COMBINED_EVENTS):
                        self._inbox[0:0] = item.parts
                    continue
                batch += 1
                self._handled += 1
                if self._intake.duplicate(item.event_id):
                    continue
                await self._catalog.refresh()
                # One item at a time: an entry that fires on a change must see that change,
                # not only the last of a batch.
                if isinstance(item, AccountEvent):
                    self._changes.note("lifecycle", None, item.name)
                    keep_event(self.state.events, item.name, int(_clock.now().timestamp()))
                    if self._forwarding.counting(item.name):
                        # Their counts include this event before they hear of it (a goal on
                        # the count is met on the event itself).
                        await self._forwarding.forward()
                    await self._forwarding.forward_event(item.name)
                    await enroll_due(self._entries.due(event=item.name))
                elif isinstance(item, StartPlaybook):
                    await self._enrolling.start_requested(item)
                elif isinstance(item, PauseRequest | ResumeRequest):
                    await self._interventions.pause(item)
                elif isinstance(item, OverrideRequest):
                    if self._interventions.override(item):
                        await self._reconsider()
                else:
                    self._intake.apply(item)
                    changed = True
                await enroll_due(self._entries.due(event=None))
            self._view.upsert()
            self._view.describe()
            self._changes.send()
            if changed:
                await self._forwarding.forward()
            await self._catalog.refresh()
            await enroll_due(self._entries.due(event=None))
            self._changes.send()  # the decisions of these last steps too (sends nothing before)
            if self._time_to_continue() and len(self._inbox) <= _CARRY:
                await workflow.wait_condition(workflow.all_handlers_finished)
                # Changes on their way to the store must get there before this run ends.
                await self._changes.settle()
                # Whatever arrived and is not handled yet travels in the state, so a steady
                # stream of events cannot keep the history growing.
                state.pending, state.ended = list(self._inbox), list(self._ended)
                self._desk.take()  # requests travel in the state, decided in the next run
                state.patches = list(ACCOUNT_PATCHES)  # this code runs the next one
                workflow.continue_as_new(state, memo=_clock.memo())

    def patched(self, patch_id: str) -> bool:
        """``workflow.patched(patch_id)``, unless this run's input vouched for it: decided by
        the run's first event, so replay decides the same."""
        return patch_id in self._vouched or workflow.patched(patch_id)

    def _has_work(self) -> bool:
        return bool(self._inbox or self._ended or self._desk.arrived or self._catalog.announced)

    def _time_to_continue(self) -> bool:
        return self._handled >= _EVENTS_PER_RUN or workflow.info().is_continue_as_new_suggested()

    @property
    def state(self) -> AccountState:
        assert self._state is not None
        return self._state

    @property
    def pushed(self) -> bool:
        """Whether publishes are announced to this run (QUIET_READINGS)."""
        return self._catalog.pushed

    async def _reconsider(self) -> None:
        """The health conditions read changed (an override set, cleared or ended): the
        journeys get the health they now read, and the entries are evaluated again."""
        await self._forwarding.forward()
        await self._enrolling.enroll_due(self._entries.due(event=None))

    # What the account reads -----------------------------------------------------------------

    def health_read(self) -> Health:
        """The health conditions read: the model's, or a person's score in force."""
        state = self.state
        model = state.catalog.health if state.catalog else None
        segment = state.attributes.get("segment")
        return _overrides.effective(state.health, state.override, model, segment)

    def facts(self, enrolled_at: datetime | None = None) -> Facts:
        state = self.state
        calendars = state.catalog.calendars if state.catalog else {}
        return Facts(
            now=_clock.now(),
            health=self.health_read(),
            history=state.history,
            account=state.attributes,
            enrolled_at=enrolled_at,
            events=state.events,
            zone=journey_zone(calendars, state.attributes),
        )

    def _next_wake(self, exact: bool) -> timedelta | None:
        """The soonest of the entries' next wake-up, the end of an override in force and the
        next decision of a contact request; None for none."""
        # Announced publishes need no daily look for a newer catalog.
        waits = [self._entries.next_wake(exact, daily=not self.pushed)]
        if (override := self.state.override) is not None:
            waits.append(max(override.until - _clock.now(), timedelta(seconds=1)))
        waits.append(self._desk.next_wake(self.contact_policy))
        return min((wait for wait in waits if wait is not None), default=None)

    # Contact caps -------------------------------------------------------------------------

    @property
    def contact_policy(self) -> ContactPolicyPlan | None:
        catalog = self.state.catalog
        return catalog.contacts if catalog is not None else None

    async def _contacts(self) -> None:
        """Decide the journeys' requests to send a customer message, and tell each its verdict."""
        # With events waiting, one may enroll another journey that could ask too. Not in a
        # simulation: a verdict at once lands in the instants the time-skipping server's
        # driver keeps clear (workers.simulate.runner._drive), and its clock stopped.
        catalog = self.state.catalog
        calm = not self._inbox and not (catalog is not None and catalog.simulation)
        await self._desk.answer(self.contact_policy, calm, self._changes.reacting)

    # Why ----------------------------------------------------------------------------------

    def record(
        self,
        kind: str,
        entry: EntrySummary,
        rule: str,
        seen: dict[str, Any],
        detail: str,
        plan: Plan | None = None,
    ) -> None:
        self.note(
            Decision(
                at=_clock.now(),
                kind=kind,
                rule=f"{entry.name}.{rule}",
                playbook=entry.name,
                version=plan.version if plan else entry.version,
                hash=plan.hash if plan else entry.hash,
                seen=seen,
                detail=detail,
            )
        )

    def note(self, decision: Decision) -> None:
        state = self.state
        state.decisions_recorded += 1
        decision = decision.model_copy(update={"seq": state.decisions_recorded})
        self._changes.decide(decision)
        why = state.why
        why.append(decision)
        del why[: max(0, len(why) - _WHY_KEPT)]
