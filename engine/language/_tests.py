"""The PlaybookTest document: what a playbook must do to one account, written down.

A test names an account, a timeline of what happens to it (readings, attribute changes,
lifecycle events, acknowledgements, exits, answers to approval steps; by day or date) and
expectations that read like the timeline: on day N, or between two days, an email from a
template to a role, a task for a role, an enrollment or a skip, an escalation tier reached,
a goal or exit; ``never`` expectations; counts. ``playbook test`` runs it on the real
workflows (the simulation) and fails on any expectation the timeline does not meet.

It lives beside the playbooks it tests, so ``validate`` checks it with the set: every
playbook, template, step, tier and role it names must exist.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from engine.language._base import EventName, Model, Slug
from engine.language._errors import Code

DateText = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
"""A date as ISO text: 2027-01-04."""
Day = Annotated[int, Field(ge=0, le=3660)]
"""Days after the account's start (day 0), at most ten years."""
Number = Annotated[float | int, Field(allow_inf_nan=False, ge=-1e12, le=1e12)]


class AccountUnderTest(Model):
    """The account the test runs: its id, its day 0, and its attributes."""

    id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s/\x00-\x1f]+$")]
    """The account id."""
    start: DateText
    """The date day 0 stands for."""
    name: str | None = None
    """The account's name, as templates read it."""
    segment: Slug | None = None
    """Its segment (from the health model)."""
    owner: str | None = None
    """The owner's email: the csm and owner roles resolve to it."""
    renewal_date: DateText | None = None
    """The renewal date, e.g. 2027-09-30."""
    arr: Number | None = None
    """Annual recurring revenue."""
    csm: str | None = None
    """The CSM's email, when not the owner."""
    contact_email: str | None = None
    """The customer role resolves to it."""
    attributes: dict[str, Any] = Field(default_factory=dict)
    """Any other attribute, by name."""

    def all_attributes(self) -> dict[str, Any]:
        """Every attribute the account starts with, shorthands included."""
        named = {
            k: getattr(self, k)
            for k in ("name", "segment", "owner", "renewal_date", "arr", "csm", "contact_email")
            if getattr(self, k) is not None
        }
        return {**self.attributes, **named}


def _check_override(row: TimelineRow) -> None:
    """An override says when it ends and why; only an override has an end."""
    setting = row.override is not None and row.override != "clear"
    ends = (row.until_day is not None) + (row.until is not None)
    if ends and not setting:
        raise PydanticCustomError(
            Code.FIELD_CONFLICT, "until_day and until go with override: SCORE (when it ends)"
        )
    if not setting:
        return
    if ends != 1:
        raise PydanticCustomError(
            Code.FIELD_MISSING if not ends else Code.FIELD_CONFLICT,
            "override needs until_day (days after the start) or until (a date), one of the two",
        )
    if not (row.reason or "").strip():
        raise PydanticCustomError(
            Code.FIELD_MISSING, "override needs reason: why the model is wrong"
        )
    if row.until_day is not None and row.day is not None and row.until_day <= row.day:
        raise PydanticCustomError(
            Code.FIELD_CONFLICT, "until_day must come after the day the override is set"
        )
    if row.until is not None and row.date is not None and row.until <= row.date:
        raise PydanticCustomError(
            Code.FIELD_CONFLICT, "until must come after the date the override is set"
        )


class TimelineRow(Model):
    """One thing that happens to the account, on a day (after start) or a date."""

    day: Day | None = None
    """Days after the account's start."""
    date: DateText | None = None
    """Or the date it happens on."""
    score: Number | None = None
    """A health score reading, 0 to 100."""
    components: dict[Slug, Number] = Field(default_factory=dict)
    """Health component readings, scored by the health model."""
    set: dict[str, Any] = Field(default_factory=dict)
    """Attributes that change, e.g. {renewal_date: 2027-10-30}."""
    event: EventName | None = None
    """A lifecycle event, e.g. contract.signed."""
    ack: str | None = None
    """Who acknowledges the account's escalations (of ``playbook`` only, if given)."""
    exit: Slug | None = None
    """A playbook whose journey a person ends, with ``reason``."""
    pause: str | None = None
    """Who pauses the account: its journeys take no action and do not climb until resumed."""
    resume: str | None = None
    """Who resumes the account: what fell due during the pause happens now."""
    approve: Slug | None = None
    """The id of an approval step of ``playbook`` that a person approves (or of a reviewed
    email, which is then sent)."""
    reject: Slug | None = None
    """The id of an approval step of ``playbook`` that a person rejects (or of a reviewed
    email, which is then discarded)."""
    override: (
        Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | Literal["clear"] | None
    ) = None
    """A person's health score that conditions read (``health.score`` and its tier) until
    ``until_day`` or ``until``, with ``reason``, ``by`` someone; ``clear`` ends it early."""
    until_day: Day | None = None
    """With override: the day (after the start) it ends, at 00:00 UTC."""
    until: DateText | None = None
    """With override: or the date it ends, at 00:00 UTC."""
    by: str | None = None
    """With approve, reject or override: who answers (default: test)."""
    playbook: Slug | None = None
    """With ack: only this playbook's escalations; with approve or reject: whose step."""
    reason: str | None = None
    """With exit or pause: why; with approve or reject: the approver's note; with override:
    why the model is wrong (required)."""

    @model_validator(mode="after")
    def _one_moment_and_something(self) -> TimelineRow:
        if (self.day is None) == (self.date is None):
            raise PydanticCustomError(
                Code.FIELD_CONFLICT, "give a day (days after start) or a date, one of the two"
            )
        if (
            self.score is None
            and not self.components
            and not self.set
            and self.event is None
            and self.ack is None
            and self.exit is None
            and self.pause is None
            and self.resume is None
            and self.approve is None
            and self.reject is None
            and self.override is None
        ):
            raise PydanticCustomError(
                Code.FIELD_MISSING,
                "nothing happens: give score, components, set, event, ack, exit, pause, resume,"
                " approve, reject or override",
            )
        _check_override(self)
        answering = self.approve is not None or self.reject is not None
        if self.approve is not None and self.reject is not None:
            raise PydanticCustomError(Code.FIELD_CONFLICT, "give approve or reject, not both")
        if answering and self.playbook is None:
            raise PydanticCustomError(
                Code.FIELD_MISSING, "approve and reject need playbook: whose approval step"
            )
        if self.by is not None and not answering and self.override is None:
            raise PydanticCustomError(
                Code.FIELD_CONFLICT, "by goes with approve, reject or override"
            )
        if self.playbook is not None and self.ack is None and self.exit is None and not answering:
            raise PydanticCustomError(
                Code.FIELD_CONFLICT,
                "playbook goes with ack (whose escalations), exit, approve or reject",
            )
        return self


