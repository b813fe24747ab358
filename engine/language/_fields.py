"""The catalogue of values a condition can read, and what each one accepts.

One place says which names exist (``health.score``, ``account.renewal_date``,
``days_to_renewal``...), what kind of value each is, and so which operators and constants make
sense; the checks and, later, the evaluator both read it.
"""

from __future__ import annotations

from typing import Any, Literal

FieldKind = Literal["number", "text", "date", "list", "tier", "trend", "segment", "any"]

TRENDS = ("improving", "stable", "declining")
BUILTIN_ROLES = ("customer", "csm", "manager", "executive", "owner")

ROLE_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "csm": ("csm", "owner"),
    "manager": ("manager",),
    "executive": ("executive", "executive_sponsor"),
    "customer": ("contact_email", "contacts"),
}
"""The account attributes that name who a role is, first found wins; a role the playbook
declares is named by the attribute of its own name."""


def named_by(role: str, account: dict[str, Any]) -> list[str]:
    """The addresses the account's attributes give for ``role`` (text, or a list of it)."""
    for attribute in ROLE_ATTRIBUTES.get(role, (role,)):
        value = account.get(attribute)
        if isinstance(value, str) and value:
            return [value]
        if isinstance(value, list) and value:
            return [v for v in value if isinstance(v, str) and v]
    return []


ACCOUNT_ATTRIBUTES: dict[str, FieldKind] = {
    "name": "text",
    "segment": "segment",
    "owner": "text",
    "manager": "text",
    "executive_sponsor": "text",
    "contact": "text",
    "arr": "number",
    "renewal_date": "date",
    "start_date": "date",
    "tags": "list",
}
"""Account attributes every account may have; custom ones live under account.attributes."""

HEALTH_FIELDS: dict[str, FieldKind] = {"score": "number", "tier": "tier", "trend": "trend"}

TOP_LEVEL: dict[str, FieldKind] = {
    "days_since_enrollment": "number",
    "days_to_renewal": "number",
    "days_since_start": "number",
}

OPERATORS: dict[FieldKind, tuple[str, ...]] = {
    "number": ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in"),
    "text": ("eq", "ne", "in", "not_in"),
    "date": ("eq", "ne"),
    "list": ("contains",),
    "tier": ("eq", "ne", "in", "not_in"),
    "trend": ("eq", "ne", "in", "not_in"),
    "segment": ("eq", "ne", "in", "not_in"),
    "any": ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains"),
}


def satisfaction_measure(component: str) -> Literal["nps", "csat"] | None:
    """The satisfaction measure a health component stands for, by its name (``nps``,
    ``NPS_score``; ``csat``, ``satisfaction``), or None: the account records its readings
    and the dashboard averages them under that measure."""
    name = component.lower()
    if "nps" in name:
        return "nps"
    if "csat" in name or "satisf" in name:
        return "csat"
    return None


def field_names(components: list[str]) -> list[str]:
    """Every field a comparison can name, for "did you mean" hints."""
    names = [f"health.{name}" for name in HEALTH_FIELDS]
    names += [f"health.components.{c}" for c in components]
    names += [f"account.{name}" for name in ACCOUNT_ATTRIBUTES]
    return names + list(TOP_LEVEL)


def kind_of(field: str, components: list[str]) -> FieldKind | None:
    """The kind of value at ``field``, or None when no such field exists."""
    parts = field.split(".")
    if len(parts) == 1:
        return TOP_LEVEL.get(field)
    root, name, rest = parts[0], parts[1], parts[2:]
    if root == "health":
        if name == "components" and len(rest) == 1:
            return "number" if rest[0] in components else None
        return HEALTH_FIELDS.get(name) if not rest else None
    if root == "account":
        if name == "attributes" and len(rest) == 1:
            return "any"
        return ACCOUNT_ATTRIBUTES.get(name) if not rest else None
    return None
