"""Compiled plans: what a workflow receives as input, and nothing it has to look up.

A plan is the playbook flattened for an interpreter: nested step lists become a graph of
nodes linked by id, ``goto`` disappears into the links, durations become seconds, date
offsets become an anchor and signed seconds, and the email templates a playbook uses travel
inside it so a running journey keeps the exact wording it started with. The hash covers all
of it (not the file path), so any edit that changes behaviour changes the hash, and
reformatting or comments do not.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from engine.language._base import Scalar
from engine.language._calendar import CalendarPlan, WindowPlan
from engine.language._experiments import ExperimentPlan


class _Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def omit_absent(data: dict[str, Any], **absent: Any) -> dict[str, Any]:
    """``data`` without the keys that hold their "absent" value.

    Keys added to the language after plans were published are left out of a plan's JSON
    while unset, so the hash of an unchanged playbook stays what it was and republishing
    the same YAML changes nothing.
    """
    for key, value in absent.items():
        if key in data and data[key] == value:
            del data[key]
    return data


# Conditions ---------------------------------------------------------------------------------


class AllPlan(_Plan):
    kind: Literal["all"] = "all"
    items: list[ConditionPlan]


class AnyPlan(_Plan):
    kind: Literal["any"] = "any"
    items: list[ConditionPlan]


class NotPlan(_Plan):
    kind: Literal["not"] = "not"
    item: ConditionPlan


class ComparePlan(_Plan):
    kind: Literal["compare"] = "compare"
    field: str
    op: Literal["eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains"]
    value: Scalar | list[Scalar]
    by_segment: dict[str, float] | None = None
    """Other segments' thresholds (``value`` is the default): engine.language._by_segment."""

    @model_serializer(mode="wrap")
    def _without_unset_segments(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return omit_absent(handler(self), by_segment=None)


class ChangePlan(_Plan):
    kind: Literal["change"] = "change"
    field: str
    window_seconds: int
    op: Literal["lt", "lte", "gt", "gte"]
    value: float
    by_segment: dict[str, float] | None = None
    """Other segments' bounds (``value`` is the default): engine.language._by_segment."""

    @model_serializer(mode="wrap")
    def _without_unset_segments(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return omit_absent(handler(self), by_segment=None)


class CountPlan(_Plan):
    """How many ``event`` events came in the last ``window_seconds``, compared with ``value``."""

    kind: Literal["count"] = "count"
    event: str
    window_seconds: int
    op: Literal["eq", "lt", "lte", "gt", "gte"]
    value: int


class CelPlan(_Plan):
    kind: Literal["cel"] = "cel"
    expression: str


ConditionPlan = Annotated[
    AllPlan | AnyPlan | NotPlan | ComparePlan | ChangePlan | CountPlan | CelPlan,
    Field(discriminator="kind"),
]

for _model in (AllPlan, AnyPlan, NotPlan):
    _model.model_rebuild()


class DateAt(_Plan):
    """A date relative to an anchor: enrolled, start_date, renewal_date or another date
    attribute of the account, read when the journey runs (engine.language._facts.anchor_date)."""

    anchor: str
    offset_seconds: int


# Nodes ----------------------------------------------------------------------------------------


class _Node(_Plan):
    id: str
    when: ConditionPlan | None = None
    """Guard: when it does not hold, the node is skipped and ``next`` follows."""
    next: str | None = None
    """The node after this one; None ends the run."""


class WaitNode(_Node):
    type: Literal["wait"] = "wait"
    seconds: int | None = None
    until: DateAt | None = None
    business_days: int | None = None
    """Business days on the account's calendar (``2bd``), instead of seconds."""
    seconds_by_segment: dict[str, int] | None = None
    """Other segments' waits (``seconds`` is the default): engine.language._by_segment."""

    @model_serializer(mode="wrap")
    def _without_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return omit_absent(handler(self), business_days=None, seconds_by_segment=None)


class WaitForNode(_Node):
    type: Literal["wait_for"] = "wait_for"
    condition: ConditionPlan | None = None
    event: str | None = None
    """A lifecycle event to wait for, instead of a condition."""
    timeout_seconds: int
    on_met: str | None
    on_timeout: str | None
    timeout_by_segment: dict[str, int] | None = None
    """Other segments' timeouts (``timeout_seconds`` is the default)."""

    @model_serializer(mode="wrap")
    def _without_unset_event(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Plans from before events could be waited for keep their hash.
        return omit_absent(handler(self), event=None, timeout_by_segment=None)


class BranchNode(_Node):
    type: Literal["branch"] = "branch"
    condition: ConditionPlan
    then: str | None
    otherwise: str | None


class _ActionNode(_Node):
    on_failure: Literal["continue", "stop", "escalate"] = "continue"
    catch_up: Literal["run", "skip"] | None = None
    """The step's own catch-up policy; None: the plan's."""
    send_window: bool | None = None
    """Whether the action waits for the send window; None: if it reaches the customer."""

    @model_serializer(mode="wrap")
    def _without_unset_catch_up(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return omit_absent(handler(self), catch_up=None, send_window=None)


class EmailNode(_ActionNode):
    type: Literal["email"] = "email"
    template: str
    to: list[str]
    cc: list[str] = Field(default_factory=list)
    review: str | None = None
    """The role whose outbox the rendered email waits in; None: sent at once."""
    review_seconds: int | None = None
    unreviewed: Literal["discard", "send"] | None = None

    @model_serializer(mode="wrap")
    def _without_unset_review(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Emails from before review keep their plan's hash.
        return omit_absent(
            handler(self), catch_up=None, review=None, review_seconds=None, unreviewed=None
        )


class TaskNode(_ActionNode):
    type: Literal["task"] = "task"
    title: str
    assignee: str
    due_seconds: int
    priority: Literal["low", "normal", "high", "urgent"]
    description: str | None = None


class NotifyNode(_ActionNode):
    type: Literal["notify"] = "notify"
    channel: str
    message: str


class WebhookNode(_ActionNode):
    type: Literal["webhook"] = "webhook"
    url: str
    method: Literal["POST", "PUT", "PATCH"]
    body: dict[str, Any] = Field(default_factory=dict)


class StartPlaybookNode(_ActionNode):
    type: Literal["start_playbook"] = "start_playbook"
    playbook: str


class ApprovalNode(_Node):
    """Ask a role to approve or reject: a task in its inbox, and a wait for the answer."""

    type: Literal["approval"] = "approval"
    title: str
    approver: str
    description: str | None = None
    priority: Literal["low", "normal", "high", "urgent"]
    timeout_seconds: int
    sla_seconds: int | None = None
    """Unanswered this long, the escalation ladder engages."""
    on_approve: str | None
    on_reject: str | None
    on_timeout: str | None
    timeout_by_segment: dict[str, int] | None = None
    sla_by_segment: dict[str, int] | None = None
    """Other segments' timeout and sla (the fields above are the default's)."""

    @model_serializer(mode="wrap")
    def _without_unset_segments(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return omit_absent(handler(self), timeout_by_segment=None, sla_by_segment=None)


class EscalateNode(_Node):
    type: Literal["escalate"] = "escalate"
    tier: str | None = None


class EndNode(_Node):
    type: Literal["end"] = "end"
    outcome: Literal["success", "failure", "neutral"]
    reason: str | None = None


Node = Annotated[
    WaitNode
    | WaitForNode
    | BranchNode
    | EmailNode
    | TaskNode
    | NotifyNode
    | WebhookNode
    | StartPlaybookNode
    | ApprovalNode
    | EscalateNode
    | EndNode,
    Field(discriminator="type"),
]


# The playbook ---------------------------------------------------------------------------------


class EntryPlan(_Plan):
    when: ConditionPlan | None = None
    event: str | None = None
    at: dict[str, DateAt] = Field(default_factory=dict)
    """Entry dates by segment; the key ``default`` serves segments without their own."""


class TriggerPlan(_Plan):
    when: ConditionPlan | None = None
    event: str | None = None
    for_seconds: int | None = None
    """How long ``when`` must hold without a break; None: at once."""

    @model_serializer(mode="wrap")
    def _without_unset_hold(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return omit_absent(handler(self), for_seconds=None)


class ReentryPlan(_Plan):
    policy: Literal["never", "cooldown", "always"]
    cooldown_seconds: int | None = None


class TierPlan(_Plan):
    id: str
    notify: list[str]
    via: list[Literal["task", "email", "chat"]]
    title: str
    template: str | None = None
    channel: str | None = None
    ack_sla_seconds: int | None = None
    when: ConditionPlan | None = None
    ack_sla_by_segment: dict[str, int] | None = None
    """Other segments' SLAs (``ack_sla_seconds`` is the default): engine.language._by_segment."""

    @model_serializer(mode="wrap")
    def _without_unset_segments(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return omit_absent(handler(self), ack_sla_by_segment=None)


class LadderPlan(_Plan):
    when: ConditionPlan | None = None
    tiers: list[TierPlan]
    recovery: ConditionPlan | None = None
    recovery_for_seconds: int = 0


class TemplatePlan(_Plan):
    subject: str
    text: str
    html: str | None = None


class Plan(_Plan):
    """A compiled playbook: the whole input of a playbook run."""

    name: str
    version: int
    hash: str
    """sha256 of everything below but ``source``: same behaviour, same hash."""
    description: str
    owner: str
    stage: str
    segments: list[str]
    priority: int
    suppresses: list[str]
    roles: dict[str, str]
    entry: EntryPlan
    exit: TriggerPlan | None = None
    goal: TriggerPlan | None = None
    reentry: ReentryPlan
    start: str | None
    nodes: dict[str, Node]
    escalation: LadderPlan | None = None
    templates: dict[str, TemplatePlan]
    catch_up: Literal["skip-customer", "skip", "run"] = "skip-customer"
    """What happens to actions whose date had passed when the run reached them."""
    send_window: WindowPlan | Literal["always"] | None = None
    """The playbook's own send window; None: the account's calendar's."""
    calendars: dict[str, CalendarPlan] = Field(default_factory=dict)
    """The set's calendars by name, one of which an account lives on (its zone, working days,
    holidays and default send window)."""
    experiment: ExperimentPlan | None = None
    """The holdout and variants (engine.language._experiments), when it declares them."""
    source: str | None = None
    """The file it was compiled from, for people; not part of the hash."""

    @model_serializer(mode="wrap")
    def _without_default_catch_up(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return omit_absent(
            handler(self),
            catch_up="skip-customer",
            send_window=None,
            calendars={},
            experiment=None,
        )


class ContactCapPlan(_Plan):
    channel: Literal["email"]
    per: Literal["contact", "account"]
    max: int
    within_seconds: int


class ContactPolicyPlan(_Plan):
    """A compiled ContactPolicy (engine.language._contact)."""

    name: str
    hash: str
    audience: list[str]
    caps: list[ContactCapPlan]
    when_capped: Literal["defer", "drop"]
    defer_seconds: int
    exempt: list[str] = Field(default_factory=list)

    def window_seconds(self) -> int:
        """The longest window a cap counts over: how far back sends are remembered."""
        return max(cap.within_seconds for cap in self.caps)


class TierBand(_Plan):
    name: str
    min: float


class HealthModelPlan(_Plan):
    """A compiled health model: weights as fractions per segment, tiers highest first."""

    name: str
    version: int
    hash: str
    segments: list[str]
    components: list[str]
    weights: dict[str, dict[str, float]]
    tiers: list[TierBand]
    trend_window_seconds: int
    trend_threshold: float
    missing: Literal["renormalize", "last_known", "zero"]
    source: str | None = None
    tiers_by_segment: dict[str, list[TierBand]] | None = None
    """Other segments' tiers, highest first (``tiers`` is the default's)."""

    @model_serializer(mode="wrap")
    def _without_unset_segments(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return omit_absent(handler(self), tiers_by_segment=None)


def content_hash(model: BaseModel, exclude: dict[str, Any] | None = None) -> str:
    """A stable hash of a plan's meaning: canonical JSON without ``hash`` and ``source``
    (and without what ``exclude`` names inside nested models, in pydantic's form)."""
    data = model.model_dump(mode="json", exclude={"hash": True, "source": True, **(exclude or {})})
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
