"""The files a simulation reads: an account, a timeline, a book of accounts, their outcomes.

Timelines and books are rows like ``playbook ingest`` reads (JSONL or CSV, the same fields,
parsed by the same code) with a ``day`` (days after the start) or a ``date``, and two more
things a person does: ``ack`` (acknowledge escalations, optionally of one ``playbook``) and
``exit`` (end a playbook's journey, with a ``reason``), ``pause`` and ``resume`` (hold the
account's journeys, naming who), ``approve`` and ``reject`` (answer a ``playbook``'s
approval step, ``by`` someone, the ``reason`` as their note), ``override`` (a person's health
score, with a ``reason``, ``by`` someone, ``until_day`` or ``until`` a date; ``override: clear``
ends it). Every problem is one line naming the file, the line and the field; a simulation runs
only when every row is good.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from engine.client._events import ROW_KEYS, read_records, read_row
from engine.client._operate import OperateError
from engine.journeys._messages import (
    AccountEvent,
    AttributeChange,
    HealthEvent,
    OverrideRequest,
    PauseRequest,
    PlaybookAck,
    PlaybookAnswer,
    PlaybookExit,
    ResumeRequest,
)
from engine.journeys._overrides import override_problem
from engine.language import _yaml
from engine.language._errors import PlaybookError

Message = (
    HealthEvent
    | AttributeChange
    | AccountEvent
    | PlaybookAck
    | PlaybookAnswer
    | PlaybookExit
    | PauseRequest
    | ResumeRequest
    | OverrideRequest
)
OUTCOMES = ("churned", "renewed", "expanded")


T = TypeVar("T")


class InputError(PlaybookError):
    """One or more bad input rows; ``lines`` holds one ``FILE:LINE: message`` per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass
class Account:
    """An account to simulate: its id, its attributes, and the date its day 0 stands for."""

    id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    start: date | None = None


@dataclass
class TimedRow:
    """One row of a timeline or book: what reaches the account on which day."""

    line: int
    account: str
    day: int | None
    on: date | None
    messages: list[Message]
    until: int | date | None = None
    """An override's end as written (a day after the start, or a date): ``resolve_days``
    makes it the moment its OverrideRequest carries."""


@dataclass
class Outcome:
    """What became of an account, and when."""

    account: str
    outcome: Literal["churned", "renewed", "expanded"]
    day: int | None
    on: date | None


_ACCOUNT_KEYS = ("id", "start", "attributes")
_SHORTHANDS = ("name", "segment", "owner", "renewal_date", "arr", "csm", "contact_email")


def read_account(path: Path) -> Account:
    """An account file (YAML or JSON): ``id``, optional ``start`` and the attributes.

    ``segment``, ``owner``, ``renewal_date``, ``name``, ``arr``, ``csm`` and ``contact_email``
    may be written at the top level; any other attribute goes under ``attributes``.
    """
    text = _read(path)
    try:
        data, positions = _yaml.load(text)
    except _yaml.YamlProblem as problem:
        raise InputError([f"{path}:{problem.line}: {problem.message}"]) from None

    def fail(key: tuple[str, ...], message: str) -> InputError:
        line = positions.of_key(key)[0] if key else 1
        return InputError([f"{path}:{line}: {'.'.join(key) + ': ' if key else ''}{message}"])

    if not isinstance(data, dict):
        raise fail((), "an account file is a mapping with id, start and attributes")
    for key in data:
        if key not in (*_ACCOUNT_KEYS, *_SHORTHANDS):
            known = ", ".join((*_ACCOUNT_KEYS, *_SHORTHANDS))
            raise fail((key,), f"unknown field (fields: {known})")
    account_id = data.get("id")
    if not isinstance(account_id, str) or not account_id:
        raise fail(("id",) if "id" in data else (), "id: the account id, a text is required")
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise fail(("attributes",), "must be a mapping of attribute names to values")
    attributes = {**attributes, **{k: data[k] for k in _SHORTHANDS if k in data}}
    for key in ("renewal_date", "start_date"):
        if key in attributes and _date(attributes[key]) is None:
            where = (key,) if key in data else ("attributes", key)
            raise fail(where, f"{attributes[key]!r} is not a date (write 2027-03-31)")
    start = None
    if "start" in data:
        start = _date(data["start"])
        if start is None:
            raise fail(("start",), f"{data['start']!r} is not a date (write 2027-01-04)")
    return Account(id=account_id, attributes=attributes, start=start)


def read_rows(path: Path, account: str | None = None) -> list[TimedRow]:
    """A timeline (``account`` given: rows belong to it) or a book (each row names one)."""
    rows, errors = _records(path, lambda line, record: _timed(line, record, account, path))
    if errors:
        raise InputError(errors)
    if not rows:
        raise InputError([f"{path}:1: no rows: nothing to simulate"])
    return rows


