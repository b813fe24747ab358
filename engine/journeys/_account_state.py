"""What an account workflow carries across continue-as-new, and what its status query shows.

Kept out of the workflow module (``engine.journeys._account``): the workflow sandbox re-runs that
module for every account workflow it starts, and would rebuild these pydantic models (and
their validators) each time; imported through the sandbox's passthrough they are built once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from engine.journeys._catalog import CatalogIndex
from engine.journeys._messages import (
    AccountInput,
    ContactRequest,
    Decision,
    Enrollment,
    Paused,
    RunEnded,
)
from engine.journeys._overrides import HealthOverride

__all__ = ["AccountState", "AccountStatus", "ContactSend", "HealthOverride"]
# HealthOverride is re-exported: the account workflow builds it from here, the module its
# state's field was declared with (the sandbox gives the workflow a fresh copy of
# engine.journeys._overrides, whose class would not validate as this one).
from engine.language._facts import Health, Sample


class ContactSend(BaseModel):
    """One customer message the contact policy counted."""

    at: datetime
    channel: str
    contacts: list[str]
    playbook: str
    key: str


class AccountState(BaseModel):
    """Everything an account carries across continue-as-new."""

    account_id: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    components: dict[str, float] = Field(default_factory=dict)
    health: Health = Field(default_factory=Health)
    history: dict[str, list[Sample]] = Field(default_factory=dict)
    events: dict[str, list[int]] = Field(default_factory=dict)
    """When each lifecycle event came, within bounds (engine.language._counts.keep_event):
    what event counts read."""
    enrollments: dict[str, Enrollment] = Field(default_factory=dict)
    entry_held: dict[str, bool] = Field(default_factory=dict)
    dates_fired: dict[str, str] = Field(default_factory=dict)
    last_skip: dict[str, str] = Field(default_factory=dict)
    seen_ids: list[str] = Field(default_factory=list)
    pending: list[AccountInput] = Field(default_factory=list)
    """Signals received but not yet handled when the last run continued as new."""
    ended: list[RunEnded] = Field(default_factory=list)
    why: list[Decision] = Field(default_factory=list)
    catalog: CatalogIndex | None = None
    catalog_checked_at: datetime | None = None
    paused: Paused | None = None
    override: HealthOverride | None = None
    """A person's health score in force (engine.journeys._overrides), or None."""
    changes_recorded: int = 0
    """How many changes this account has sent to the store: the next change's key."""
    decisions_recorded: int = 0
    """How many decisions this account has made: the next one's number (its key in the store)."""
    contact_sends: list[ContactSend] = Field(default_factory=list)
    """Customer messages sent within the contact policy's longest window, oldest first."""
    contact_waiting: list[ContactRequest] = Field(default_factory=list)
    """Journeys' requests to send, not decided yet or deferred."""
    contact_deferred: list[str] = Field(default_factory=list)
    """Keys of the waiting requests already told they wait (recorded once)."""
    attributes_changed: int = 0
    """How many attribute changes altered the account: journeys read every attribute (their
    actions carry them), so a new count is news to each of them."""
    patches: list[str] = Field(default_factory=list)
    """The run's ``workflow.patched`` ids its starter vouches for
    (``engine.journeys._account_patches.ACCOUNT_PATCHES``), taken without asking: each asked costs
    a run two events (the marker and the SDK's upsert of TemporalChangeVersion)."""


class AccountStatus(BaseModel):
    """What operators see: health, attributes, journeys and the why trace."""

    account_id: str
    health: Health
    attributes: dict[str, Any]
    enrollments: dict[str, Enrollment]
    why: list[Decision]
    paused: Paused | None = None
    override: HealthOverride | None = None
    """A person's score in force: conditions read it; ``health`` stays the model's."""
    score_history: list[Sample] = Field(default_factory=list)
    """The health score's recent readings, oldest first (up to 400 over 400 days): the
    account page's chart. A query's answer only, so no history of a running account changes."""
