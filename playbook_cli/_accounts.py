"""Commands on accounts: send events (one, or a file of them), read status and the decision
trace, find accounts, acknowledge escalations, end a journey. The work is in
``engine.client._operate``; these are its Typer doors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from engine.client._connect import TemporalSettings
from engine.language._errors import PlaybookError
from playbook_cli._base import By, _err, _fail, _login_name, _out, _run, app, connected
from playbook_cli._tasks import Database

if TYPE_CHECKING:
    from engine.client._commands import Answer
    from engine.journeys._messages import DecisionRecord
    from workers.store import Task

# EX_TEMPFAIL: a temporary failure; the same command can be run again.
INGEST_CUT_EXIT = 75

Account = Annotated[str, typer.Argument(help="The account id, e.g. acme.")]


@app.command()
@connected()
def event(
    account: Account,
    score: Annotated[
        float | None, typer.Option("--score", help="A health score, 0-100.", show_default=False)
    ] = None,
    component: Annotated[
        list[str] | None,
        typer.Option(
            "--component", help="A component value, e.g. usage=40 (repeat).", metavar="NAME=N"
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="An attribute, e.g. renewal_date=2027-03-31 (repeat).",
            metavar="KEY=VALUE",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--event", help="A lifecycle event, e.g. contract.signed.", metavar="NAME"),
    ] = None,
    event_id: Annotated[
        str | None,
        typer.Option(
            "--id", help="An event id: sending the same id again changes nothing.", metavar="ID"
        ),
    ] = None,
    *,
    settings: TemporalSettings,
) -> None:
    """Send an account a health reading, attribute changes or a lifecycle event."""
    from engine.client._events import build_events, send_events

    try:
        messages = build_events(
            score=score,
            components=component or [],
            attributes=set_ or [],
            event=name,
            event_id=event_id,
        )
    except PlaybookError as exc:
        _fail(str(exc))
    _run(send_events(settings, account, messages))
    print(f"sent {len(messages)} message(s) to account/{account}")


@app.command()
@connected()
def ingest(
    file: Annotated[Path, typer.Argument(help="A .jsonl or .csv file of health rows and changes.")],
    *,
    settings: TemporalSettings,
) -> None:
    """Send accounts the rows of a JSONL or CSV file, in order; bad rows are reported by line."""
    from rich.progress import Progress

    from engine.client._events import IngestCut, read_rows
    from engine.client._events import ingest as send_rows

    try:
        rows, errors = read_rows(file)
    except PlaybookError as exc:
        _fail(str(exc))
    for error in errors:
        _err.print(error, markup=False)

    async def send_all(progress: Callable[[], None] | None = None) -> int | IngestCut:
        try:
            return await send_rows(settings, rows, progress)
        except IngestCut as cut:  # said below with the file's name, not as a bare reason
            return cut

    if _err.is_terminal and rows:
        with Progress(console=_err, transient=True) as bar:
            task = bar.add_task(f"ingesting {file.name}", total=len(rows))
            sent = _run(send_all(lambda: bar.advance(task)))
    else:
        sent = _run(send_all())
    if isinstance(sent, IngestCut):
        cut = sent
        _fail(
            f"Temporal stopped answering after {cut.sent} of {len(rows)} row(s) were sent;"
            f" the first row not sent is {file}:{cut.first_unsent.line}"
            f" (account {cut.first_unsent.account}): {cut.reason}. Running the same"
            " ingest again is safe: rows already sent are recognised by their ids and ignored",
            code=INGEST_CUT_EXIT,
        )
    accounts = len({row.account for row in rows})
    print(f"sent {sent} row(s) to {accounts} account(s); {len(errors)} row(s) refused")
    if errors:
        raise typer.Exit(1)


@app.command()
@connected(task_queue=False)
def status(
    account: Account,
    as_json: Annotated[bool, typer.Option("--json", help="Print everything as JSON.")] = False,
    database: Database = None,
    *,
    settings: TemporalSettings,
) -> None:
    """An account's health, attributes and journeys (step, escalation tier, who acknowledged)
    and its open tasks."""
    from engine.client._operate import overview
    from engine.client._status import status_lines

    view = _run(overview(settings, account))
    tasks = _open_tasks(database, account)
    if as_json:
        data = view.model_dump(mode="json")
        data["tasks"] = None if tasks is None else [t.model_dump(mode="json") for t in tasks]
        print(json.dumps(data, indent=2))
        return
    lines = status_lines(view)
    if tasks:
        lines.append(f"open tasks ({len(tasks)}):")
        lines += [
            f"  #{t.id} {t.status}, due {t.due_at:%Y-%m-%d %H:%M}, {t.assignee or t.assignee_role}:"
            f" {t.title}"
            if t.due_at
            else f"  #{t.id} {t.status}, {t.assignee or t.assignee_role}: {t.title}"
            for t in tasks
        ]
    print("\n".join(lines))


def _open_tasks(database: str | None, account: str) -> list[Task] | None:
    """The account's open and acknowledged tasks, or None when there is no store here (the
    SQLite default only counts once a worker has created it)."""
    from workers.store import DEFAULT_SQLITE_PATH, database_url, open_store

    url = database or database_url(os.environ)
    if url is None and not DEFAULT_SQLITE_PATH.exists():
        return None
    try:
        with open_store(url) as store:
            return store.list_tasks(account=account, status="active")
    except PlaybookError as exc:
        from workers.redaction import redact

        _err.print(f"playbook: tasks not shown: {redact(str(exc))}", markup=False)
        return None


@app.command()
@connected(task_queue=False)
def why(
    account: Account,
    database: Database = None,
    *,
    settings: TemporalSettings,
) -> None:
    """Every decision about an account, oldest first: rule, playbook version, values seen.
    Read from the store's decision log and the live journeys, so it outlives retention."""
    from engine.client._operate import account_why, why_lines

    logged = _logged_decisions(database, account)
    print("\n".join(why_lines(_run(account_why(settings, account, logged)))))


