"""The variables an email template may use: one contract for the validator and the renderer.

A template is checked when the playbook set is validated and rendered much later, in an
activity, for one account and one recipient. Both sides read this module, so a variable the
validator accepts is one the renderer provides, and a template that reads something else is
refused before it is published rather than failing on the day it is sent.

Some variables are *open* (``account`` holds whatever attributes the account has; a missing
one fails at render time) and some are *closed* (a person has a name and an email, nothing
else), so a misspelt ``recipient.nmae`` is caught at validation time too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.language._facts import Facts, Health

PERSON_FIELDS = ("name", "email")
"""What a template can read about a person (``recipient``, ``csm``, ``people['sponsor']``)."""

PEOPLE = ("customer", "csm", "manager", "executive", "owner")
"""The built-in roles, each available as a person of its own name."""

TEMPLATE_VARIABLES: dict[str, str] = {
    "account": "the account's attributes: name, segment, owner, arr, renewal_date, tags, ...",
    "health": "the account's health: score, tier, trend, components (by component name)",
    "recipient": "the person this copy is sent to: name, email",
    "customer": "the customer's contact: name, email",
    "csm": "the account's customer success manager: name, email",
    "manager": "the CSM's manager: name, email",
    "executive": "the executive responsible for the account: name, email",
    "owner": "the playbook's owner: name, email",
    "people": "every role of the playbook by name, built-in and declared: people['sponsor']",
    "playbook": "the playbook sending the email: name, version",
    "step": "the id of the step (or escalation tier) sending the email",
    "today": "the date the email is rendered (a date; {{ today.isoformat() }} gives 2026-05-01)",
    "days_to_renewal": "whole days until account.renewal_date (absent without one)",
    "days_since_enrollment": "whole days since the account entered this playbook",
    "days_since_start": "whole days since account.start_date (absent without one)",
}
"""Every top-level name a template may use, with what it holds (for docs and hints)."""

CLOSED_FIELDS: dict[str, tuple[str, ...]] = {
    "health": ("score", "tier", "trend", "components"),
    "playbook": ("name", "version"),
    "recipient": PERSON_FIELDS,
    **dict.fromkeys(PEOPLE, PERSON_FIELDS),
}
"""Variables whose attributes are fixed; reading another attribute of them is an error."""


def template_context(
    *,
    account: dict[str, Any],
    health: dict[str, Any],
    recipient: dict[str, Any],
    people: dict[str, dict[str, Any]],
    playbook: str,
    version: int,
    step: str,
    now: datetime,
    enrolled_at: datetime | None = None,
) -> dict[str, Any]:
    """The variables of one rendering, keyed as :data:`TEMPLATE_VARIABLES` lists them.

    ``people`` maps roles to persons ({"name": ..., "email": ...}); roles the directory could
    not resolve are left out, and values that do not exist (no renewal date, so no
    ``days_to_renewal``) are left out too: a template reading them then fails with a clear
    "is undefined" instead of sending "None" to a customer.
    """
    facts = Facts(now=now, health=Health(**health), account=account, enrolled_at=enrolled_at)
    out: dict[str, Any] = {
        "account": dict(account),
        "health": facts.health.model_dump(),
        "recipient": _person(recipient),
        "people": {role: _person(p) for role, p in people.items()},
        "playbook": {"name": playbook, "version": version},
        "step": step,
        "today": now.date(),
    }
    out |= {role: out["people"][role] for role in PEOPLE if role in out["people"]}
    for name in ("days_to_renewal", "days_since_enrollment", "days_since_start"):
        value = facts.value(name)
        if value is not None:
            out[name] = value
    return out


def _person(person: dict[str, Any]) -> dict[str, Any]:
    return {key: person[key] for key in PERSON_FIELDS if person.get(key) is not None}
