"""AccountWorkflow: one long-lived workflow per account, ``account/{account_id}``.

It keeps the account's health (score, tier, trend, component history) and attributes, decides
enrollments from the published catalog's entry rules (conditions, events, dates; re-entry
policies; priorities and suppression), starts each journey as a PlaybookRun with a
deterministic id, forwards every change to the running journeys, and records why it did or
did not enroll. It continues as new before its history grows large, carrying its state.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue, TypedSearchAttributes
from temporalio.exceptions import TemporalError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    import engine.journeys._clock as _clock
    import engine.journeys._overrides as _overrides
    import engine.journeys._plan_cache as _plan_cache
    import engine.journeys._scoring as _scoring
    import engine.journeys._search as sa
    import engine.journeys._summaries as _summaries
    import engine.journeys._values as _values
    from engine.journeys._account_state import AccountState, AccountStatus, HealthOverride
    from engine.journeys._alarm import Alarm
    from engine.journeys._catalog import (
        CatalogIndex,
        CatalogNotice,
        EntrySummary,
        IndexRequest,
        PlanRequest,
    )
    from engine.journeys._contacts import ContactDesk
    from engine.journeys._entries import Due, EntryRules, segment_refusal
    from engine.journeys._history import DECISIONS_PATCH, HISTORY_IN_TASK, ChangeLog
    from engine.journeys._messages import (
        AccountEvent,
        AccountInput,
        Acknowledgement,
        ApprovalAnswer,
        AttributeChange,
        ChangeKind,
        CombinedEvent,
        ContactRequest,
        Decision,
        Enrollment,
        HealthEvent,
        LifecycleEvent,
        OverrideRequest,
        Paused,
        PauseRequest,
        PlaybookAck,
        PlaybookAnswer,
        PlaybookExit,
        ResumeRequest,
        RunEnded,
        RunInput,
        StartPlaybook,
        StopRequest,
        nothing_to_do,
    )
    from engine.journeys._run import RUN_PATCHES, PlaybookRunWorkflow
    from engine.journeys._windows import journey_zone
    from engine.language._counts import EVENT_KEY, keep_event
    from engine.language._facts import Facts, Health, Sample, midnight
    from engine.language._fields import satisfaction_measure
    from engine.language._plan import (
        ALL_HEALTH,
        ContactPolicyPlan,
        Plan,
        health_reads,
        history_windows,
    )

_LOCAL = timedelta(seconds=10)


def _sooner(a: timedelta | None, b: timedelta | None) -> timedelta | None:
    """The shorter of two waits, where None is for ever."""
    return a if b is None else b if a is None else min(a, b)


# workflow.patched id: the account sleeps until a time-based rule can change (before: it woke
# every day) and tells its running journeys of a change at once (before: one after the
# other, a round trip each); runs started before replay the old way.
EXACT_WAKES = "exact-wakes"
FORWARD_READS = "forward-what-runs-read"
"""The account sends a journey new facts only when something it reads changed (health values
its plan reads, its history windows, any attribute); runs enrolled before get every change."""
SATISFACTION = "record-satisfaction"
"""Readings of an NPS or CSAT health component go to the store, for the dashboard's
satisfaction figures; accounts that ran before did not send them."""
NAME_VALUES = "name-attribute-values"
"""A segment or owner that is not text is left out (engine.journeys._values); accounts that
took a number as one before replay as they ran."""
RUN_START = "run-start-attributes-and-patches"
"""A run starts with its account, playbook and version as search attributes and with the
run's patches vouched for (RunInput.patches), so its first task records no patch markers
and upserts only its step; accounts that enrolled before started runs without either."""
QUIET_READINGS = "quiet-readings"
"""A reading that changes nothing costs no command: the account reads the catalog when a
publish is announced to it and when a run starts (accounts that ran before asked on their
events, at most every five minutes, and woke daily to look), and keeps its wake-up timer
while the moment it wakes for stays the same (engine.journeys._alarm; before, every event
restarted it)."""
COMBINED_EVENTS = "combined-events"
"""The ``event`` signal (a CombinedEvent: one event's attributes, reading and lifecycle event
in one signal) is taken; a worker from before it had no such signal."""
PLANS_BY_HASH = "plans-by-hash"
"""An account whose catalog index lists what each plan's runs read enrolls with the plan
taken by hash from the worker's memory (engine.journeys._plan_cache), with no local activity;
enrollments before it asked for the plan through ``resolve_plan``, and replay so. Asked once
as each run starts."""
ATTRIBUTES_WITH_ENROLLMENT = "attributes-with-enrollment"
"""In a task that upserts already (an account's first: its AccountId), the search attributes
that changed go with it, before a run it enrolls starts, where the task that saw the run
started upserted them, a visibility write of its own (the server writes visibility once per
task): a new account's first event costs one write fewer. A task that has not upserted keeps
its upsert for after the start: one there would put a visibility write before the start of
every later enrollment (a health drop's, on the reaction path). Asked once as each run
starts."""
ACCOUNT_PATCHES = (
    EXACT_WAKES,
    DECISIONS_PATCH,
    FORWARD_READS,
    SATISFACTION,
    NAME_VALUES,
    QUIET_READINGS,
    RUN_START,
    HISTORY_IN_TASK,
    COMBINED_EVENTS,
    PLANS_BY_HASH,
)
"""The account's workflow.patched ids a starter vouches for (AccountState.patches): the
client that creates an account and the account continuing as new. As with the runs'
RUN_PATCHES, a patch joins this list a release after it ships, asked through
:meth:`AccountWorkflow._patched` from the start, so that no worker of a rolling deploy meets a
vouched id its code does not honour (one that asked workflow.patched itself would record a
marker the next worker does not expect). QUIET_READINGS, RUN_START, HISTORY_IN_TASK and
COMBINED_EVENTS joined in 0.2.0 (README, "Releases and upgrades"), PLANS_BY_HASH in 0.3.0.
Ready for the next release: ATTRIBUTES_WITH_ENROLLMENT."""
_WAKE_SUMMARY = "next entry date: check the playbooks' entries"
_CATALOG_TTL = timedelta(minutes=5)
_HISTORY_DAYS = 400
_HISTORY_SAMPLES = 400
_WHY_KEPT = 200
_IDS_KEPT = 2_000
_EVENTS_PER_RUN = 2_000
# Items handled per workflow task. A burst of signals arrives in one activation, and the SDK
# fails an activation that runs over 2 s as a deadlock; a short timer between batches ends the
# workflow task and the next one carries on.
_BATCH = 250
_YIELD = timedelta(milliseconds=1)
# At most this many unhandled signals travel into the next run; during a bigger burst the run
# keeps working until the backlog is below it, so the carried state stays small.
_CARRY = 100
_ABSENT = object()
_TRACKED: tuple[ChangeKind, ...] = ("arr", "segment")
"""Attributes whose changes the dashboard needs (with tier changes and lifecycle events)."""


@workflow.defn(name="Account")
class AccountWorkflow:
    """The life of one account: health, attributes, and the journeys it is enrolled in."""

    def __init__(self) -> None:
        self._state: AccountState | None = None
        self._inbox: list[AccountInput] = []
        self._ended: list[RunEnded] = []
        self._handled = 0
        self._seen: set[str] | None = None
        self._upserted: dict[str, Any] = {}
        self._exact = False
        self._entries = EntryRules(self)
        self._desk = ContactDesk(lambda: self.state)
        self._changes = ChangeLog(self)
        self._refused: list[tuple[str, Exception]] = []
        self._announced: str | None = None
        """The hash of a publish announced since the account last read the catalog."""
        self._pushed = False
        """workflow.patched(QUIET_READINGS): the catalog is read when a publish is announced."""
        self._by_hash = False
        """workflow.patched(PLANS_BY_HASH), asked as the run starts: its marker and upsert go
        in a task that upserts anyway, not in the task of an enrollment."""
        self._early_upsert = False
        """workflow.patched(ATTRIBUTES_WITH_ENROLLMENT), asked as the run starts."""
        self._upserted_in: int | None = None
        """The task that upserted last, by the history length it started at."""
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
        self._not_applied(f"account.signals.{signal}", detail)

    def _not_applied(self, rule: str, detail: str, seen: dict[str, Any] | None = None) -> None:
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
        self._announced = notice.hash

    @workflow.signal(name="contact_request")
    def contact_request(self, request: ContactRequest) -> None:
        """A journey asks for a slot to send a customer message (engine.journeys._contacts)."""
        self._desk.arrived.append(request)

    @workflow.signal(name="run_ended")
    def run_ended(self, ended: RunEnded) -> None:
        self._ended.append(ended)

    @workflow.signal(name="acknowledge")
    async def acknowledge(self, ack: PlaybookAck) -> None:
        for name in self._running(ack.playbook):
            await self._child(name).signal("acknowledge", Acknowledgement(by=ack.by))

    @workflow.signal(name="answer")
    async def answer(self, answer: PlaybookAnswer) -> None:
        """An answer to an approval step of a running journey (a test's timeline row)."""
        if not self._running(answer.playbook):
            detail = f"no running journey of {answer.playbook} to answer step {answer.step}"
            self._not_applied("account.signals.answer", detail, {"by": answer.by})
        for name in self._running(answer.playbook):
            await self._child(name).signal(
                "answer",
                ApprovalAnswer(
                    step=answer.step, approved=answer.approved, by=answer.by, note=answer.note
                ),
            )

    @workflow.signal(name="exit_playbook")
    async def exit_playbook(self, request: PlaybookExit) -> None:
        for name in self._running(request.playbook):
            await self._child(name).signal("stop", StopRequest(reason=request.reason))

    # Pause and resume as updates: they answer what they did, and refuse (before anything
    # is recorded) what would change nothing. Queued like the signals, in turn with events.

    @workflow.update(name="pause_account")
    def pause_account(self, request: PauseRequest) -> str:
        self._inbox.append(request)
        return f"paused by {request.by}" + (f": {request.reason}" if request.reason else "")

    @pause_account.validator
    def _can_pause(self, request: PauseRequest) -> None:
        held = self._held()
        if isinstance(held, Paused):
            why = f": {held.reason}" if held.reason else ""
            raise nothing_to_do(
                f"already paused by {held.by} since {held.at:%Y-%m-%d %H:%M} UTC{why}"
            )
        if held is not None:
            raise nothing_to_do(f"already being paused by {held.by}")

    @workflow.update(name="resume_account")
    def resume_account(self, request: ResumeRequest) -> str:
        self._inbox.append(request)
        return f"resumed by {request.by}"

    @resume_account.validator
    def _can_resume(self, request: ResumeRequest) -> None:
        if self._held() is None:
            raise nothing_to_do("not paused")

    @workflow.update(name="override_health")
    def override_health(self, request: OverrideRequest) -> str:
        """Set (or clear) a person's health score, in turn with events."""
        self._inbox.append(request)
        if request.clear:
            return f"health override cleared by {request.by}"
        return f"health overridden by {request.by}: " + _overrides.describe(
            HealthOverride(
                score=request.score or 0.0,
                reason=request.reason,
                by=request.by,
                at=_clock.now(),
                until=request.until or _clock.now(),
            ),
            self.state.health.score,
        )

    @override_health.validator
    def _can_override(self, request: OverrideRequest) -> None:
        problem = _overrides.override_problem(request, _clock.now())
        if problem is not None:
            raise nothing_to_do(problem)
        queued = [i for i in self._inbox if isinstance(i, OverrideRequest)]
        in_force = (not queued[-1].clear) if queued else self.state.override is not None
        if request.clear and not in_force:
            raise nothing_to_do("no health override in force")

    def _held(self) -> Paused | PauseRequest | None:
        """Who holds the account once the pause and resume requests queued are handled."""
        for item in reversed(self._inbox):
            if isinstance(item, PauseRequest | ResumeRequest):
                return item if isinstance(item, PauseRequest) else None
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

    # The life loop ------------------------------------------------------------------------

    @workflow.run
    async def run(self, state: AccountState) -> None:
        self._state = state
        self._vouched = frozenset(state.patches)
        self._changes.start(self._patched(DECISIONS_PATCH), self._patched)
        for signal, error in self._refused:
            self._refuse(signal, error)
        # Carried over from the previous run, ahead of anything signalled since.
        self._inbox[:0], state.pending = state.pending, []
        self._ended[:0], state.ended = state.ended, []
        self._pushed = self._patched(QUIET_READINGS)
        self._by_hash = self._patched(PLANS_BY_HASH)
        self._early_upsert = self._patched(ATTRIBUTES_WITH_ENROLLMENT)
        # Announced publishes are read when they come; each run also reads the catalog once
        # as it starts, for a publish whose announcement did not reach this account.
        await self._refresh_catalog(force=state.catalog is None or self._pushed)
        self._upsert()
        self._entries.due(event=None)
        self._changes.send()
        exact = self._exact = self._patched(EXACT_WAKES)
        alarm = Alarm(_WAKE_SUMMARY) if self._pushed else None
        while True:
            wake = _sooner(self._next_wake(exact), self._contact_wake())
            if alarm is not None:
                await alarm.wait(wake, self._has_work)
            else:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        self._has_work, timeout=wake, timeout_summary=_WAKE_SUMMARY
                    )
            await self._expire_override()
            while self._ended:
                self._finish(self._ended.pop(0))
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
                    if self._patched(COMBINED_EVENTS):
                        self._inbox[0:0] = item.parts
                    continue
                batch += 1
                self._handled += 1
                if self._duplicate(item.event_id):
                    continue
                await self._refresh_catalog()
                # One item at a time: an entry that fires on a change must see that change,
                # not only the last of a batch.
                if isinstance(item, AccountEvent):
                    self._changes.note("lifecycle", None, item.name)
                    keep_event(self.state.events, item.name, int(_clock.now().timestamp()))
                    if self._counting(item.name):
                        # Their counts include this event before they hear of it (a goal on
                        # the count is met on the event itself).
                        await self._forward()
                    await self._forward_event(item.name)
                    await self._enroll_due(self._entries.due(event=item.name))
                elif isinstance(item, StartPlaybook):
                    await self._start_requested(item)
                elif isinstance(item, PauseRequest | ResumeRequest):
                    await self._pause(item)
                elif isinstance(item, OverrideRequest):
                    await self._override(item)
                else:
                    self._apply(item)
                    changed = True
                await self._enroll_due(self._entries.due(event=None))
            self._upsert()
            self._describe()
            self._changes.send()
            if changed:
                await self._forward()
            await self._refresh_catalog()
            await self._enroll_due(self._entries.due(event=None))
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

    def _patched(self, patch_id: str) -> bool:
        """``workflow.patched(patch_id)``, unless this run's input vouched for it: decided by
        the run's first event, so replay decides the same."""
        return patch_id in self._vouched or workflow.patched(patch_id)

    def _has_work(self) -> bool:
        return bool(self._inbox or self._ended or self._desk.arrived or self._announced)

    def _time_to_continue(self) -> bool:
        return self._handled >= _EVENTS_PER_RUN or workflow.info().is_continue_as_new_suggested()

    @property
    def state(self) -> AccountState:
        assert self._state is not None
        return self._state

    # Health and attributes ----------------------------------------------------------------

    def _apply(self, item: HealthEvent | AttributeChange) -> None:
        state = self.state
        now = _clock.now()
        if isinstance(item, AttributeChange):
            changes = self._usable(item)
            for kind in _TRACKED:
                if kind in changes and changes[kind] != state.attributes.get(kind):
                    self._changes.note(kind, state.attributes.get(kind), changes[kind])
            if any(state.attributes.get(k, _ABSENT) != v for k, v in changes.items()):
                state.attributes_changed += 1
            state.attributes.update(changes)
        else:
            # A reading no health model can score (NaN, out of range) is left out; the
            # edge refuses them, this is for what got in before it did.
            components = {
                k: v for k, v in item.components.items() if math.isfinite(v) and 0 <= v <= 100
            }
            for name, value in components.items():
                measure = satisfaction_measure(name)
                was = state.components.get(name)
                if measure is not None and value != was and self._patched(SATISFACTION):
                    self._changes.note(measure, was, value)
            state.components.update(components)
            for name, value in components.items():
                self._sample(f"health.components.{name}", value, now)
            score = item.score
            model = state.catalog.health if state.catalog else None
            if score is None and model is not None and components:
                segment = state.attributes.get("segment")
                score = _scoring.score(model, segment, components, state.components)
            if score is not None:
                self._sample("health.score", score, now)
                history = state.history["health.score"]
                before = state.health.tier
                state.health = Health(
                    score=score,
                    tier=_scoring.tier(model, score, state.attributes.get("segment"))
                    if model
                    else None,
                    trend=_scoring.trend(model, history, int(now.timestamp())) if model else None,
                    components=dict(state.components),
                )
                if state.health.tier != before:
                    self._changes.note("tier", before, state.health.tier)
            else:
                state.health = state.health.model_copy(
                    update={"components": dict(state.components)}
                )

    def _usable(self, item: AttributeChange) -> dict[str, Any]:
        """The changes the account can take (engine.journeys._values); each one it cannot
        is left out and recorded, so one bad value never stops the account."""
        names = self._patched(NAME_VALUES)
        # Asked only when the change places the account on the calendar: other histories
        # keep their commands.
        zones = bool(set(item.set) & set(_values.CALENDAR_ATTRIBUTES)) and workflow.patched(
            _values.ZONE_VALUES
        )
        kept, refused = _values.usable(item.set, self.state.attributes, names=names, zones=zones)
        for key, reason in refused:
            self._not_applied(f"account.attributes.{key}", reason, {"event_id": item.event_id})
        return kept

    def _sample(self, field: str, value: float, now: datetime) -> None:
        samples = self.state.history.setdefault(field, [])
        samples.append(Sample(at=int(now.timestamp()), value=float(value)))
        cutoff = int((now - timedelta(days=_HISTORY_DAYS)).timestamp())
        del samples[: max(0, len(samples) - _HISTORY_SAMPLES)]
        while samples and samples[0].at < cutoff and len(samples) > 1:
            samples.pop(0)

    def _duplicate(self, event_id: str | None) -> bool:
        if event_id is None:
            return False
        ids = self.state.seen_ids
        if self._seen is None:
            self._seen = set(ids)
        if event_id in self._seen:
            return True
        ids.append(event_id)
        self._seen.add(event_id)
        if len(ids) > _IDS_KEPT:
            for old in ids[: len(ids) - _IDS_KEPT]:
                self._seen.discard(old)
            del ids[: len(ids) - _IDS_KEPT]
        return False

    def _upsert(self) -> None:
        """Upsert the search attributes that changed since the last upsert of this run."""
        state = self.state
        values: dict[Any, Any] = {
            sa.ACCOUNT_ID: state.account_id,
            sa.HEALTH_SCORE: state.health.score,
            sa.HEALTH_TIER: state.health.tier or None,
            sa.HEALTH_TREND: state.health.trend or None,
            sa.RENEWAL_DATE: midnight(state.attributes.get("renewal_date")),
        }
        for key, name in ((sa.SEGMENT, "segment"), (sa.OWNER, "owner")):
            value = state.attributes.get(name)
            values[key] = value if isinstance(value, str) else None
        updates = [
            key.value_set(value)
            for key, value in values.items()
            if value is not None and self._upserted.get(key.name) != value
        ]
        if updates:
            workflow.upsert_search_attributes(updates)
            self._upserted.update({key.name: values[key] for key in values})
            self._upserted_in = workflow.info().get_current_history_length()

    def _describe(self) -> None:
        """The account's current details in the Temporal UI: who, health, journeys."""
        state = self.state
        journeys = [
            (
                name,
                f"running (cycle {e.cycle})"
                if e.running
                else f"ended{f' ({e.outcome})' if e.outcome else ''}",
            )
            for name, e in state.enrollments.items()
        ]
        workflow.set_current_details(
            _summaries.account_now(
                state.account_id,
                state.attributes,
                (state.health.score, state.health.tier),
                journeys,
                state.paused is not None,
                state.why[-1] if state.why else None,
            )
        )

    def _health(self) -> Health:
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
            health=self._health(),
            history=state.history,
            account=state.attributes,
            enrolled_at=enrolled_at,
            events=state.events,
            zone=journey_zone(calendars, state.attributes),
        )

    # Enrollment ---------------------------------------------------------------------------

    async def _start_requested(self, request: StartPlaybook) -> None:
        """A start_playbook step: its target's entry trigger is the step itself, but the
        target's segments, re-entry policy and suppression still apply."""
        entry = self._entries.summary(request.playbook)
        seen: dict[str, Any] = {"requested_by": request.requested_by}
        if entry is None:
            self.note(
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
        reason = segment_refusal(entry, segment := self.state.attributes.get("segment"))
        if reason:
            self.record("skipped", entry, "start_playbook", {**seen, "segment": segment}, reason)
            return
        reason, _ = self._entries.blocked(entry, [])
        if reason:
            self.record("skipped", entry, "start_playbook", seen, reason)
            return
        await self._enroll(entry, seen, "start_playbook")

    async def _pause(self, request: PauseRequest | ResumeRequest) -> None:
        """Hold or release the account: its running journeys are told, new ones wait."""
        state = self.state
        pausing = isinstance(request, PauseRequest)
        if pausing == (state.paused is not None):
            return  # already so: a repeated command changes nothing
        if isinstance(request, PauseRequest):
            state.paused = Paused(by=request.by, at=_clock.now(), reason=request.reason)
            detail = f"paused by {request.by}" + (f": {request.reason}" if request.reason else "")
        else:
            state.paused = None
            detail = f"resumed by {request.by}"
        self.note(
            Decision(
                at=_clock.now(),
                kind="paused" if pausing else "resumed",
                rule="account.pause" if pausing else "account.resume",
                playbook="",
                version=0,
                hash="",
                detail=detail,
            )
        )
        for name in self._running(None):
            await self._child(name).signal("pause" if pausing else "resume", request)

    # Health overrides ---------------------------------------------------------------------

    def _next_wake(self, exact: bool) -> timedelta | None:
        """The entries' next wake-up, or sooner the end of an override in force."""
        # Announced publishes need no daily look for a newer catalog.
        wake = self._entries.next_wake(exact, daily=not self._pushed)
        override = self.state.override
        if override is None:
            return wake
        left = max(override.until - _clock.now(), timedelta(seconds=1))
        return left if wake is None else min(wake, left)

    async def _override(self, request: OverrideRequest) -> None:
        """Set or clear a person's score; journeys get the health they now read."""
        state = self.state
        now = _clock.now()
        if _overrides.override_problem(request, now) is not None:
            return  # the validator refused it; a signal cannot get here, but never fail
        model_score = state.health.score
        if request.clear:
            if state.override is None:
                return
            state.override = None
            kind, detail = "override_cleared", f"cleared by {request.by}"
            detail += f": {request.reason}" if request.reason else ""
        else:
            assert request.score is not None and request.until is not None
            state.override = HealthOverride(
                score=request.score,
                reason=request.reason,
                by=request.by,
                at=now,
                until=request.until,
            )
            kind, detail = "override", _overrides.describe(state.override, model_score)
        await self._override_changed(kind, detail, model_score)

    async def _expire_override(self) -> None:
        """End the override whose ``until`` has come (its durable timer woke the account)."""
        override = self.state.override
        if override is None or _clock.now() < override.until:
            return
        self.state.override = None
        detail = f"the override of {override.by} ({override.score:g}) expired: {override.reason}"
        await self._override_changed("override_expired", detail, self.state.health.score)

    async def _override_changed(self, kind: str, detail: str, model_score: float | None) -> None:
        override = self.state.override
        seen: dict[str, Any] = {"health.score": self._health().score, "model score": model_score}
        if override is not None:
            # Who and why as data too: the dashboard lists overrides in force from the log.
            seen.update(until=override.until.isoformat(), by=override.by, reason=override.reason)
        self.note(
            Decision(
                at=_clock.now(),
                kind=kind,
                rule=_overrides.RULE,
                playbook="",
                version=0,
                hash="",
                seen=seen,
                detail=detail,
            )
        )
        await self._forward()
        await self._enroll_due(self._entries.due(event=None))

    async def _enroll_due(self, due: Due) -> None:
        for entry, seen, rule in due:
            await self._enroll(entry, seen, rule)

    async def _enroll(self, entry: EntrySummary, seen: dict[str, Any], rule: str) -> None:
        state = self.state
        previous = state.enrollments.get(entry.name)
        cycle = previous.cycle + 1 if previous else 1
        plan: Plan | None
        if entry.windows is not None and entry.reads is not None and self._by_hash:
            # The plan by its hash, from this worker's memory; replaying, only if held: what
            # the account keeps of it is in the index, and the start is matched by its id.
            if workflow.unsafe.is_replaying():
                plan = _plan_cache.held(entry.hash)
            else:
                plan = _plan_cache.need(entry.hash, workflow.info().task_queue)
            windows, reads = entry.windows, entry.reads
            version, recorded = entry.version, None
        else:  # an index read before it listed what runs read: the plan as it was asked for
            known = state.catalog.hash if state.catalog and self._pushed else None
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
        workflow_id = f"playbook/{entry.name}/{state.account_id}/{cycle}"
        now = _clock.now()
        forwarded = reads if self._patched(FORWARD_READS) else None
        current = self._patched(RUN_START)
        run_input: Any = self._run_input(plan, cycle, now, windows, current)
        pairs = sa.run_attributes(state.account_id, entry.name, version)
        attributes = TypedSearchAttributes(pairs) if current else None
        self._changes.reacting()
        if self._early_upsert and self._upserted_in == workflow.info().get_current_history_length():
            self._upsert()
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
        )
        if forwarded is not None:
            enrollment = state.enrollments[entry.name]
            sent = self._what_runs_read(enrollment)
            state.enrollments[entry.name] = enrollment.model_copy(update={"sent": sent})
        self.record("enrolled", entry, rule, seen, f"{workflow_id} v{version}", recorded)

    def _run_input(
        self, plan: Plan | None, cycle: int, now: datetime, windows: dict[str, int], current: bool
    ) -> RunInput | RawValue:
        """The run's input; while replaying a start without the plan at hand, an empty
        payload in its place: core matches a replayed start by the run's workflow id and
        type, and nothing reads its input (the run's own history holds it)."""
        if plan is None:
            return RawValue(Payload())
        state = self.state
        return RunInput(
            plan=plan,
            account_id=state.account_id,
            cycle=cycle,
            enrolled_at=now,
            facts=self.facts(enrolled_at=now).for_run(windows),
            parent_workflow_id=workflow.info().workflow_id,
            simulation=bool(state.catalog and state.catalog.simulation),
            contacts=self._contact_policy,
            patches=list(RUN_PATCHES) if current else [],
        )

    def _finish(self, ended: RunEnded) -> None:
        enrollment = self.state.enrollments.get(ended.playbook)
        if enrollment is None or enrollment.cycle != ended.cycle:
            return
        self._desk.forget_run(enrollment.workflow_id)
        result = ended.result
        self.state.enrollments[ended.playbook] = enrollment.model_copy(
            update={
                "running": False,
                "ended_at": _clock.now(),
                "outcome": result.outcome,
                "ended_by": result.ended_by,
                "reason": result.reason,
            }
        )

    # Contact caps -------------------------------------------------------------------------

    def _contact_wake(self) -> timedelta | None:
        return self._desk.next_wake(self._contact_policy)

    @property
    def _contact_policy(self) -> ContactPolicyPlan | None:
        catalog = self.state.catalog
        return catalog.contacts if catalog is not None else None

    async def _contacts(self) -> None:
        """Decide the journeys' requests to send a customer message, and tell each its verdict."""
        if not (self._desk.arrived or self.state.contact_waiting):
            return
        self._desk.take()
        # With events waiting, one may enroll another journey that could ask too. Not in a
        # simulation: a verdict at once lands in the instants the time-skipping server's
        # driver keeps clear (workers.simulate.runner._drive), and its clock stopped.
        catalog = self.state.catalog
        calm = not self._inbox and not (catalog is not None and catalog.simulation)
        for workflow_id, verdict in self._desk.decide(self._contact_policy, calm):
            self._changes.reacting()
            # A journey that ended a moment ago refuses the signal; nothing waits for it.
            with contextlib.suppress(TemporalError):
                await workflow.get_external_workflow_handle(workflow_id).signal(
                    "contact_verdict", verdict
                )

    # Forwarding ---------------------------------------------------------------------------

    async def _forward(self) -> None:
        facts = self.facts()
        # Each journey gets only the readings its plan measures changes over: the whole
        # history is most of an update's size, and most journeys read none of it. And only
        # when something it reads changed: a daily reading an onboarding journey never
        # looks at costs it no workflow task.
        updates = []
        for name in self._running(None):
            enrollment = self.state.enrollments[name]
            if enrollment.reads is not None:
                now_read = self._what_runs_read(enrollment)
                if now_read == enrollment.sent:
                    continue
                sent = {"sent": now_read}
                self.state.enrollments[name] = enrollment.model_copy(update=sent)
            updates.append((self._child(name), facts.for_run(enrollment.windows)))
        if not self._exact:
            for child, update in updates:
                await child.signal("update", update)
            return
        # A journey that ended a moment ago refuses the signal; its run_ended is on its way.
        await asyncio.gather(
            *(child.signal("update", update) for child, update in updates),
            return_exceptions=True,
        )

    def _what_runs_read(self, enrollment: Enrollment) -> list[Any]:
        """What ``enrollment``'s run reads of the account, as JSON values (it is kept in the
        state and compared after continue-as-new): the count of attribute changes, the
        health values its plan reads, and the last reading of each field it measures
        changes over."""
        state = self.state
        reads = enrollment.reads or []
        seen = self._health()
        if ALL_HEALTH in reads:
            health: list[Any] = [seen.model_dump(mode="json")]
        else:
            health = [seen.value(path) for path in reads]
        history = []
        for field in sorted(enrollment.windows or {}):
            if field.startswith(EVENT_KEY):  # a counted event: when it last came, how often
                moments = state.events.get(field.removeprefix(EVENT_KEY)) or []
                history.append([field, moments[-1], len(moments)] if moments else [field])
                continue
            samples = state.history.get(field)
            history.append([field, samples[-1].at, samples[-1].value] if samples else [field])
        return [state.attributes_changed, health, history]

    def _counting(self, event: str) -> bool:
        """Whether a running journey counts ``event`` (its plan's history windows name it)."""
        key = EVENT_KEY + event
        return any(
            key in (self.state.enrollments[name].windows or {}) for name in self._running(None)
        )

    async def _forward_event(self, name: str) -> None:
        for playbook in self._running(None):
            await self._child(playbook).signal("event", LifecycleEvent(name=name))

    def _running(self, playbook: str | None) -> list[str]:
        return [
            name
            for name, e in self.state.enrollments.items()
            if e.running and (playbook is None or name == playbook)
        ]

    def _child(self, name: str) -> workflow.ExternalWorkflowHandle[Any]:
        """The journey ``name``'s run, about to be signalled (a reaction: see ChangeLog)."""
        self._changes.reacting()
        return workflow.get_external_workflow_handle(self.state.enrollments[name].workflow_id)

    # Catalog, dates, why ------------------------------------------------------------------

    async def _refresh_catalog(self, force: bool = False) -> None:
        state = self.state
        now = _clock.now()
        if not force and state.catalog is not None and state.catalog.simulation:
            return
        known = state.catalog.hash if state.catalog else None
        announced, self._announced = self._announced, None
        if not force and announced in (None, known):
            if self._pushed:
                return
            if state.catalog_checked_at and now - state.catalog_checked_at < _CATALOG_TTL:
                return
        index: CatalogIndex | None = await workflow.execute_local_activity(
            "catalog_index",
            IndexRequest(known_hash=known, announced_hash=announced),
            summary="catalog: is a newer set published?",
            result_type=CatalogIndex | None,  # type: ignore[arg-type]
            start_to_close_timeout=_LOCAL,
        )
        state.catalog_checked_at = now
        if index is not None:
            state.catalog = index

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
