"""The ContactPolicy document: how often a customer may hear from us, across every playbook.

Each playbook sends on its own schedule; together they can send a customer onboarding, QBR
and renewal emails on the same afternoon. A set's one ContactPolicy caps the messages to
the people of its ``audience`` roles (the customer, by default): at most ``max`` per
``within`` per contact (the address a role resolves to from the account's attributes) or
per account. When a message would pass a cap, the higher-``priority`` playbook's message
goes first and the other is deferred until a slot frees (at most ``defer_for``) or dropped,
as ``when_capped`` says. The account workflow keeps the count, so the caps hold when two
journeys send at once and across crashes (engine.journeys._contacts).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from engine.language._base import Model, Slug
from engine.language._durations import Duration, duration_seconds
from engine.language._plan import ContactCapPlan, ContactPolicyPlan, content_hash
from engine.language._steps import Role

DEFAULT_DEFER_FOR = "14d"


class ContactCap(Model):
    """At most ``max`` messages on ``channel`` per contact (or per account) in ``within``."""

    channel: Literal["email"] = "email"
    """The channel counted: email (chat goes to our own channels, never to customers)."""
    per: Literal["contact", "account"] = "contact"
    """Count per person reached (an address), or per account (all its contacts together)."""
    max: Annotated[int, Field(ge=1, le=1000)]
    """How many messages at most."""
    within: Duration
    """In any window this long, e.g. 7d."""


class ContactPolicy(Model):
    """Caps on how often the people of an account hear from us, across every playbook."""

    kind: Literal["ContactPolicy"]
    """Always ContactPolicy."""
    name: Slug
    """The policy's name, shown in decisions."""
    description: str | None = None
    """What it protects, for people."""
    audience: list[Role] = Field(default_factory=lambda: ["customer"], min_length=1)
    """The roles whose messages count and are capped: customer by default."""
    caps: list[ContactCap] = Field(min_length=1, max_length=20)
    """The caps; a message goes only when it passes every one."""
    when_capped: Literal["defer", "drop"] = "defer"
    """A message over a cap waits for a free slot (defer) or is not sent (drop)."""
    defer_for: Duration = DEFAULT_DEFER_FOR
    """A deferred message waits at most this long, then is dropped."""
    exempt: list[Slug] = Field(default_factory=list)
    """Playbooks whose messages neither count nor wait (a security notice)."""


def compile_contact_policy(policy: ContactPolicy) -> ContactPolicyPlan:
    """The plan accounts and journeys apply."""
    draft = ContactPolicyPlan(
        name=policy.name,
        hash="",
        audience=sorted(set(policy.audience)),
        caps=[
            ContactCapPlan(
                channel=cap.channel,
                per=cap.per,
                max=cap.max,
                within_seconds=duration_seconds(cap.within),
            )
            for cap in policy.caps
        ],
        when_capped=policy.when_capped,
        defer_seconds=duration_seconds(policy.defer_for),
        exempt=sorted(set(policy.exempt)),
    )
    return draft.model_copy(update={"hash": content_hash(draft)})
