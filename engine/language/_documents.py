"""The kinds of document in a playbook set: Playbook, HealthModel, EmailTemplate, the
ContactPolicy that caps how often customers hear from all of them (engine.language._contact),
the Calendar accounts live on (engine.language._calendar) and the PlaybookTest that holds
the others to what they must do (engine.language._tests).

Each YAML file holds one document and says which it is with ``kind``, as Kubernetes manifests
do; names link them (a step's ``template``, a ``start_playbook``, a tier in a condition), and the
set-wide checks in :mod:`engine.language._checks` make sure every name resolves.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from engine.language._base import EventName, Model, Slug
from engine.language._by_segment import DurationBySegment
from engine.language._calendar import Calendar, SendWindowText
from engine.language._conditions import Condition
from engine.language._contact import ContactPolicy
from engine.language._durations import DateOffsetText, Duration
from engine.language._errors import Code
from engine.language._experiments import Experiment, ExperimentSettings
from engine.language._steps import Step
from engine.language._tests import PlaybookTest

Stage = Literal["onboard", "adopt", "value", "expand", "renew", "advocate", "retain"]
MAX_VERSION = 2_147_483_647
Version = Annotated[int, Field(ge=1, le=MAX_VERSION)]
"""1 to 2**31-1: runs record it in the PlaybookVersion search attribute and the task store's
INTEGER column, and neither holds more."""


class Entry(Model):
    """When an account enters the playbook: a condition, an event, or a date (or a mix)."""

    when: Condition | None = None
    """Enter when this condition turns true (alone), or only if it holds (with event or at)."""
    event: EventName | None = None
    """Enter when this lifecycle event arrives, e.g. contract.signed."""
    at: DateOffsetText | dict[Slug, DateOffsetText] | None = None
    """Enter on a date, e.g. renewal_date - 90d; or per segment, with an optional default:
    {enterprise: renewal_date - 180d, default: renewal_date - 90d}."""

    @model_validator(mode="after")
    def _something_to_enter_on(self) -> Entry:
        if self.when is None and self.event is None and self.at is None:
            raise PydanticCustomError(
                Code.FIELD_MISSING, "entry needs at least one of 'when', 'event' and 'at'"
            )
        if self.event is not None and self.at is not None:
            raise PydanticCustomError(Code.FIELD_CONFLICT, "entry takes 'event' or 'at', not both")
        return self


class Trigger(Model):
    """An exit or a goal: a condition that holds, or an event that arrives; either fires it."""

    when: Condition | None = None
    """Fires when this condition holds."""
    event: EventName | None = None
    """Fires when this lifecycle event arrives, e.g. renewal.signed."""
    for_: Duration | None = Field(default=None, alias="for")
    """How long the condition must hold without a break before it fires, e.g. 14d: a
    recovery that lasts, not one good reading. At once when omitted; an event still fires at
    once."""

    @model_validator(mode="after")
    def _something_to_fire_on(self) -> Trigger:
        if self.when is None and self.event is None:
            raise PydanticCustomError(Code.FIELD_MISSING, "needs 'when', 'event' or both")
        if self.for_ is not None and self.when is None:
            raise PydanticCustomError(
                Code.FIELD_CONFLICT, "'for' needs 'when': an event cannot be held for a time"
            )
        return self


class Reentry(Model):
    """Whether an account that left the playbook may enter it again."""

    policy: Literal["never", "cooldown", "always"] = "never"
    """never: once per account; cooldown: again once the cooldown has passed since the last
    run ended; always: again whenever the entry fires."""
    cooldown: Duration | None = None
    """With policy cooldown: how long after a run ends before the account may re-enter."""

    @model_validator(mode="after")
    def _cooldown_with_policy(self) -> Reentry:
        if (self.policy == "cooldown") != (self.cooldown is not None):
            raise PydanticCustomError(
                Code.FIELD_CONFLICT, "'cooldown' is required with policy cooldown, and only then"
            )
        return self


class EscalationTier(Model):
    """One rung of the ladder: whom it engages, how, and how long they have to acknowledge."""

    id: Slug
    """The tier's name, e.g. csm, manager, executive; visible as the account's escalation tier."""
    notify: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]] = Field(min_length=1)
    """Who is engaged, by role."""
    via: list[Literal["task", "email", "chat"]] = Field(min_length=1)
    """How they are engaged."""
    title: str = Field(min_length=1, max_length=200)
    """The task title and chat message."""
    template: Slug | None = None
    """The EmailTemplate sent when via includes email."""
    channel: str | None = None
    """The chat channel when via includes chat."""
    ack_sla: Duration | DurationBySegment | None = None
    """How long the tier has to acknowledge before the next tier is engaged; required on
    every tier but the last. Or by segment, with a default: {enterprise: 4h, default: 1d}."""
    when: Condition | None = None
    """Engage this tier at once, skipping lower ones, while this condition holds."""


class Recovery(Model):
    """When the account has recovered: the ladder steps down and closes what it opened."""

    when: Condition
    """The recovery condition."""
    for_: Duration | None = Field(default=None, alias="for")
    """How long the condition must hold without a break before recovery counts."""


class Escalation(Model):
    """The escalation ladder: tiers engaged in turn until someone acknowledges."""

    when: Condition | None = None
    """Engage the first tier when this condition holds (steps of type escalate also do)."""
    tiers: list[EscalationTier] = Field(min_length=1)
    """The tiers, lowest first."""
    recovery: Recovery | None = None
    """When to de-escalate."""


class Playbook(Model):
    """A customer-success playbook: who enters it, what happens, and when it ends."""

    kind: Literal["Playbook"]
    """Always Playbook."""
    name: Slug
    """Unique name in the set; part of workflow ids."""
    version: Version
    """Raise it on every change you publish; running journeys keep the version they began on."""
    description: str = Field(min_length=1)
    """What the playbook is for."""
    owner: str = Field(min_length=1)
    """Who in CS ops owns it (a person or team, usually an email); the role owner."""
    segments: list[Slug] = Field(default_factory=list)
    """Segments it applies to (from the health model); all segments when empty."""
    stage: Stage
    """Lifecycle stage."""
    priority: int = Field(default=50, ge=0, le=100)
    """When several playbooks enter at once, higher priorities are enrolled first."""
    suppresses: list[Slug] = Field(default_factory=list)
    """Playbooks that may not start while this one runs (e.g. expansion during churn risk)."""
    roles: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")], str] = Field(
        default_factory=dict
    )
    """Extra roles this playbook uses, beyond customer, csm, manager, executive and owner,
    each with a description; the people directory resolves them."""
    entry: Entry
    """When an account enters."""
    catch_up: Literal["skip-customer", "skip", "run"] = "skip-customer"
    """What happens to steps whose date had passed when the journey reached them (an account
    enrolled late): skip-customer skips the emails that reach the customer, skip skips every
    such action, run runs them all at once. A step's own catch_up overrides it."""
    send_window: SendWindowText | None = None
    """When customer-facing actions may happen, in the account's time zone, e.g. weekdays
    09:00-17:00; always for no window. The account's calendar's send_window when omitted."""
    exit: Trigger | None = None
    """When a running journey stops early, its open tasks closed."""
    goal: Trigger | None = None
    """When a running journey has reached its goal and ends successfully."""
    reentry: Reentry = Field(default_factory=Reentry)
    """Whether an account may enter again."""
    steps: list[Step] = Field(min_length=1)
    """What happens, in order."""
    escalation: Escalation | None = None
    """The escalation ladder, when the playbook has one."""
    experiment: Experiment | None = None
    """A holdout group and/or variants, to measure what the playbook changes."""


