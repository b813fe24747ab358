"""What the HTTP API takes and returns: pydantic models, so bad input is a 422 that names
the field, and the OpenAPI document describes every body exactly."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)

from engine.client._operate import Listed, Overview
from engine.journeys._messages import Decision

AccountId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=r"^[^\s/\x00-\x1f\x7f]+$",
        description="The account id, as the CRM knows it (no spaces, slashes or control"
        " characters).",
        examples=["acme"],
    ),
]
Score = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class EventIn(BaseModel):
    """One event for an account: a health reading, attribute changes, a lifecycle event, or
    several of them at once (attributes are applied first)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The event's id. Sending the same id again changes nothing, so retries "
        "are safe; without one every request is a new event.",
        examples=["crm-2026-11-23-0042"],
    )
    score: Score | None = Field(None, description="A health score, 0-100.", examples=[42])
    components: dict[str, Score] = Field(
        default_factory=dict,
        description="Health component values, 0-100, scored by the health model.",
        examples=[{"usage": 35, "support": 60}],
    )
    set: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="Account attributes to change (segment, owner, renewal_date, arr...).",
        examples=[{"renewal_date": "2027-03-31"}],
    )
    event: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="A lifecycle event, such as contract.signed.",
        examples=["contract.signed"],
    )

    @field_validator("set")
    @classmethod
    def _finite(cls, values: dict[str, Any]) -> dict[str, Any]:
        # JSON has no NaN or Infinity, but Python's parser lets them through; the account's
        # rules would then compare against a value no JSON consumer can read back.
        for key, value in values.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{key}: numbers must be finite")
        return values

    @model_validator(mode="after")
    def _something(self) -> EventIn:
        if self.score is None and not self.components and not self.set and not self.event:
            raise ValueError("nothing to send: give score, components, set or event")
        return self


class AccountEventIn(EventIn):
    """An event with the account it is for, as a batch carries it."""

    account: AccountId


class Batch(BaseModel):
    """Up to 1,000 events, for any accounts, delivered in order."""

    model_config = ConfigDict(extra="forbid")

    events: list[AccountEventIn] = Field(min_length=1, max_length=1000)


class Accepted(BaseModel):
    """The events were handed to Temporal; each account applies them in order."""

    accepted: int = Field(description="How many events were accepted.")
    event_ids: list[str] = Field(description="The id of each event, given or assigned.")


class Why(BaseModel):
    """Every decision about an account, oldest first."""

    account: str
    decisions: list[Decision]


class AccountList(BaseModel):
    accounts: list[Listed]


class Problem(BaseModel):
    """An error: one line saying what went wrong."""

    detail: str


__all__ = [
    "Accepted",
    "AccountEventIn",
    "AccountId",
    "AccountList",
    "Batch",
    "EventIn",
    "Overview",
    "Problem",
    "Why",
]


class OverrideIn(BaseModel):
    """A person's health score for the account until a moment, or ``clear`` to end the one in
    force (engine.journeys._overrides; `playbook override` does the same)."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1, max_length=200, description="Who overrides.")
    reason: str = Field("", max_length=500, description="Why, 1-500 characters, one line.")
    score: float | None = Field(None, ge=0, le=100, description="The score conditions use.")
    until: AwareDatetime | None = Field(
        None, description="When it expires, ahead and at most 400 days away (with a zone)."
    )
    clear: bool = Field(False, description="End the override in force now.")


class OverrideOut(BaseModel):
    """What the override did, or why there was nothing to do (``done`` false)."""

    done: bool
    text: str