WHAT = ("email", "task", "enrolled", "skipped", "escalated", "goal", "exit", "ended", "step")
"""What an expectation is about; each names one thing (a template, a role, a playbook...)."""


class Expectation(Model):
    """Something the timeline must show (under ``expect``) or must not (under ``never``).

    Exactly one of ``email``, ``task``, ``enrolled``, ``skipped``, ``escalated``, ``goal``,
    ``exit``, ``ended`` and ``step`` says what; ``day`` or ``between`` says when (any day
    when neither); ``times`` how often (at least once when omitted)."""

    day: Day | None = None
    """The day it happens on (days after the account's start)."""
    between: Annotated[list[Day], Field(min_length=2, max_length=2)] | None = None
    """First and last day, both included."""
    email: Slug | None = None
    """An email from this template (a step's or an escalation tier's)."""
    task: str | None = None
    """A task for this role (a step's assignee or a tier's notify)."""
    to: str | None = None
    """With email: the role (or the address) it goes to."""
    title: str | None = None
    """With task: text the task's title contains."""
    enrolled: Slug | None = None
    """The account enrolled in this playbook."""
    skipped: Slug | None = None
    """An entry to, or a step of, this playbook was skipped (see reason)."""
    reason: str | None = None
    """With skipped: text the recorded reason contains."""
    escalated: Slug | None = None
    """This escalation tier was engaged."""
    goal: Slug | None = None
    """This playbook's journey reached its goal."""
    exit: Slug | None = None
    """This playbook's journey exited (its exit, or a person's playbook exit)."""
    ended: Slug | None = None
    """This playbook's journey ended, however."""
    step: str | None = None
    """The action of this step id ran (with playbook, when several have it)."""
    playbook: Slug | None = None
    """Whose email, task, escalation or step: any playbook's when omitted."""
    times: Annotated[int, Field(ge=0, le=10_000)] | None = None
    """Exactly this many (at least one when omitted)."""

    @model_validator(mode="after")
    def _one_thing_once(self) -> Expectation:
        named = [k for k in WHAT if getattr(self, k) is not None]
        if len(named) != 1:
            raise PydanticCustomError(
                Code.FIELD_CONFLICT if named else Code.FIELD_MISSING,
                "an expectation names one of email, task, enrolled, skipped, escalated, goal,"
                " exit, ended or step" + (f"; this one names {', '.join(named)}" if named else ""),
            )
        if self.day is not None and self.between is not None:
            raise PydanticCustomError(Code.FIELD_CONFLICT, "give day or between, not both")
        if self.between is not None and self.between[0] > self.between[1]:
            raise PydanticCustomError(
                Code.FIELD_CONFLICT, "between: the first day comes before the last"
            )
        for key, needs in (("to", "email"), ("title", "task"), ("reason", "skipped")):
            if getattr(self, key) is not None and getattr(self, needs) is None:
                raise PydanticCustomError(Code.FIELD_CONFLICT, f"{key} goes with {needs}")
        return self

    @property
    def what(self) -> str:
        return next(k for k in WHAT if getattr(self, k) is not None)

    def window(self) -> tuple[int | None, int | None]:
        """The first and last day it may happen on (None: unbounded)."""
        if self.day is not None:
            return self.day, self.day
        if self.between is not None:
            return self.between[0], self.between[1]
        return None, None


class PlaybookTest(Model):
    """A test of playbooks: an account, what happens to it, and what must (not) follow."""

    kind: Literal["PlaybookTest"]
    """Always PlaybookTest."""
    name: Slug
    """Unique name among the set's tests."""
    description: str | None = None
    """What behaviour it holds the playbooks to."""
    playbooks: list[Slug] = Field(default_factory=list)
    """The playbooks it runs (their set's health model and templates come along); every
    playbook of the set when empty."""
    account: AccountUnderTest
    """The account the test runs."""
    days: Annotated[int, Field(ge=1, le=3660)] | None = None
    """How many days to run; default 30 past the last timeline row or expectation."""
    timeline: list[TimelineRow] = Field(default_factory=list)
    """What happens to the account, in order; rows of one day are sent in this order."""
    expect: list[Expectation] = Field(default_factory=list)
    """What the timeline must show."""
    never: list[Expectation] = Field(default_factory=list)
    """What the timeline must not show (on their days, or ever)."""

    @model_validator(mode="after")
    def _expects_something(self) -> PlaybookTest:
        if not self.expect and not self.never:
            raise PydanticCustomError(
                Code.FIELD_MISSING, "a test needs at least one expectation (expect or never)"
            )
        return self