class HealthComponent(Model):
    """One input to the health score, scored 0-100 by the system that measures it."""

    description: str = Field(min_length=1)
    """What it measures and where the value comes from."""


class HealthTier(Model):
    """A named band of the health score."""

    name: Slug
    """The tier's name, used in conditions such as {field: health.tier, eq: at-risk}."""
    min: float = Field(ge=0, le=100)
    """The lowest score in the tier; tiers run from the highest min down to 0."""


class Trend(Model):
    """How the trend (improving, stable, declining) is read from the score's history."""

    window: Duration
    """How far back to compare."""
    threshold: float = Field(gt=0, le=100)
    """Points of change over the window that count as improving or declining."""


class HealthModel(Model):
    """How component values become a health score, a tier and a trend, per segment."""

    kind: Literal["HealthModel"]
    """Always HealthModel."""
    name: Slug
    """The model's name."""
    version: Version
    """Raise it on every change you publish."""
    description: str | None = None
    """What the model is for."""
    segments: list[Slug] = Field(min_length=1)
    """The account segments, e.g. enterprise, mid-market, smb."""
    components: dict[Slug, HealthComponent] = Field(min_length=1)
    """The components, by name."""
    weights: dict[Slug, dict[Slug, float]] = Field(min_length=1)
    """Weights in percent per segment, each set summing to 100; default applies to segments
    without their own."""
    tiers: (
        Annotated[list[HealthTier], Field(min_length=2)]
        | dict[Slug, Annotated[list[HealthTier], Field(min_length=2)]]
    )
    """Tiers from healthiest down; the last must start at 0. Or per segment, with a default,
    each list naming the same tiers in the same order: {enterprise: [...], default: [...]}."""
    trend: Trend
    """How the trend is computed."""
    missing: Literal["renormalize", "last_known", "zero"] = "renormalize"
    """When a component has no value: spread its weight over the others (renormalize), reuse
    its last value (last_known), or count it as 0 (zero)."""
    experiments: ExperimentSettings = Field(default_factory=ExperimentSettings)
    """The set's rules for playbook experiments (the health model is the one document every
    set has once), e.g. the largest holdout share."""

    def tier_lists(self) -> dict[str, list[HealthTier]]:
        """The tiers by segment, ``default`` for a single list (and, checked, always there)."""
        return self.tiers if isinstance(self.tiers, dict) else {"default": self.tiers}

    @property
    def default_tiers(self) -> list[HealthTier]:
        """The tiers of segments without their own (their names are every list's)."""
        lists = self.tier_lists()
        return lists.get("default") or next(iter(lists.values()))


class EmailTemplate(Model):
    """An email, with a subject and text and HTML bodies, rendered when it is sent."""

    kind: Literal["EmailTemplate"]
    """Always EmailTemplate."""
    name: Slug
    """The name steps and escalation tiers use."""
    description: str | None = None
    """When it is sent."""
    subject: str = Field(min_length=1, max_length=300)
    """The subject line (a Jinja template)."""
    text: str = Field(min_length=1)
    """The plain-text body (a Jinja template)."""
    html: str | None = None
    """The HTML body (a Jinja template); the text body alone when omitted."""


Document = Annotated[
    Playbook | HealthModel | EmailTemplate | PlaybookTest | ContactPolicy | Calendar,
    Field(discriminator="kind"),
]
"""Any document of a playbook set, chosen by its ``kind``."""