def _logged_decisions(database: str | None, account: str) -> list[DecisionRecord]:
    """The account's decisions in the store; none when there is no store here, or (said on
    stderr) when it cannot be read: the live journeys still answer."""
    from workers import history
    from workers.store import DEFAULT_SQLITE_PATH, database_url, open_store

    url = database or database_url(os.environ)
    if url is None and not DEFAULT_SQLITE_PATH.exists():
        return []
    try:
        with open_store(url) as store:
            return history.decisions(store, account)
    except PlaybookError as exc:
        _err.print(f"playbook: the decision log not read: {exc}", markup=False)
        return []


@app.command()
@connected(task_queue=False)
def accounts(
    tier: Annotated[str | None, typer.Option("--tier", help="Health tier, e.g. critical.")] = None,
    segment: Annotated[str | None, typer.Option("--segment", help="Segment.")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Owner (the CSM's email).")] = None,
    playbook: Annotated[
        str | None, typer.Option("--playbook", help="With a running journey of this playbook.")
    ] = None,
    escalation: Annotated[
        str | None, typer.Option("--escalation", help="With a journey at this escalation tier.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the accounts as JSON.")] = False,
    *,
    settings: TemporalSettings,
) -> None:
    """Find accounts by health tier, segment, owner, playbook or escalation tier."""
    from engine.client._operate import list_accounts

    found = _run(
        list_accounts(
            settings,
            tier=tier,
            segment=segment,
            owner=owner,
            playbook=playbook,
            escalation=escalation,
        )
    )
    if as_json:
        print(json.dumps([a.model_dump() for a in found], indent=2))
        return
    rows = [
        (
            a.account_id,
            "-" if a.score is None else f"{a.score:g}",
            a.tier or "-",
            a.trend or "-",
            a.segment or "-",
            a.owner or "-",
        )
        for a in found
    ]
    if not found:
        _err.print("no accounts match", markup=False)
    elif _out.is_terminal:
        table = Table("account", "score", "tier", "trend", "segment", "owner")
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))  # no markup in names
        _out.print(table)
    else:  # pipes get tab-separated rows and nothing else, for cut and awk
        for row in rows:
            print("\t".join(row))


@app.command()
@connected(task_queue=False)
def ack(
    account: Account,
    by: By = None,
    playbook: Annotated[
        str | None, typer.Option("--playbook", help="Only this playbook's escalation.")
    ] = None,
    *,
    settings: TemporalSettings,
) -> None:
    """Acknowledge an account's engaged escalations (all, or one playbook's): the ladder
    stops climbing. Says what it acknowledged, or why there was nothing to."""
    from engine.client._commands import acknowledge

    _say(account, _run(acknowledge(settings, account, by or _login_name(), playbook)))


@app.command(name="exit")
@connected(task_queue=False)
def exit_(
    account: Account,
    playbook: Annotated[str, typer.Argument(help="The playbook whose journey ends.")],
    by: By = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Why, for the decision trace and closed tasks.")
    ] = "ended by an operator",
    *,
    settings: TemporalSettings,
) -> None:
    """End an account's running journey of PLAYBOOK now; its open tasks close with the reason."""
    from engine.client._commands import end_journey

    who = by or _login_name()
    _say(account, [_run(end_journey(settings, account, playbook, reason, who))])


@app.command()
@connected(task_queue=False)
def pause(
    account: Account,
    by: By = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Why, for status and the decision trace.")
    ] = "",
    *,
    settings: TemporalSettings,
) -> None:
    """Hold an account: its journeys take no action and do not escalate, none starts, until
    `playbook resume`. Health and attributes keep updating."""
    from engine.client._commands import pause as hold

    _say(account, [_run(hold(settings, account, by or _login_name(), reason))])


@app.command()
@connected(task_queue=False)
def resume(
    account: Account,
    by: By = None,
    *,
    settings: TemporalSettings,
) -> None:
    """Let a paused account go on: what fell due during the pause happens now, in order."""
    from engine.client._commands import resume as release

    _say(account, [_run(release(settings, account, by or _login_name()))])


@app.command()
@connected(task_queue=False)
def override(
    account: Account,
    score: Annotated[
        float | None, typer.Option("--score", help="The health score to use, 0-100.")
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Why, 1-500 characters (status and why show it).")
    ] = "",
    until: Annotated[
        str | None,
        typer.Option("--until", help="When it expires: 2027-01-10 (00:00 UTC) or a moment."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="End the override in force now.")] = False,
    by: By = None,
    *,
    settings: TemporalSettings,
) -> None:
    """Override an account's health score until a date: conditions use it, the model's score
    is still computed and shown; `--clear` ends it early."""
    from engine.client._commands import override as send_override
    from engine.journeys._messages import OverrideRequest
    from engine.journeys._overrides import parse_until

    if clear and (score is not None or until is not None):
        _fail("--clear ends the override in force: give no --score or --until with it", 2)
    if not clear and (score is None or until is None or not reason):
        _fail("give --score, --reason and --until (or --clear)", 2)
    try:
        moment = parse_until(until) if until is not None else None
    except ValueError as error:
        _fail(str(error), 2)
    request = OverrideRequest(
        by=by or _login_name(), reason=reason, score=score, until=moment, clear=clear
    )
    _say(account, [_run(send_override(settings, account, request))])


def _say(account: str, answers: list[Answer]) -> None:
    """One line per journey or account the command reached: what it did, or why nothing."""
    for answer in answers:
        print(f"{account}: {answer.text}")
