"""Steps: what a playbook does, in order, told apart by their ``type``.

Waits (a duration, a date offset, or a condition with a timeout), branches, actions (email,
task, chat, webhook, start another playbook), a person's approval, the escalation trigger,
jumps and the end. Branching steps hold nested step lists (:func:`branches` names them);
the compiler flattens them into a graph.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from engine.language._base import EventName, Model, Slug
from engine.language._by_segment import DurationBySegment
from engine.language._calendar import WaitFor
from engine.language._conditions import Condition
from engine.language._durations import DateOffsetText, Duration
from engine.language._errors import Code

Role = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
"""Who is meant: customer, csm, manager, executive, owner, or a role the playbook declares."""

OnFailure = Literal["continue", "stop", "escalate"]


# Fields of base classes carry explicit descriptions: pydantic reads attribute docstrings
# only from the class being defined, so subclasses would lose them in the JSON Schema.
class _Step(Model):
    id: Slug = Field(
        description="Unique within the playbook; shown as the current step and used in"
        " idempotency keys."
    )
    if_: Condition | None = Field(
        default=None,
        alias="if",
        description="Run this step only when the condition holds; otherwise go on to the next"
        " step.",
    )


class _Action(_Step):
    on_failure: OnFailure = Field(
        default="continue",
        description="When the action fails for good: continue with the next step, stop the"
        " run, or engage the escalation ladder.",
    )
    catch_up: Literal["run", "skip"] | None = Field(
        default=None,
        description="When the journey reaches this step after its date passed (it enrolled"
        " late): run it anyway, or skip it. The playbook's catch_up when omitted.",
    )
    send_window: bool | None = Field(
        default=None,
        description="Wait for the playbook's send window (in the account's time zone) before"
        " acting: true or false. Emails that reach the customer wait by default; other"
        " actions do not.",
    )


class WaitStep(_Step):
    """Pause for a duration (``for: 3d``) or until a date (``until: renewal_date - 60d``)."""

    type: Literal["wait"]
    """The step type, wait."""
    for_: WaitFor | DurationBySegment | None = Field(default=None, alias="for")
    """How long to wait, e.g. 3d; business days on the account's calendar, e.g. 2bd; or by
    segment, with a default: {enterprise: 7d, default: 14d}."""
    until: DateOffsetText | None = None
    """The date to wait for: enrolled, start_date or renewal_date, plus or minus a duration.
    A date already past does not wait. Steps anchored on renewal_date move when it moves."""

    @model_validator(mode="after")
    def _for_or_until(self) -> WaitStep:
        if (self.for_ is None) == (self.until is None):
            raise PydanticCustomError(
                Code.FIELD_CONFLICT, "a wait step needs exactly one of 'for' and 'until'"
            )
        return self


class WaitForStep(_Step):
    """Wait until a condition holds, at most ``timeout``; each outcome may run its own steps."""

    type: Literal["wait_for"]
    """The step type, wait_for."""
    condition: Condition | None = None
    """What to wait for; it is checked at once and again on every change to the account."""
    event: EventName | None = None
    """Or a lifecycle event to wait for (kickoff.done): one that arrived since the journey
    began (since this step was last met, when it runs again) counts."""
    timeout: Duration | DurationBySegment
    """How long to wait before giving up; or by segment, with a default: {smb: 3d, default: 7d}."""
    on_met: list[Step] = Field(default_factory=list)
    """Steps to run when the condition holds in time; then the playbook goes on."""
    on_timeout: list[Step] = Field(default_factory=list)
    """Steps to run when the timeout passes first; then the playbook goes on."""

    @model_validator(mode="after")
    def _condition_or_event(self) -> WaitForStep:
        if (self.condition is None) == (self.event is None):
            raise PydanticCustomError(
                Code.FIELD_CONFLICT, "a wait_for step needs exactly one of 'condition' and 'event'"
            )
        return self


class BranchStep(_Step):
    """Choose between two lists of steps by a condition."""

    type: Literal["branch"]
    """The step type, branch."""
    condition: Condition
    """Decides the branch."""
    then: list[Step] = Field(default_factory=list)
    """Steps when the condition holds."""
    else_: list[Step] = Field(default_factory=list, alias="else")
    """Steps when it does not."""


class EmailStep(_Action):
    """Send an email rendered from a template."""

    type: Literal["email"]
    """The step type, email."""
    template: Slug
    """The name of an EmailTemplate in the playbook set."""
    to: list[Role] = Field(min_length=1)
    """Recipients by role."""
    cc: list[Role] = Field(default_factory=list)
    """Copied recipients by role."""
    review: Role | None = None
    """Who reviews the email before it goes: rendered, it waits in that person's outbox,
    to be sent (edited or not) or discarded."""
    review_within: Duration | None = None
    """With review: how long the draft waits for its reviewer (3d when omitted)."""
    unreviewed: Literal["discard", "send"] | None = None
    """With review: what happens to a draft nobody reviewed in time (discard when omitted)."""


class TaskStep(_Action):
    """Create a task for a person by role, due some time after it is created."""

    type: Literal["task"]
    """The step type, task."""
    title: str = Field(min_length=1, max_length=200)
    """What to do, as the assignee will read it."""
    assignee: Role
    """Who does it, by role."""
    due: Duration
    """How long after creation the task is due."""
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    """Priority in the assignee's inbox."""
    description: str | None = None
    """Details for the assignee."""


