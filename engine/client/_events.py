"""Events into accounts: read them from flags, files and API bodies, check them, send them.

One event (a health reading, attribute changes, a lifecycle event) becomes the account's
messages here, whichever door it came through (`playbook event`, `playbook ingest`, the HTTP
API, a simulation's inputs), with ids derived from the event's so a repeat is ignored; what
an account could not use is refused in one line (engine.journeys._values). Every failure a
user can cause is an ``OperateError``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.service import RPCError

from engine.client._connect import TemporalSettings, connect
from engine.client._operate import OperateError
from engine.client._start import AccountIdRefused, check_account_id, send_event
from engine.journeys import _values
from engine.journeys._messages import AccountEvent, AttributeChange, HealthEvent

T = TypeVar("T")

_NUMBER = re.compile(r"\A[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")
MAX_ID = 200
"""Characters in an event id (and an account id, see engine.client._start)."""


def parse_value(text: str) -> Any:
    """``--set`` values: whole and decimal numbers become numbers, the rest stays text.

    Only decimal notation is a number: "nan", "Infinity" and "1_000" stay text (a company
    may be called Nan). A number no account can hold (5,000 digits) is refused in one line.
    """
    if not _NUMBER.match(text):
        return text
    try:
        number: int | float = int(text)
    except ValueError:  # a decimal, or more digits than int() takes
        number = float(text)
    if not math.isfinite(number) or abs(number) > _values.MAX_NUMBER:
        raise OperateError(f"{text[:24]}{'...' if len(text) > 24 else ''}: a number beyond +-1e15")
    return number


def pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise OperateError(f"{what} {item!r}: write it as name=value")
        out[key.strip()] = value.strip()
    return out


def _attribute(key: str, text: str) -> Any:
    """A ``--set`` or CSV value: a segment, an owner, a time zone or a calendar stays text
    (an owner id of 1042 is a name, not a number); other values as ``parse_value`` reads them."""
    names = (*_values.NAME_ATTRIBUTES, *_values.CALENDAR_ATTRIBUTES)
    return text if key in names else parse_value(text)


def build_events(
    *,
    score: float | None,
    components: list[str],
    attributes: list[str],
    event: str | None,
    event_id: str | None,
) -> list[HealthEvent | AttributeChange | AccountEvent]:
    """The messages one `playbook event` sends, attributes first so health sees them."""
    messages: list[HealthEvent | AttributeChange | AccountEvent] = []
    try:
        if attributes:
            values = {k: _attribute(k, v) for k, v in pairs(attributes, "--set").items()}
            messages.append(AttributeChange(event_id=_suffix(event_id, "set"), set=values))
        if score is not None or components:
            numbers: dict[str, float] = {}
            for name, value in pairs(components, "--component").items():
                number = parse_value(value)
                if not isinstance(number, int | float) or not 0 <= number <= 100:
                    raise OperateError(f"--component {name}={value}: a number from 0 to 100")
                numbers[name] = float(number)
            messages.append(
                HealthEvent(event_id=_suffix(event_id, "health"), score=score, components=numbers)
            )
        if event:
            messages.append(AccountEvent(event_id=_suffix(event_id, "event"), name=event))
    except ValidationError as error:
        first = error.errors()[0]
        raise OperateError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    if not messages:
        raise OperateError("nothing to send: give --score, --component, --set or --event")
    _check_values(
        event_id or "playbook-event",
        next((m.components for m in messages if isinstance(m, HealthEvent)), {}),
        next((m.set for m in messages if isinstance(m, AttributeChange)), {}),
        event,
    )
    return messages


def _suffix(event_id: str | None, part: str) -> str | None:
    # One id per message, so re-sending the same command is ignored as a whole.
    return f"{event_id}/{part}" if event_id else None


async def send_events(
    settings: TemporalSettings,
    account_id: str,
    messages: list[HealthEvent | AttributeChange | AccountEvent],
) -> None:
    client = await connect(settings)
    await send_event(client, account_id, messages, settings.task_queue)


class Row(BaseModel):
    """One line of an ingest file, already turned into messages."""

    line: int
    account: str
    messages: list[HealthEvent | AttributeChange | AccountEvent]


def read_rows(path: Path) -> tuple[list[Row], list[str]]:
    """Rows of a JSONL or CSV file, and one error line per row that cannot be sent.

    JSONL: ``{"account": "acme", "id": "r1", "score": 40, "components": {"usage": 30},
    "set": {"renewal_date": "2027-03-31"}, "event": "contract.signed"}``. CSV: columns
    ``account``, ``id``, ``score``, ``event``, ``component.NAME`` and ``set.KEY``; empty cells
    are skipped. A row without an id gets one from its content, so ingesting the same file
    twice changes nothing.
    """
    return read_records(path, read_row)


def read_records(
    path: Path, convert: Callable[[int, dict[str, Any]], T]
) -> tuple[list[T], list[str]]:
    """Each record of a JSONL or CSV file through ``convert(line, record)``, and one
    ``FILE:LINE: message`` per record that is not JSON or that ``convert`` refuses with an
    ``OperateError``. Raises ``OperateError`` when the file cannot be read at all."""
    try:
        # utf-8-sig: a spreadsheet's CSV starts with a byte order mark, which would otherwise
        # become part of the first column's name.
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise OperateError(f"{path}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise OperateError(f"{path}: not UTF-8 text") from None
    csv_file = path.suffix.lower() == ".csv"
    records = _csv_records(text) if csv_file else _jsonl_records(text)
    converted, errors = [], []
    for line, record in records:
        try:
            if isinstance(record, str):
                raise OperateError(record)
            converted.append(convert(line, record))
        except OperateError as error:
            errors.append(f"{path}:{line}: {error}")
    return converted, errors


def _jsonl_records(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as error:
            yield line, f"not JSON: {error.msg} at column {error.colno}"
            continue
        except (ValueError, RecursionError) as error:  # 5,000 digits; nesting past the stack
            yield line, f"not a usable JSON object: {str(error)[:80]}"
            continue
        yield line, record if isinstance(record, dict) else "each line must be a JSON object"


def _csv_records(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    reader = csv.DictReader(io.StringIO(text))
    for record in reader:
        line = reader.line_num
        cells = {k: v for k, v in record.items() if k and v not in (None, "")}
        if None in record:
            yield line, "more cells than columns"
            continue
        out: dict[str, Any] = {"components": {}, "set": {}}
        for key, value in cells.items():
            group, dot, name = key.partition(".")
            if dot and group in ("component", "set"):
                out["components" if group == "component" else "set"][name] = value
            else:
                out[key] = value
        yield line, out


ROW_KEYS = {"account", "id", "score", "components", "set", "event"}


def read_row(line: int, record: dict[str, Any]) -> Row:
    """One ingest record (a JSONL object, a CSV row read as one) as a :class:`Row`."""
    unknown = sorted(set(record) - ROW_KEYS)
    if unknown:
        raise OperateError(f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(ROW_KEYS))})")
    account = record.get("account")
    if not isinstance(account, str) or not account:
        raise OperateError("no account")
    try:
        check_account_id(account)
    except AccountIdRefused as error:
        raise OperateError(str(error)) from None
    score = record.get("score")
    if isinstance(score, str):
        number = parse_value(score)
        if not isinstance(number, int | float):
            raise OperateError(f"score {score!r} is not a number")
        score = number
    if score is not None and not isinstance(score, int | float):
        raise OperateError("score must be a number")
    components = record.get("components") or {}
    attributes = record.get("set") or {}
    if not isinstance(components, dict) or not isinstance(attributes, dict):
        raise OperateError("components and set must be objects")
    event_id = record.get("id")
    if event_id is None:
        canonical = json.dumps(record, sort_keys=True, default=str)
        event_id = "row-" + hashlib.sha256(canonical.encode()).hexdigest()[:20]
    values = {k: _attribute(k, v) if isinstance(v, str) else v for k, v in attributes.items()}
    numbers = {}
    for name, value in components.items():
        number = parse_value(value) if isinstance(value, str) else value
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise OperateError(f"component {name}={value!r}: a number from 0 to 100")
        numbers[name] = float(number)
    messages = event_messages(
        str(event_id),
        score=None if score is None else float(score),
        components=numbers,
        attributes=values,
        event=record.get("event"),
    )
    return Row(line=line, account=account, messages=messages)


def event_messages(
    event_id: str,
    *,
    score: float | None = None,
    components: dict[str, float] | None = None,
    attributes: dict[str, Any] | None = None,
    event: str | None = None,
) -> list[HealthEvent | AttributeChange | AccountEvent]:
    """The messages of one event (a file row, an API call), attributes first so health
    sees them. Each gets an id derived from ``event_id``, the same whichever door the event
    came through, so the account ignores a repeat."""
    _check_values(event_id, components or {}, attributes or {}, event)
    messages: list[HealthEvent | AttributeChange | AccountEvent] = []
    try:
        if attributes:
            messages.append(AttributeChange(event_id=f"{event_id}/set", set=attributes))
        if score is not None or components:
            for name, number in (components or {}).items():
                if not 0 <= number <= 100:
                    raise OperateError(f"component {name}={number:g}: a number from 0 to 100")
            messages.append(
                HealthEvent(
                    event_id=f"{event_id}/health", score=score, components=dict(components or {})
                )
            )
        if event:
            messages.append(AccountEvent(event_id=f"{event_id}/event", name=event))
    except ValidationError as error:
        first = error.errors()[0]
        raise OperateError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    if not messages:
        raise OperateError("nothing to send: give score, components, set or event")
    return messages


def _check_values(
    event_id: str, components: dict[str, Any], attributes: dict[str, Any], event: str | None
) -> None:
    """Refuse, in one line, what an account could not use (engine.journeys._values)."""
    problem = _values.text_problem("the event id", event_id, MAX_ID)
    if problem is None and event is not None:
        problem = _values.text_problem("the event name", event, _values.MAX_EVENT_NAME)
    for name, number in components.items():
        if problem is None:
            problem = _values.key_problem(name)
        if problem is None and (
            isinstance(number, bool)
            or not isinstance(number, int | float)
            or not (math.isfinite(number) and 0 <= number <= 100)
        ):
            problem = f"component {name}={number!r}: a number from 0 to 100"
    for key, value in attributes.items():
        if problem is None:
            found = _values.key_problem(key) or _values.value_problem(key, value)
            problem = None if found is None else f"set.{str(key)[:64]}: {found}"
    problem = problem or _values.set_problem(attributes)
    if problem is not None:
        raise OperateError(problem)


class IngestCut(OperateError):
    """Temporal stopped answering partway through an ingest: what was sent, and where it
    stopped. Every row's messages carry ids derived from the row, so sending the file again
    is safe: the accounts ignore what they already have."""

    def __init__(self, sent: int, first_unsent: Row, reason: str) -> None:
        self.sent = sent
        self.first_unsent = first_unsent
        self.reason = reason
        super().__init__(reason)


async def ingest(
    settings: TemporalSettings, rows: list[Row], progress: Callable[[], None] | None = None
) -> int:
    """Send every row's messages in file order; the number of rows sent.

    Raises :class:`IngestCut` when Temporal goes away midway (rows before the cut are sent).
    """
    client = await connect(settings)
    for sent, row in enumerate(rows):
        try:
            await send_event(client, row.account, row.messages, settings.task_queue)
        except RPCError as error:
            raise IngestCut(sent, row, error.message or error.status.name) from None
        except RuntimeError as error:  # the SDK's transport errors ("Failed client connect")
            raise IngestCut(sent, row, str(error).splitlines()[0]) from None
        if progress is not None:
            progress()
    return len(rows)