# What a timeline or book row may hold: ingest's fields and what only a simulation has.
_TIMELINE_KEYS = (
    *sorted(ROW_KEYS),
    *("day", "date", "ack", "playbook", "exit", "reason", "pause", "resume"),
    *("approve", "reject", "by", "override", "until_day", "until"),
)


def _timed(line: int, record: dict[str, Any], account: str | None, path: Path) -> TimedRow:
    unknown = sorted(set(record) - set(_TIMELINE_KEYS))
    if unknown:
        raise OperateError(f"unknown field {unknown[0]!r} (fields: {', '.join(_TIMELINE_KEYS)})")
    day, on = _when(record)
    ack, playbook = record.pop("ack", None), record.pop("playbook", None)
    exit_, reason = record.pop("exit", None), record.pop("reason", None)
    pause, resume = record.pop("pause", None), record.pop("resume", None)
    approve, reject, by = (
        record.pop("approve", None),
        record.pop("reject", None),
        record.pop("by", None),
    )
    overriding, until = record.pop("override", None), _until(record)
    if account is not None:
        named = record.setdefault("account", account)
        if named != account:
            raise OperateError(f"account: {named!r} is not the simulated account {account!r}")
    name = record.get("account")
    if not isinstance(name, str) or not name:
        raise OperateError("account: every row of a book names its account")
    messages: list[Message] = []
    # CSV rows always carry (maybe empty) components and set; only a value is something.
    record = {k: v for k, v in record.items() if v not in ({}, None)}
    if set(record) - {"account", "id"}:
        # Without an id, one from the file and line: the same reading on two days is two events.
        record.setdefault("id", f"{path.name}:{line}")
        messages += read_row(line, record).messages
    if ack is not None:
        if not isinstance(ack, str) or not ack:
            raise OperateError("ack: who acknowledges, e.g. maria@example.com")
        messages.append(PlaybookAck(by=ack, playbook=_text(playbook, "playbook")))
    if exit_ is not None:
        messages.append(
            PlaybookExit(
                playbook=_text(exit_, "exit") or "",
                reason=_text(reason, "reason") or "ended in the simulation",
            )
        )
    elif approve is not None or reject is not None:
        messages.append(_answer(approve, reject, playbook, by, reason))
    elif playbook is not None and ack is None:
        raise OperateError("playbook: only with ack (whose escalations), exit, approve or reject")
    elif overriding is not None:
        messages.append(overridden(overriding, reason, by, until))
    elif by is not None:
        raise OperateError("by: only with approve, reject or override (who answers)")
    if until is not None and (overriding is None or overriding == "clear"):
        raise OperateError("until_day and until: only with override (when it ends)")
    if pause is not None:
        who = _text(pause, "pause") or ""
        messages.append(PauseRequest(by=who, reason=_text(reason, "reason") or ""))
    if resume is not None:
        messages.append(ResumeRequest(by=_text(resume, "resume") or ""))
    if not messages:
        raise OperateError(
            "nothing happens: give score, components, set, event, ack, exit, pause, resume,"
            " approve, reject or override"
        )
    return TimedRow(line=line, account=name, day=day, on=on, messages=messages, until=until)


def _answer(approve: Any, reject: Any, playbook: Any, by: Any, note: Any) -> PlaybookAnswer:
    """A person's answer to an approval step: ``approve: STEP`` or ``reject: STEP``."""
    if approve is not None and reject is not None:
        raise OperateError("approve and reject: give one of the two")
    key = "approve" if approve is not None else "reject"
    step = _text(approve if approve is not None else reject, key)
    if not step:
        raise OperateError("approve or reject: the id of an approval step, e.g. discount")
    whose = _text(playbook, "playbook")
    if not whose:
        raise OperateError("approve and reject need playbook: whose approval step")
    return PlaybookAnswer(
        playbook=whose,
        step=step,
        approved=approve is not None,
        by=_text(by, "by") or "test",
        note=_text(note, "reason"),
    )


def _until(record: dict[str, Any]) -> int | date | None:
    """An override's ``until_day`` (days after the start) or ``until`` (a date)."""
    day, on = record.pop("until_day", None), record.pop("until", None)
    if day is not None and on is not None:
        raise OperateError("until_day and until: give one of the two")
    if day is not None:
        number = day if isinstance(day, int) else _int(day)
        if number is None or number < 0:
            raise OperateError(f"until_day: {day!r} is not a whole number of days from 0")
        return number
    if on is not None:
        parsed = _date(on)
        if parsed is None:
            raise OperateError(f"until: {on!r} is not a date (write 2027-03-31)")
        return parsed
    return None


