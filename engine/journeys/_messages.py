"""What crosses the Temporal boundary: workflow inputs, signals, queries and activity payloads.

Every value sent to or from a workflow or an activity is one of these pydantic models (the
SDK's pydantic data converter carries them), so a journey's history is typed and readable in
the Temporal UI, and a change to a payload is a change to this file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from temporalio.exceptions import ApplicationError

from engine.language._facts import Facts
from engine.language._plan import ContactPolicyPlan, Node, Plan, TemplatePlan, TierPlan


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)


class RunInput(_Message):
    """The input of a playbook run: the plan it keeps for life, and where it starts."""

    plan: Plan
    account_id: str
    cycle: int = Field(ge=1)
    enrolled_at: datetime
    facts: Facts
    parent_workflow_id: str | None = None
    """The account workflow to tell when the run ends, if any."""
    simulation: bool = False
    """Started by a simulation: nothing it does happened, so it sends nothing to the store."""
    contacts: ContactPolicyPlan | None = None
    """The set's contact policy when the run enrolled: its customer messages ask the account
    for a slot first (engine.journeys._contacts)."""
    patches: list[str] = Field(default_factory=list)
    """The run's ``workflow.patched`` ids the account vouches for: those of the engine that
    enrolled it (``engine.journeys._run_patches.RUN_PATCHES``), taken without asking. Asking costs a
    new run two events per id (the marker and the SDK's upsert of TemporalChangeVersion);
    a run started without the list asks, and replays as it ran."""
    fetch_health: bool = False
    """The account wakes this run only for the health values its decisions read
    (Enrollment.wakes), and its texts show more: an action the run decides away from the
    facts of its latest update asks the account for its current health (ActionRequest
    .fetch_health) rather than show an older score."""


Outcome = Literal["success", "failure", "neutral"]
EndedBy = Literal["goal", "exit", "end", "completed", "stopped", "failed"]


class RunResult(_Message):
    """How a run ended: its outcome for reports, what ended it, and why."""

    outcome: Outcome
    ended_by: EndedBy
    reason: str
    step: str | None = None


class LifecycleEvent(_Message):
    """A named event in the account's life, such as contract.signed or renewal.signed."""

    name: str
    at: datetime | None = None


class Acknowledgement(_Message):
    """Someone took ownership of an escalation; the ladder stops climbing."""

    by: str
    note: str | None = None


class StopRequest(_Message):
    """Ask a run to end now (an operator, or a playbook with higher priority)."""

    reason: str
    by: str | None = None
    """Who asked, when a person did (``playbook exit --by``): the run's reason names them."""


class Decision(_Message):
    """One entry of the "why" trace: the rule, the plan it came from, and the values it saw."""

    at: datetime
    kind: str
    """enrolled, skipped, branch, wait_met, wait_timeout, action, action_failed,
    escalation_requested, escalated, sla_missed, acknowledged, de-escalated, stood_down, goal,
    exit, end, paused, resumed, history_failed."""
    rule: str
    """Where the rule lives in the playbook, e.g. steps.day-14 or escalation.recovery."""
    playbook: str
    version: int
    hash: str
    seen: dict[str, Any] = Field(default_factory=dict)
    detail: str = ""
    seq: int | None = None
    """Its number in the workflow that made it (an account's count goes on across
    continue-as-new): with the workflow id, what tells a decision in the store from the same
    one still in the workflow. None in workflows from before the decision log."""


class RunStatus(_Message):
    """A run's state for operators: where it is, who is engaged, and the why trace."""

    account_id: str
    playbook: str
    version: int
    hash: str
    step: str | None
    escalation_tier: str | None
    acknowledged_by: str | None
    result: RunResult | None
    why: list[Decision]
    paused: bool = False
    waiting: str | None = None
    """What the current step waits for, in words, while it waits."""
    wait_ends: datetime | None = None
    """When the current wait ends at the latest (its timer or timeout), if it has a date."""
    sla_until: datetime | None = None
    """When the engaged escalation tier's acknowledgement SLA runs out, while it runs."""


class ActionRequest(_Message):
    """One side effect for an activity to carry out, exactly once per idempotency key."""

    idempotency_key: str
    """workflow id / step id / visit: the same key on a retry, a new one on a new pass."""
    workflow_id: str
    account_id: str
    playbook: str
    version: int
    step: str
    node: Node | None = None
    """The step's action (email, task, notify, webhook, start_playbook)."""
    tier: TierPlan | None = None
    """For escalations: the ladder tier being engaged."""
    channel: Literal["task", "email", "chat"] | None = None
    """For escalations: how the tier is engaged."""
    template: TemplatePlan | None = None
    """The email template the action sends, from the plan the run started with."""
    owner: str | None = None
    """The playbook's owner, whom the ``owner`` role means."""
    enrolled_at: datetime | None = None
    """When the run began, for days_since_enrollment in templates."""
    account: dict[str, Any] = Field(default_factory=dict)
    """The account's attributes when the action ran, for rendering and recipients."""
    health: dict[str, Any] = Field(default_factory=dict)
    fetch_health: bool = False
    """``health`` may be older than the account's (RunInput.fetch_health): the activity
    renders with the health the account workflow holds now, or with ``health`` when it
    cannot ask."""
    outbox: Literal["draft", "send"] | None = None
    """For a reviewed email: file it as a draft in the reviewer's outbox, or send the draft
    as the reviewer left it. None: carry the action out now."""


class ActionReceipt(_Message):
    """What an action did, for the why trace."""

    idempotency_key: str
    detail: str


class CloseRequest(_Message):
    """Close what a run (or its ladder) opened, such as tasks, with a reason."""

    workflow_id: str
    scope: Literal["run", "ladder"]
    reason: str


class ApprovalAnswer(_Message):
    """A person's answer to an approval step's request."""

    step: str
    """The approval step's id."""
    approved: bool
    by: str = Field(min_length=1, max_length=200)
    note: str | None = Field(default=None, max_length=2000)
    """Why, in the approver's words; kept in the decision log."""
    request: str | None = None
    """The request's key (its task's idempotency key): an answer to an earlier request of
    the same step (a loop came back to it) is refused. None: the step's open request."""


class ApprovalSettlement(_Message):
    """How an approval request ended, for its task in the inbox."""

    idempotency_key: str
    """The request's key: the approval task's."""
    workflow_id: str
    step: str
    outcome: Literal["approved", "rejected", "timeout"]
    by: str | None = None
    note: str | None = None


class PlaybookAnswer(_Message):
    """An answer to the approval step ``step`` of the running journey of ``playbook``."""

    playbook: str
    step: str
    approved: bool
    by: str = Field(min_length=1, max_length=200)
    note: str | None = Field(default=None, max_length=2000)


class ContactRequest(_Message):
    """A journey asks its account for a slot to send a customer message under the set's
    contact policy (engine.journeys._contacts)."""

    key: str
    """The action's idempotency key: the verdict answers it."""
    workflow_id: str
    """The run to answer."""
    playbook: str
    priority: int
    step: str
    channel: Literal["email"] = "email"
    contacts: list[str]
    """Who the message reaches: addresses, or ``role:NAME`` when the account names nobody."""
    requested_at: datetime


class ContactVerdict(_Message):
    """The account's answer: send now (True), not at all (False), or wait for a slot (None:
    a final verdict follows), and why."""

    key: str
    send: bool | None
    detail: str


class HealthEvent(_Message):
    """A health reading: a score, or component values scored by the health model."""

    kind: Literal["health"] = "health"

    event_id: str | None = None
    """Repeated event ids are ignored, so re-sending a file does not double-count."""
    score: float | None = Field(default=None, ge=0, le=100)
    components: dict[str, float] = Field(default_factory=dict)


class AttributeChange(_Message):
    """New values for account attributes (segment, owner, renewal_date, arr, tags...)."""

    kind: Literal["attributes"] = "attributes"

    event_id: str | None = None
    set: dict[str, Any]


class AccountEvent(_Message):
    """A lifecycle event for an account, such as contract.signed."""

    kind: Literal["lifecycle"] = "lifecycle"

    event_id: str | None = None
    name: str


class StartPlaybook(_Message):
    """A run's start_playbook step asks its account to enroll in another playbook."""

    kind: Literal["start"] = "start"
    event_id: str | None = None
    """The step's idempotency key: a request is handled once."""
    playbook: str
    requested_by: str
    """The rule that asked, e.g. onboarding.steps.start-adoption."""


class PauseRequest(_Message):
    """Hold an account's journeys: no actions, no climbing, no new enrollments."""

    kind: Literal["pause"] = "pause"
    event_id: str | None = None
    by: str
    reason: str = ""


class ResumeRequest(_Message):
    """Let a paused account's journeys go on; what fell due meanwhile happens now."""

    kind: Literal["resume"] = "resume"
    event_id: str | None = None
    by: str


class Paused(_Message):
    """Who paused an account, when and why."""

    by: str
    at: datetime
    reason: str = ""


class OverrideRequest(_Message):
    """A person's health score for the account, with a reason and an expiry (or, with
    ``clear``, the end of the one in force): see engine.journeys._overrides."""

    kind: Literal["override"] = "override"
    event_id: str | None = None
    by: str
    reason: str = ""
    score: float | None = None
    until: datetime | None = None
    clear: bool = False


class CombinedEvent(_Message):
    """The parts of one event from outside (its attributes, its reading, its lifecycle event)
    in one signal, taken in that order as if each had come alone: an event that enrolls an
    account with its attributes is one signal-with-start, not two."""

    kind: Literal["combined"] = "combined"

    event_id: None = None
    """Each part carries its own id; the whole has none."""
    parts: list[
        Annotated[AttributeChange | HealthEvent | AccountEvent, Field(discriminator="kind")]
    ] = Field(min_length=2)


AccountInput = Annotated[
    HealthEvent
    | AttributeChange
    | AccountEvent
    | CombinedEvent
    | StartPlaybook
    | PauseRequest
    | ResumeRequest
    | OverrideRequest,
    Field(discriminator="kind"),
]
"""Anything an account workflow takes in, told apart by ``kind`` when carried as data."""


class PlaybookAck(_Message):
    """An acknowledgement for the escalations of one playbook (or all, when None)."""

    by: str
    playbook: str | None = None


class PlaybookExit(_Message):
    """Ask the running journey of a playbook to end."""

    playbook: str
    reason: str


class RunEnded(_Message):
    """A run tells its account that it ended (children outlive continue-as-new)."""

    playbook: str
    cycle: int
    result: RunResult


class Enrollment(_Message):
    """An account's history with one playbook."""

    cycle: int
    running: bool
    version: int
    workflow_id: str
    started_at: datetime
    ended_at: datetime | None = None
    outcome: str | None = None
    ended_by: EndedBy | None = None
    """What ended the run (goal, exit, end, completed, stopped, failed); None while it runs
    and for enrollments that ended before it was kept."""
    reason: str | None = None
    """Why it ended, in words, as the run's result says."""
    windows: dict[str, int] | None = None
    """The history its run reads (``history_windows``, engine.language._plan_reads): what
    the account sends it. None for enrollments from before it was kept: they get all of it."""
    reads: list[str] | None = None
    """The health values its run reads (``health_reads``, engine.language._plan_reads). None
    for enrollments from before it was kept: every change wakes them."""
    wakes: list[str] | None = None
    """The health values its run's decisions read (``health_wakes``): when set, only their
    changes (and those of attributes, windows and events) wake it, and its actions render
    the account's current health. None: every change of ``reads`` wakes it."""
    sent: list[Any] | None = None
    """What the run last got of what it reads (``Forwarding.what_runs_read``, in
    engine.journeys._forwarding): the account sends new facts only when this differs."""


ChangeKind = Literal["arr", "segment", "tier", "lifecycle", "nps", "csat"]


class HistoryChange(_Message):
    """A fact about an account that Temporal does not keep for reports: its ARR, segment or
    health tier changed, or a lifecycle event arrived. The dashboard's retention, trend and
    onboarding numbers are computed from these."""

    key: str
    """Unique per change (account workflow id / event number): a retry records it once."""
    account_id: str
    at: datetime
    kind: ChangeKind
    old: str | None = None
    new: str | None = None
    """The new value (ARR as a number in text, a segment, a tier) or the event's name."""


class JourneyRecord(_Message):
    """How one playbook run went, recorded when it ends: the dashboard's effectiveness table."""

    workflow_id: str
    account_id: str
    playbook: str
    version: int
    stage: str
    cycle: int
    enrolled_at: datetime
    ended_at: datetime
    outcome: Outcome
    ended_by: EndedBy
    highest_tier: str | None = None
    """The highest escalation tier the run engaged, if any."""
    ack_seconds: dict[str, float] = Field(default_factory=dict)
    """Per tier: seconds from engaging it to its first acknowledgement."""


class DecisionRecord(_Message):
    """One decision on its way to the store's decision log, which outlives the workflow."""

    key: str
    """Unique per decision (workflow id / first run id / why / seq): a retry records it once,
    and a workflow id used again (an account deleted and begun anew) does not collide."""
    account_id: str
    workflow_id: str
    """The account's or the run's workflow, the one that made the decision."""
    decision: Decision


class HistoryRequest(_Message):
    """What ``record_history`` writes to the store: changes, decisions, a journey's end."""

    changes: list[HistoryChange] = Field(default_factory=list)
    journey: JourneyRecord | None = None
    decisions: list[DecisionRecord] = Field(default_factory=list)


NOTHING_TO_DO = "NothingToDo"
"""The ``type`` of the error an operator's command (a workflow update) is refused with when it
would change nothing; its message says why ("no escalation is engaged"). A refused update
leaves no trace in the workflow's history."""


def nothing_to_do(message: str) -> ApplicationError:
    """The refusal of a command that would change nothing, raised by an update's validator."""
    return ApplicationError(message, type=NOTHING_TO_DO, non_retryable=True)
