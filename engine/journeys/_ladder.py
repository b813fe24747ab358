"""The escalation ladder of a playbook run: engage, wait for an acknowledgement, climb.

A tier engages its people (a task, an email, a chat message: activities), then waits for its
acknowledgement SLA. An acknowledgement stops the climb; silence engages the next tier; a
tier whose own ``when`` holds is engaged at once, skipping lower ones. Recovery (the
playbook's recovery condition, held for ``for``) steps the ladder down and closes what it
opened. Runs as a task inside the PlaybookRun workflow, so it is as durable as the run.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import engine.journeys._arms as _arms
    import engine.journeys._clock as _clock
    import engine.journeys._search as sa
    import engine.journeys._summaries as _summaries
    from engine.journeys._evaluate import evaluate
    from engine.journeys._journey import Journey, patched, stop_if_ending
    from engine.journeys._messages import Acknowledgement, CloseRequest
    from engine.language._by_segment import for_segment
    from engine.language._plan import LadderPlan


# workflow.patched id: a tier's channels run at once (before: one after the other).
CHANNELS_AT_ONCE = "tier-channels-at-once"
_FIRST = ""


class Ladder:
    """State and behaviour of one run's ladder; the workflow owns it and drives :meth:`run`."""

    def __init__(self, run: Journey) -> None:
        self._run = run
        self.tier: str | None = None
        self.acknowledged_by: str | None = None
        self.sla_until: datetime | None = None
        """When the engaged tier's acknowledgement SLA runs out, while it runs."""
        self._index: int | None = None
        self._requested: str | None = None  # a tier id, or _FIRST for the first tier
        self._parked = False  # waiting to be engaged (run's main wait)
        self._holding = False  # a held-out account's ladder waiting (_hold)
        self._engagements = 0
        self._recovering_since: datetime | None = None
        # After a de-escalation the ladder's `when` must turn false before it can fire again,
        # so a score hovering at the line does not flap between engaged and recovered.
        self._armed = True
        # For the dashboard: the highest tier engaged, and how long each tier waited for its
        # first acknowledgement. Plain state, no commands, so old histories replay the same.
        self.highest: int | None = None
        self._engaged_at: dict[str, datetime] = {}
        self.ack_seconds: dict[str, float] = {}

    @property
    def plan(self) -> LadderPlan:
        ladder = self._run.input.plan.escalation
        assert ladder is not None
        return ladder

    def request(self, tier: str | None, rule: str) -> None:
        """Engage the ladder (at ``tier``, or the first tier), from a step or a failure."""
        if self._run.input.plan.escalation is None:
            self._run.record("skipped", rule, detail="no escalation ladder")
            return
        wanted = self._position(tier)
        if self._index is None or wanted > self._index:
            self._requested = tier or _FIRST
            self._run.record("escalation_requested", rule, detail=tier or self.plan.tiers[0].id)

    def refusal(self, journey: str) -> str | None:
        """Why an acknowledgement would change nothing (no tier engaged, or it is taken
        already), in one line naming ``journey``; None when it would take."""
        if self.tier is None:
            return f"{journey} has no escalation engaged"
        if self.acknowledged_by is not None:
            return (
                f"{journey}'s escalation tier {self.tier} is already acknowledged"
                f" by {self.acknowledged_by}"
            )
        return None

    def acknowledge(self, ack: Acknowledgement) -> None:
        if self.tier is None or self.acknowledged_by is not None:
            return
        self.acknowledged_by = ack.by
        engaged = self._engaged_at.get(self.tier)
        if engaged is not None and self.tier not in self.ack_seconds:
            self.ack_seconds[self.tier] = (_clock.now() - engaged).total_seconds()
        self._run.record("acknowledged", f"escalation.tiers.{self.tier}", detail=f"by {ack.by}")

    def _triggered(self) -> bool:
        """Whether the ladder's trigger or a tier's own condition holds now."""
        when = self.plan.when
        held = when is not None and evaluate(when, self._run.facts()).result
        return held or self._direct_tier() is not None

    def observe(self) -> None:
        """Re-read the facts: ladder triggers, tier conditions, and the recovery clock."""
        if self._run.input.plan.escalation is None:
            return
        facts = self._run.facts()
        verdict = evaluate(self.plan.when, facts) if self.plan.when is not None else None
        if not (verdict and verdict.result) and self._direct_tier() is None:
            self._armed = True
        elif (
            verdict
            and verdict.result
            and self._armed
            and self._index is None
            and self._requested is None
        ):
            self._requested = _FIRST
            self._run.record("escalation_requested", "escalation.when", verdict.seen)
        if self.plan.recovery is not None and self._index is not None:
            held = evaluate(self.plan.recovery, facts).result
            if not held:
                self._recovering_since = None
            elif self._recovering_since is None:
                self._recovering_since = facts.now

    @property
    def settled(self) -> bool:
        """Waiting to be engaged with nothing asking it to: what the steps asked last has
        engaged (the run stands the ladder down once its steps end, LADDER_STOPS)."""
        return (self._parked and not self._wanted()) or self._holding

    def _wanted(self) -> bool:
        return self._requested is not None or (self._armed and self._direct_tier() is not None)

    async def run(self) -> None:
        """Forever: wait to be engaged, then climb until acknowledged or recovered."""
        self.observe()
        while True:
            self._parked = True
            try:
                await workflow.wait_condition(self._wanted)
            finally:
                self._parked = False
            if _arms.ladder_held(self._run.arm, self._run.facts()):
                await self._hold()
            start = self._direct_tier() if self._armed else None
            if self._requested is not None:
                requested = self._position(self._requested or None)
                start = requested if start is None else max(start, requested)
            assert start is not None
            self._requested = None
            self._engagements += 1
            self.acknowledged_by = None
            await self._climb(start)

    async def _hold(self) -> None:
        """A held-out account's ladder waits, recorded, until its health turns critical (the
        guard rail) or the run ends; then it engages as asked."""
        arm = self._run.arm
        assert arm is not None
        tier = self._run.facts().health.tier
        self._run.record(
            "held_out",
            "escalation",
            {**arm.seen, "health.tier": tier},
            f"held out by experiment {arm.plan.name}: the ladder waits"
            + (
                "" if arm.plan.escalation == "hold" else f" unless health turns {arm.plan.critical}"
            ),
        )
        self._holding = True
        try:
            await workflow.wait_condition(lambda: not _arms.ladder_held(arm, self._run.facts()))
        finally:
            self._holding = False
        stop_if_ending(self._run)
        self._run.record(
            "experiment",
            "escalation",
            {**arm.seen, "health.tier": self._run.facts().health.tier},
            f"health is {arm.plan.critical}: a held-out account is still escalated to a person",
        )

    async def _climb(self, index: int) -> None:
        while True:
            await self._engage(index)
            tier = self.plan.tiers[index]
            # The account's segment's SLA (ack_sla by segment), read as the tier engages.
            segment = self._run.facts().account.get("segment")
            sla = for_segment(tier.ack_sla_seconds, tier.ack_sla_by_segment, segment)
            deadline = _clock.now() + timedelta(seconds=sla) if sla else None
            self.sla_until = deadline
            self._run.describe()
            while True:
                if self._run.finishing and self._requested is None:
                    # The steps ended and what they asked last has engaged: it climbs no
                    # further (the run stands it down).
                    raise asyncio.CancelledError
                if self._run.paused:
                    # The ladder holds while the account is paused; an SLA that ran during the
                    # pause starts again at the resume, so nobody is escalated for it.
                    await workflow.wait_condition(lambda: not self._run.paused)
                    if deadline is not None:
                        deadline = _clock.now() + timedelta(seconds=sla or 0)
                        self.sla_until = deadline
                higher = self._higher_than(index)
                if higher is not None:
                    index = higher
                    break
                if self._recovered():
                    await self._de_escalate()
                    return
                now = _clock.now()
                if self.acknowledged_by is None and deadline is not None and now >= deadline:
                    if index + 1 < len(self.plan.tiers):
                        self._run.record(
                            "sla_missed",
                            f"escalation.tiers.{tier.id}",
                            detail=f"no acknowledgement within {sla}s",
                        )
                        index += 1
                        break
                    deadline = self.sla_until = None
                waits: list[timedelta] = []
                if deadline is not None and self.acknowledged_by is None:
                    waits.append(deadline - now)
                if self._recovering_since is not None:
                    waits.append(
                        self._recovering_since
                        + timedelta(seconds=self.plan.recovery_for_seconds)
                        - now
                    )
                # The calendar may turn a condition without a signal: the ladder's trigger
                # (a re-request), the recovery, or a higher tier's own condition.
                above = [t.when for t in self.plan.tiers[index + 1 :]]
                wake = self._run.wake_within(
                    max(min(waits), timedelta(seconds=1)) if waits else None,
                    [self.plan.when, self.plan.recovery, *above],
                )
                acked = self.acknowledged_by
                since = self._recovering_since
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda index=index, acked=acked, since=since: (  # type: ignore[misc]
                            self._higher_than(index) is not None
                            or self._recovered()
                            or self.acknowledged_by != acked
                            or self._requested is not None
                            # The steps ended (LADDER_STOPS): it stands down now.
                            or self._run.finishing
                            # A recovery that starts (or breaks) moves the wake-up; the daily
                            # wake-up of older runs found it without this.
                            or (self._run.exact_wakes and self._recovering_since != since)
                        ),
                        timeout=wake,
                        timeout_summary=_summaries.ack_sla(tier, sla)
                        if deadline is not None and self.acknowledged_by is None
                        else f"escalation tier {tier.id}: recheck recovery and higher tiers",
                    )
                stop_if_ending(self._run)
                self.observe()
                if self._requested is not None:
                    wanted = self._position(self._requested or None)
                    self._requested = None
                    if wanted > index:
                        index = wanted
                        break

    async def _engage(self, index: int) -> None:
        if self._run.paused:
            await workflow.wait_condition(lambda: not self._run.paused)
        if self._run.ending:
            raise asyncio.CancelledError  # the run is ending: engage nobody
        tier = self.plan.tiers[index]
        self._index = index
        self.tier = tier.id
        self.highest = index if self.highest is None else max(self.highest, index)
        self._engaged_at.setdefault(tier.id, _clock.now())
        workflow.upsert_search_attributes([sa.ESCALATION_TIER.value_set(tier.id)])
        self._run.record(
            "escalated",
            f"escalation.tiers.{tier.id}",
            self._seen(tier.when),
            detail=f"engaged {', '.join(tier.notify)} via {', '.join(tier.via)}",
        )
        wf = workflow.info().workflow_id
        requests = [
            self._run.action(
                f"{wf}/ladder/{self._engagements}/{tier.id}/{channel}",
                f"escalation.{tier.id}",
                tier=tier,
                channel=channel,
            )
            for channel in tier.via
        ]
        if patched(self._run.input, CHANNELS_AT_ONCE):
            # Every channel of a tier at once: the email no longer waits for the task to be
            # filed (a round trip to the server each), which is most of an alert's latency.
            outcomes = await asyncio.gather(
                *(self._run.activity("perform_action", r) for r in requests),
                return_exceptions=True,
            )
        else:  # journeys that engaged a tier before this change replay one channel at a time
            outcomes = []
            for request in requests:
                try:
                    outcomes.append(await self._run.activity("perform_action", request))
                except ActivityError as error:
                    outcomes.append(error)
        for channel, outcome in zip(tier.via, outcomes, strict=True):
            rule = f"escalation.tiers.{tier.id}.{channel}"
            if isinstance(outcome, ActivityError):
                self._run.record("action_failed", rule, detail=str(outcome.cause or outcome))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                self._run.record("action", rule, detail=outcome.detail)

    async def _de_escalate(self) -> None:
        seen = self._seen(self.plan.recovery)
        self._run.record(
            "de-escalated",
            "escalation.recovery",
            seen,
            detail=f"recovered at tier {self.tier}",
        )
        self._index = None
        self.tier = self.sla_until = None
        self.acknowledged_by = None
        self._recovering_since = None
        # The trigger must turn false before the ladder fires again, so a score hovering at
        # the line does not flap. Exact runs count a trigger already false now as turned:
        # otherwise a red reading right after the recovery would find the ladder disarmed.
        self._armed = self._run.exact_journeys and not self._triggered()
        workflow.upsert_search_attributes([sa.ESCALATION_TIER.value_set("")])
        await self._run.activity(
            "close_items",
            CloseRequest(
                workflow_id=workflow.info().workflow_id, scope="ladder", reason="recovered"
            ),
        )

    def stand_down(self, ending: str, goal: bool) -> None:
        """The run is ending while the ladder is engaged: record that the escalation is over.

        The run closes what its ending closes (every open item on a goal, exit or stop; the
        ladder's on a natural end), so nothing is called here: a goal reached while escalated
        is the recovery the ladder was waiting for, only sooner, and reads as a de-escalation
        in the trace.
        """
        if self.tier is None:
            return
        why = "goal reached" if goal else ending
        self._run.record(
            "de-escalated" if goal else "stood_down",
            "goal" if goal else "escalation",
            detail=f"{why}: stood down from tier {self.tier}, its open items closed",
        )
        self._index = None
        self.tier = self.sla_until = None
        if self._run.exact_journeys:
            workflow.upsert_search_attributes([sa.ESCALATION_TIER.value_set("")])

    @property
    def highest_tier(self) -> str | None:
        return None if self.highest is None else self.plan.tiers[self.highest].id

    def _recovered(self) -> bool:
        if self._recovering_since is None:
            return False
        held = _clock.now() - self._recovering_since
        return held >= timedelta(seconds=self.plan.recovery_for_seconds)

    def _direct_tier(self) -> int | None:
        """The highest tier whose own condition holds now."""
        facts = self._run.facts()
        for index in range(len(self.plan.tiers) - 1, -1, -1):
            when = self.plan.tiers[index].when
            if when is not None and evaluate(when, facts).result:
                return index
        return None

    def _higher_than(self, index: int) -> int | None:
        direct = self._direct_tier()
        return direct if direct is not None and direct > index else None

    def _position(self, tier: str | None) -> int:
        ids = [t.id for t in self.plan.tiers]
        return ids.index(tier) if tier in ids else 0

    def _seen(self, condition: object) -> dict[str, object]:
        if condition is None:
            return {}
        return evaluate(condition, self._run.facts()).seen  # type: ignore[arg-type]