class NotifyStep(_Action):
    """Post a message to a chat channel."""

    type: Literal["notify"]
    """The step type, notify."""
    channel: str = Field(min_length=1)
    """The chat channel, e.g. #cs-alerts."""
    message: str = Field(min_length=1)
    """The message to post."""


class WebhookStep(_Action):
    """Call another system with a signed JSON request."""

    type: Literal["webhook"]
    """The step type, webhook."""
    url: str = Field(pattern=r"^https?://[^\s]+$")
    """Where to send the request (http or https)."""
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    """The HTTP method."""
    body: dict[str, Any] = Field(default_factory=dict)
    """Extra JSON fields sent with the account and journey details (finite numbers only)."""

    @field_validator("body")
    @classmethod
    def _finite(cls, body: dict[str, Any]) -> dict[str, Any]:
        # YAML has .nan and .inf (and 1e999 reads as inf); JSON has neither. Let through, the
        # plan's JSON encoding made them null and the receiver got a value nobody wrote.
        where = _not_finite(body, "body")
        if where is not None:
            raise PydanticCustomError(
                Code.FIELD_VALUE,
                "{where} is {value}, which JSON cannot carry: write a finite number or text",
                {"where": where[0], "value": where[1]},
            )
        return body


class StartPlaybookStep(_Action):
    """Enroll the account in another playbook (its own entry rules and re-entry policy apply)."""

    type: Literal["start_playbook"]
    """The step type, start_playbook."""
    playbook: Slug
    """The name of the playbook to start."""


class ApprovalStep(_Step):
    """Ask a person, by role, to approve or reject; each answer, and no answer in time, may
    run its own steps. The request is a task in the approver's inbox."""

    type: Literal["approval"]
    """The step type, approval."""
    title: str = Field(min_length=1, max_length=200)
    """What is asked, as the approver will read it: Approve a 15% save discount."""
    approver: Role
    """Who decides, by role."""
    description: str | None = None
    """Details for the approver."""
    priority: Literal["low", "normal", "high", "urgent"] = "high"
    """Priority in the approver's inbox."""
    timeout: Duration | DurationBySegment
    """How long the request stays open; then ``on_timeout`` runs and the task closes. Or by
    segment, with a default: {enterprise: 2d, default: 5d}."""
    sla: Duration | DurationBySegment | None = None
    """Unanswered this long, the playbook's escalation ladder engages (it stands down on the
    answer). Shorter than ``timeout`` (for every segment). Or by segment, with a default."""
    on_approve: list[Step] = Field(default_factory=list)
    """Steps to run when approved; then the playbook goes on."""
    on_reject: list[Step] = Field(default_factory=list)
    """Steps to run when rejected; then the playbook goes on."""
    on_timeout: list[Step] = Field(default_factory=list)
    """Steps to run when nobody answered in time; then the playbook goes on."""


class EscalateStep(_Step):
    """Engage the playbook's escalation ladder at its first tier, or at a named tier."""

    type: Literal["escalate"]
    """The step type, escalate."""
    tier: Slug | None = None
    """The escalation tier to start at; the first tier when omitted."""


class GotoStep(_Step):
    """Jump to another step by id, e.g. to repeat a cadence; a loop must contain a wait."""

    type: Literal["goto"]
    """The step type, goto."""
    step: Slug
    """The id of the step to continue at."""


class EndStep(_Step):
    """End the run with an outcome."""

    type: Literal["end"]
    """The step type, end."""
    outcome: Literal["success", "failure", "neutral"] = "neutral"
    """How the run ended, for reports."""
    reason: str | None = None
    """Why, in a sentence, for the account's history."""


Step = Annotated[
    WaitStep
    | WaitForStep
    | BranchStep
    | EmailStep
    | TaskStep
    | NotifyStep
    | WebhookStep
    | StartPlaybookStep
    | ApprovalStep
    | EscalateStep
    | GotoStep
    | EndStep,
    Field(discriminator="type"),
]
"""One step of a playbook, chosen by its ``type``."""

ACTION_STEPS = (EmailStep, TaskStep, NotifyStep, WebhookStep, StartPlaybookStep)

for _model in (WaitForStep, BranchStep, ApprovalStep):
    _model.model_rebuild()


def branches(step: Any) -> list[tuple[str, list[Any]]]:
    """The nested step lists of ``step``, each with its key as written, in order."""
    if isinstance(step, WaitForStep):
        return [("on_met", step.on_met), ("on_timeout", step.on_timeout)]
    if isinstance(step, BranchStep):
        return [("then", step.then), ("else", step.else_)]
    if isinstance(step, ApprovalStep):
        return [
            ("on_approve", step.on_approve),
            ("on_reject", step.on_reject),
            ("on_timeout", step.on_timeout),
        ]
    return []


def _not_finite(value: Any, path: str) -> tuple[str, str] | None:
    """The path and YAML spelling of the first NaN or infinity in ``value``, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path, ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    items: Any = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        found = _not_finite(item, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}")
        if found is not None:
            return found
    return None
