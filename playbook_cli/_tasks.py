"""``playbook tasks``: the task inbox CSMs and managers work from.

``playbook tasks`` alone lists (the command people type most); ``list``, ``ack`` and ``done``
are subcommands. The store is the one workers write (PLAYBOOK_DATABASE_URL or
DATABASE_URL, else .playbook/playbook.db).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table

from engine.client._connect import TemporalSettings
from engine.language._errors import PlaybookError
from playbook_cli._base import By, _err, _fail, _Failed, _login_name, _out, _run, app, connected

if TYPE_CHECKING:
    from workers.store import Store

tasks_app = typer.Typer(
    help="The task inbox: list, acknowledge and complete the tasks journeys open, and answer"
    " their approval requests.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(tasks_app, name="tasks")

Database = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Task store URL: sqlite:///PATH or postgresql://... (default: .playbook/playbook.db)"
        " [env: PLAYBOOK_DATABASE_URL, DATABASE_URL]",
        metavar="URL",
        show_default=False,
    ),
]
Assignee = Annotated[
    str | None,
    typer.Option(
        "--assignee",
        help="Only tasks for this person or role (csm, manager...).",
        metavar="WHO",
        show_default=False,
    ),
]
AccountOpt = Annotated[
    str | None,
    typer.Option("--account", help="Only this account's tasks.", metavar="ID", show_default=False),
]
AllOpt = Annotated[
    bool, typer.Option("--all", help="Include done and closed tasks, not only open ones.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the tasks as a JSON list.")]
TaskId = Annotated[str, typer.Argument(help="The task's id, as `playbook tasks` shows it.")]


@tasks_app.callback(invoke_without_command=True)
def tasks(
    ctx: typer.Context,
    assignee: Assignee = None,
    account: AccountOpt = None,
    all_: AllOpt = False,
    as_json: JsonOpt = False,
    database: Database = None,
) -> None:
    """List open tasks (soonest due first), or acknowledge or complete one.

    `playbook tasks [--assignee WHO] [--account ID]` lists; `playbook tasks ack ID` and
    `playbook tasks done ID` tell the task's journey, which stops escalating;
    `playbook tasks approve ID` and `reject ID` answer an approval request.
    """
    if ctx.invoked_subcommand is None:
        _list_tasks(assignee, account, all_, as_json, database)
    elif assignee or account or all_ or as_json or database:
        _fail(f"give options after the subcommand: playbook tasks {ctx.invoked_subcommand} ...")


@tasks_app.command(name="list")
def tasks_list(
    assignee: Assignee = None,
    account: AccountOpt = None,
    all_: AllOpt = False,
    as_json: JsonOpt = False,
    database: Database = None,
) -> None:
    """List open tasks, soonest due first; the same as `playbook tasks`."""
    _list_tasks(assignee, account, all_, as_json, database)


@tasks_app.command(name="ack")
@connected(task_queue=False)
def tasks_ack(
    task_id: TaskId,
    by: By = None,
    database: Database = None,
    *,
    settings: TemporalSettings,
) -> None:
    """Acknowledge a task and tell its journey, which stops escalating."""
    _act_on_task("ack", task_id, by, database, settings)


@tasks_app.command(name="done")
@connected(task_queue=False)
def tasks_done(
    task_id: TaskId,
    by: By = None,
    database: Database = None,
    *,
    settings: TemporalSettings,
) -> None:
    """Mark a task done and tell its journey (done counts as acknowledged)."""
    _act_on_task("done", task_id, by, database, settings)


Note = Annotated[
    str | None,
    typer.Option("--note", help="Why, in your words (kept in the decision log).", metavar="TEXT"),
]


@tasks_app.command(name="approve")
@connected(task_queue=False)
def tasks_approve(
    task_id: TaskId,
    note: Note = None,
    by: By = None,
    database: Database = None,
    *,
    settings: TemporalSettings,
) -> None:
    """Approve an approval request; its journey takes the on_approve steps."""
    _answer(task_id, True, note, by, database, settings)


@tasks_app.command(name="reject")
@connected(task_queue=False)
def tasks_reject(
    task_id: TaskId,
    note: Note = None,
    by: By = None,
    database: Database = None,
    *,
    settings: TemporalSettings,
) -> None:
    """Reject an approval request; its journey takes the on_reject steps."""
    _answer(task_id, False, note, by, database, settings)


def _answer(
    text: str,
    approved: bool,
    note: str | None,
    by: str | None,
    database: str | None,
    settings: TemporalSettings,
) -> None:
    """Tell the journey, which decides; it then marks the task (so the store never says
    approved while the journey took its timeout)."""
    from workers.approvals import answer_request

    task_id = _task_id(text)
    if note is not None and not 1 <= len(note) <= 2000:
        _fail("--note: give 1 to 2,000 characters")
    with _open_store(database) as store:
        try:
            task = store.get(task_id)
        except PlaybookError as exc:
            _fail(str(exc))
    answer = _run(answer_request(settings, task, approved, by or _login_name(), note))
    if not answer.done:
        _fail(answer.text)
    print(f"task {task.id}: {answer.text} ({task.account_id}, {task.playbook})")


def _open_store(database: str | None) -> Store:
    from workers.store import database_url, open_store

    try:
        return open_store(database or database_url(os.environ))
    except PlaybookError as exc:
        _fail(str(exc))


def _list_tasks(
    assignee: str | None, account: str | None, all_: bool, as_json: bool, database: str | None
) -> None:
    with _open_store(database) as store:
        found = store.list_tasks(
            assignee=assignee, account=account, status="all" if all_ else "active"
        )
    if as_json:
        print(json.dumps([task.model_dump(mode="json") for task in found], indent=2))
        return
    rows = [
        (
            str(task.id),
            task.decision or task.status,
            task.priority,
            task.due_at.strftime("%Y-%m-%d %H:%M") if task.due_at else "-",
            task.assignee or task.assignee_role,
            task.account_id,
            f"{task.playbook}/{task.step}",
            f"approval: {task.title}" if task.kind == "approval" else task.title,
        )
        for task in found
    ]
    if not _out.is_terminal:
        for row in rows:
            print("\t".join(row))
        return
    if not rows:
        _err.print("no tasks")
        return
    table = Table("id", "status", "priority", "due (UTC)", "assignee", "account", "step", "title")
    for row in rows:
        table.add_row(*row, style="bold" if row[2] in ("high", "urgent") else None)
    _out.print(table)


def _act_on_task(
    verb: Literal["ack", "done"],
    text: str,
    by: str | None,
    database: str | None,
    settings: TemporalSettings,
) -> None:
    """Change the task in the store, then tell its journey; the store change always stands.

    The store goes first: it is what people see, and it must not depend on Temporal being up.
    If the journey cannot be told, the command says so and exits 1; running it again is
    harmless (the task keeps its first acknowledgement) and tells the journey then.
    """
    task_id = _task_id(text)
    who = by or _login_name()
    with _open_store(database) as store:
        try:
            task = (
                store.acknowledge(task_id, who) if verb == "ack" else store.complete(task_id, who)
            )
        except PlaybookError as exc:
            _fail(str(exc))
    acted = task.acknowledged_by if verb == "ack" else task.completed_by
    what = "acknowledged" if verb == "ack" else "done"
    print(f"task {task.id} {what} by {acted}: {task.title} ({task.account_id}, {task.playbook})")
    told = _run(_tell_journey(settings, task.account_id, task.playbook, acted or who))
    if told is not None:
        _err.print(f"playbook: {told}", markup=False)


async def _tell_journey(
    settings: TemporalSettings, account_id: str, playbook: str, by: str
) -> str | None:
    """Signal the account, which forwards to the playbook's run; a note if there is none."""
    from temporalio.service import RPCError, RPCStatusCode

    from engine.client._connect import connect
    from engine.client._start import account_workflow_id
    from engine.journeys._account import AccountWorkflow
    from engine.journeys._messages import PlaybookAck

    workflow_id = account_workflow_id(account_id)
    try:
        client = await connect(settings)
        await client.get_workflow_handle(workflow_id).signal(
            AccountWorkflow.acknowledge, PlaybookAck(by=by, playbook=playbook)
        )
    except PlaybookError as exc:
        raise _Failed(
            f"the task is saved, but its journey was not told ({exc}); run the command again"
            " to tell it"
        ) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return f"{workflow_id} is not running in {settings.where()}: no journey to tell"
        raise _Failed(
            f"the task is saved, but {workflow_id} was not told: {exc.message}; run the"
            " command again to tell it"
        ) from None
    return None


def _task_id(text: str) -> int:
    digits = text.removeprefix("#")
    if not digits.isdigit():
        _fail(f"a task id is a number, as `playbook tasks` shows it, not {text!r}")
    return int(digits)
