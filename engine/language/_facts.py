"""What the engine knows about an account at one moment: the input of every condition.

Workflows build a :class:`Facts` from their state and the workflow clock and hand it to the
evaluator; nothing here reads a clock or a file, so the same facts always give the same
answers, in a workflow, in a replay, or in a test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from engine.language._counts import EVENT_KEY
from engine.language._zones import zone


class Sample(BaseModel):
    """One reading of a score at a time (seconds since the epoch, UTC)."""

    model_config = ConfigDict(frozen=True)

    at: int
    value: float


class Health(BaseModel):
    """The account's current health, as the health model computed it."""

    model_config = ConfigDict(frozen=True)

    score: float | None = None
    tier: str | None = None
    trend: str | None = None
    components: dict[str, float] = Field(default_factory=dict)

    def value(self, field: str) -> Any:
        """The value at ``health.NAME`` or ``health.components.NAME``; None when unknown."""
        rest = field.removeprefix("health.")
        if rest.startswith("components."):
            return self.components.get(rest.removeprefix("components."))
        return getattr(self, rest, None) if rest in ("score", "tier", "trend") else None


class Facts(BaseModel):
    """Everything a condition may read, frozen at ``now``."""

    model_config = ConfigDict(frozen=True)

    now: datetime
    health: Health = Field(default_factory=Health)
    history: dict[str, list[Sample]] = Field(default_factory=dict)
    """Past readings by field (``health.score``, ``health.components.usage``), oldest first."""
    account: dict[str, Any] = Field(default_factory=dict)
    """Account attributes: name, segment, owner, arr, renewal_date, tags, attributes{...}."""
    enrolled_at: datetime | None = None
    """When the account entered the playbook being evaluated, if it has."""
    events: dict[str, list[int]] = Field(default_factory=dict)
    """When each lifecycle event came (seconds since the epoch, oldest first), within the
    account's bounds (engine.language._counts): what event counts read."""

    @model_serializer(mode="wrap")
    def _without_no_events(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Facts travel in every update a journey gets; without counted events they stay the
        # bytes they were before events were kept.
        data: dict[str, Any] = handler(self)
        if not data.get("events"):
            data.pop("events", None)
        return data

    zone: str | None = Field(default=None, exclude=True)
    """The account's IANA time zone, where days are counted (None: UTC). Set by the workflow
    that evaluates (engine.journeys._windows), never sent: payloads stay what they were."""

    def today(self) -> date:
        """The date of ``now`` in the account's time zone."""
        if self.zone is None:
            return self.now.date()
        return self.now.astimezone(zone(self.zone)).date()

    def for_run(self, windows: dict[str, int] | None) -> Facts:
        """These facts with only the history a run measuring changes over ``windows`` (field
        -> seconds, see ``engine.language._plan_reads.history_windows``) can read, now or until
        newer facts come: per field, the readings inside its window and the last one before
        it, which ``change`` compares with. All of it when ``windows`` is None."""
        if windows is None:
            return self
        now = int(self.now.timestamp())
        history: dict[str, list[Sample]] = {}
        events: dict[str, list[int]] = {}
        for field, window in windows.items():
            if field.startswith(EVENT_KEY):
                # Events still in the window; later ones come with the next update.
                name = field.removeprefix(EVENT_KEY)
                kept = [at for at in self.events.get(name, ()) if at > now - window]
                if kept:
                    events[name] = kept
                continue
            samples = self.history.get(field)
            if not samples:
                continue
            first = 0
            for index, sample in enumerate(samples):
                if sample.at > now - window:
                    break
                first = index
            history[field] = samples[first:]
        return self.model_copy(update={"history": history, "events": events})

    def days_since(self, moment: datetime | date | None) -> int | None:
        if moment is None:
            return None
        if self.zone is not None and isinstance(moment, datetime):
            moment = moment.astimezone(zone(self.zone))
        return (self.today() - _as_date(moment)).days

    def value(self, field: str) -> Any:
        """The value at a dotted field name; None when unknown."""
        if field == "days_since_enrollment":
            return self.days_since(self.enrolled_at)
        if field == "days_to_renewal":
            renewal = _date_attribute(self.account.get("renewal_date"))
            return None if renewal is None else (renewal - self.today()).days
        if field == "days_since_start":
            return self.days_since(_date_attribute(self.account.get("start_date")))
        root, _, rest = field.partition(".")
        if root == "health":
            return self.health.value(field)
        if root == "account":
            if rest.startswith("attributes."):
                found = (self.account.get("attributes") or {}).get(rest.removeprefix("attributes."))
            else:
                found = self.account.get(rest)
            # Dates compare as ISO text, whether they arrived as text or as dates.
            return _cel_value(found)
        return None

    def cel_context(self) -> dict[str, Any]:
        """The variables a CEL expression sees."""
        account = {k: _cel_value(v) for k, v in self.account.items()}
        account.setdefault("attributes", {})
        return {
            "health": {
                "score": self.health.score,
                "tier": self.health.tier,
                "trend": self.health.trend,
                "components": dict(self.health.components),
            },
            "account": account,
            "days_since_enrollment": self.value("days_since_enrollment"),
            "days_to_renewal": self.value("days_to_renewal"),
            "days_since_start": self.value("days_since_start"),
            # Today's date at the workflow's clock in the account's zone, as ISO text like
            # the dates in ``account``, so ``account.attributes.trial_end < today`` compares them.
            "today": self.today().isoformat(),
        }


def _as_date(moment: datetime | date) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


def _date_attribute(value: Any) -> date | None:
    # None (no such attribute) and text are the common cases, settled before any isinstance:
    # workflows read these dates many times a task, and the sandbox's isinstance is costly.
    if value is None:
        return None
    if type(value) is str:
        return _iso_date(value)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return _iso_date(value)
    return None


def _iso_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _cel_value(value: Any) -> Any:
    # CEL has no date type; dates are compared as ISO text, which sorts correctly.
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(2199, 12, 31)
"""Dates an account may carry: wide enough for any contract, far from the calendar's ends
(playbooks add and subtract up to 20 years, which must never overflow in a workflow)."""
BUILTIN_DATES = ("renewal_date", "start_date")
"""Date anchors that are attributes of every account: read at the top level only."""


def anchor_value(account: dict[str, Any], name: str) -> Any:
    """The value a date offset anchored on ``name`` reads: the account's attribute ``name``,
    or, for a name that is not built in and absent at the top level, the custom attribute
    ``attributes.NAME`` (``playbook event --set go_live_date=...`` sets the first, a CRM
    that nests its fields the second). None when the account has neither."""
    value = account.get(name)
    if value is None and name not in BUILTIN_DATES:
        nested = account.get("attributes")
        value = nested.get(name) if isinstance(nested, dict) else None
    return value


def anchor_date(
    account: dict[str, Any], name: str, zone_name: str | None = None
) -> datetime | None:
    """The moment ``name`` anchors: its date at 00:00 in the account's zone (UTC when None);
    None when the account has no such attribute or its value is not a date in
    DATE_MIN..DATE_MAX (see :func:`anchor_problem`)."""
    moment = midnight(anchor_value(account, name), zone_name)
    if moment is None or not DATE_MIN <= moment.date() <= DATE_MAX:
        return None
    return moment


def anchor_problem(account: dict[str, Any], name: str) -> str | None:
    """Why ``name`` anchors no date on this account, in words for ``why``; None when it does."""
    value = anchor_value(account, name)
    if value is None:
        return f"the account has no {name}"
    if midnight(value) is None:
        return (
            f"the account's {name} {str(_cel_value(value))[:40]!r} is not a date (write 2027-03-31)"
        )
    if anchor_date(account, name) is None:
        return f"the account's {name} is outside {DATE_MIN.isoformat()}..{DATE_MAX.isoformat()}"
    return None


def midnight(value: Any, zone_name: str | None = None) -> datetime | None:
    """A date attribute as a moment: dates fall at 00:00 of their day, in the account's zone
    (UTC when None), given in UTC."""
    if value is None:
        return None
    if type(value) is not str and isinstance(value, datetime):
        return value
    day = _date_attribute(value)
    if day is None:
        return None
    if zone_name is None:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    local = datetime(day.year, day.month, day.day, tzinfo=zone(zone_name))
    return local.astimezone(UTC)