def overridden(score: Any, reason: Any, by: Any, until: int | date | None) -> OverrideRequest:
    """A person's health score (``override: 30``) or its end (``override: clear``); the
    moment it ends is set by ``resolve_days`` from ``until``."""
    who = _text(by, "by") or "test"
    if score == "clear":
        return OverrideRequest(by=who, reason=_text(reason, "reason") or "", clear=True)
    if isinstance(score, bool) or not isinstance(score, int | float | str):
        raise OperateError(f"override: {json.dumps(score)} is not a score from 0 to 100 or clear")
    try:
        value = float(score)
    except ValueError:
        raise OperateError(f"override: {score!r} is not a score from 0 to 100 or clear") from None
    if until is None:
        raise OperateError("override needs until_day (days after the start) or until (a date)")
    request = OverrideRequest(by=who, reason=_text(reason, "reason") or "", score=value)
    # Checked now against a moment far before any until, so only score and reason can fail;
    # resolve_days checks until against the row's day.
    problem = override_problem(request.model_copy(update={"until": _FAR}), _FAR - timedelta(days=1))
    if problem:
        raise OperateError(f"override: {problem}")
    return request


_FAR = datetime(2100, 1, 1, tzinfo=UTC)


def _when(record: dict[str, Any]) -> tuple[int | None, date | None]:
    day, on = record.pop("day", None), record.pop("date", None)
    if (day is None) == (on is None):
        raise OperateError("give a day (days after the start) or a date, one of the two")
    if day is not None:
        number = day if isinstance(day, int) else _int(day)
        if number is None or number < 0:
            raise OperateError(f"day: {day!r} is not a whole number of days from 0")
        return number, None
    parsed = _date(on)
    if parsed is None:
        raise OperateError(f"date: {on!r} is not a date (write 2027-03-31)")
    return None, parsed


def read_outcomes(path: Path) -> list[Outcome]:
    """Rows of ``account``, ``outcome`` (churned, renewed or expanded) and a day or date."""
    found, errors = _records(path, _outcome)
    if errors:
        raise InputError(errors)
    return found


def _outcome(line: int, record: dict[str, Any]) -> Outcome:
    record = {k: v for k, v in record.items() if v not in ({}, None, "")}
    day, on = _when(record)
    unknown = sorted(set(record) - {"account", "outcome"})
    if unknown:
        raise OperateError(f"unknown field {unknown[0]!r} (fields: account, outcome, day, date)")
    account, outcome = record.get("account"), record.get("outcome")
    if not isinstance(account, str) or not account:
        raise OperateError("account: which account this outcome is for")
    if outcome not in OUTCOMES:
        raise OperateError(f"outcome: {outcome!r} is not one of {', '.join(OUTCOMES)}")
    return Outcome(account=account, outcome=outcome, day=day, on=on)


def resolve_days(rows: list[TimedRow], start: date | None, path: Path) -> date:
    """Give every dated row of ``path`` its day; the start is ``start`` or the earliest date."""
    dates = [r.on for r in rows if r.on is not None]
    base = start or (min(dates) if dates else None) or date.today()
    errors = []
    for row in rows:
        if row.on is not None:
            row.day = (row.on - base).days
            if row.day < 0:
                errors.append(f"{path}:{row.line}: date: {row.on} is before the start, {base}")
        if row.until is not None and row.day is not None:
            problem = _end_override(row, base)
            if problem:
                errors.append(f"{path}:{row.line}: {problem}")
    if errors:
        raise InputError(errors)
    return base


def _end_override(row: TimedRow, base: date) -> str | None:
    """Give the row's override the moment it ends (00:00 UTC of its day on the account's
    calendar); why it cannot, in one line."""
    assert row.day is not None and row.until is not None
    ends = base + timedelta(days=row.until) if isinstance(row.until, int) else row.until
    until = datetime(ends.year, ends.month, ends.day, tzinfo=UTC)
    given = "until_day" if isinstance(row.until, int) else "until"
    if ends <= base + timedelta(days=row.day):
        return f"{given}: the override must end after the day it is set (day {row.day})"
    for index, message in enumerate(row.messages):
        if isinstance(message, OverrideRequest):
            moment = datetime(base.year, base.month, base.day, tzinfo=UTC)
            problem = override_problem(
                message.model_copy(update={"until": until}), moment + timedelta(days=row.day)
            )
            if problem:
                return f"{given}: {problem}"
            row.messages[index] = message.model_copy(update={"until": until})
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError([f"{path}: cannot read: {error.strerror}"]) from None
    except UnicodeDecodeError:
        raise InputError([f"{path}: not UTF-8 text"]) from None


def _records(path: Path, convert: Callable[[int, dict[str, Any]], T]) -> tuple[list[T], list[str]]:
    try:
        return read_records(path, convert)
    except OperateError as error:  # the file itself: unreadable, not UTF-8
        raise InputError([str(error)]) from None


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10]) if len(value) >= 10 else None
        except ValueError:
            return None
    return None


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise OperateError(f"{name}: {json.dumps(value)} must be a text")
    return value
