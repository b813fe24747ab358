"""What crosses the Temporal boundary: workflow inputs, signals, queries and activity payloads.

Every value sent to or from a workflow or an activity is one of these pydantic models (the
SDK's pydantic data converter carries them), so a journey's history is typed and readable in
the Temporal UI, and a change to a payload is a change to this file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine._facts import Facts
from engine._plan import Node, Plan, TierPlan


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)


class RunInput(_Message):
    """The input of a playbook run: the plan it keeps for life, and where it starts."""

    plan: Plan
    account_id: str
    cycle: int = Field(ge=1)
    enrolled_at: datetime
    facts: Facts


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


class Decision(_Message):
    """One entry of the "why" trace: the rule, the plan it came from, and the values it saw."""

    at: datetime
    kind: str
    """enrolled, skipped, step, branch, wait_met, wait_timeout, action, action_failed,
    escalated, acknowledged, de-escalated, goal, exit, end."""
    rule: str
    """Where the rule lives in the playbook, e.g. steps.day-14 or escalation.recovery."""
    playbook: str
    version: int
    hash: str
    seen: dict[str, Any] = Field(default_factory=dict)
    detail: str = ""


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
    account: dict[str, Any] = Field(default_factory=dict)
    """The account's attributes when the action ran, for rendering and recipients."""
    health: dict[str, Any] = Field(default_factory=dict)


class ActionReceipt(_Message):
    """What an action did, for the why trace."""

    idempotency_key: str
    detail: str


class CloseRequest(_Message):
    """Close what a run (or its ladder) opened, such as tasks, with a reason."""

    workflow_id: str
    scope: Literal["run", "ladder"]
    reason: str
