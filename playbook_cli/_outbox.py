"""``playbook outbox``: emails that wait for a person's review before they go.

``playbook outbox`` alone lists the drafts waiting; ``show`` prints one, ``edit`` changes its
subject or text (the rendered original is kept), ``send`` and ``discard`` tell the journey
that filed it, which decides (it may have stopped waiting) and then sends it as it is now, or
drops it. The store is the task store (``--database``, as ``playbook tasks``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from engine.client._connect import TemporalSettings
from engine.language._errors import PlaybookError
from playbook_cli._base import By, _err, _fail, _login_name, _out, _run, app, connected
from playbook_cli._tasks import Database, Note, _open_store

outbox_app = typer.Typer(
    help="The outbox: emails waiting for review; show, edit, send or discard them.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(outbox_app, name="outbox")

DraftId = Annotated[str, typer.Argument(help="The draft's id, as `playbook outbox` shows it.")]
Reviewer = Annotated[
    str | None,
    typer.Option(
        "--reviewer", help="Only drafts for this person or role.", metavar="WHO", show_default=False
    ),
]
AccountOpt = Annotated[
    str | None,
    typer.Option("--account", help="Only this account's drafts.", metavar="ID", show_default=False),
]
AllOpt = Annotated[bool, typer.Option("--all", help="Include sent, discarded and closed drafts.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print as JSON.")]


@outbox_app.callback(invoke_without_command=True)
def outbox(
    ctx: typer.Context,
    reviewer: Reviewer = None,
    account: AccountOpt = None,
    all_: AllOpt = False,
    as_json: JsonOpt = False,
    database: Database = None,
) -> None:
    """List the drafts waiting for review, oldest first; or show, edit, send or discard one."""
    if ctx.invoked_subcommand is None:
        _list(reviewer, account, all_, as_json, database)
    elif reviewer or account or all_ or as_json or database:
        _fail(f"give options after the subcommand: playbook outbox {ctx.invoked_subcommand} ...")


@outbox_app.command(name="list")
def outbox_list(
    reviewer: Reviewer = None,
    account: AccountOpt = None,
    all_: AllOpt = False,
    as_json: JsonOpt = False,
    database: Database = None,
) -> None:
    """List the drafts waiting for review; the same as `playbook outbox`."""
    _list(reviewer, account, all_, as_json, database)


@outbox_app.command(name="show")
def outbox_show(draft_id: DraftId, as_json: JsonOpt = False, database: Database = None) -> None:
    """Print one draft: who it goes to, its subject and text, and what happened to it."""
    from workers.outbox import get_draft

    with _open_store(database) as store:
        try:
            draft = get_draft(store, _draft_id(draft_id))
        except PlaybookError as exc:
            _fail(str(exc))
    if as_json:
        print(draft.model_dump_json(indent=2))
        return
    cc = f"\ncc: {', '.join(draft.cc)}" if draft.cc else ""
    edited = f" (edited by {draft.edited_by})" if draft.edited_by else ""
    print(
        f"draft {draft.id}: {draft.status}, {draft.playbook}/{draft.step} for {draft.account_id},"
        f" review by {draft.reviewer or draft.reviewer_role}{edited}\n"
        f"to: {', '.join(draft.recipients)}{cc}\nsubject: {draft.subject}\n\n{draft.text}"
    )


@outbox_app.command(name="edit")
def outbox_edit(
    draft_id: DraftId,
    subject: Annotated[
        str | None, typer.Option("--subject", help="The new subject.", metavar="TEXT")
    ] = None,
    text_file: Annotated[
        Path | None,
        typer.Option(
            "--text-file", help="The new text, from a file (- for standard input).", metavar="FILE"
        ),
    ] = None,
    by: By = None,
    database: Database = None,
) -> None:
    """Change a waiting draft's subject or text; the rendered original is kept."""
    from workers.outbox import edit_draft

    text = _read_text(text_file) if text_file is not None else None
    with _open_store(database) as store:
        try:
            draft = edit_draft(store, _draft_id(draft_id), by or _login_name(), subject, text)
        except PlaybookError as exc:
            _fail(str(exc))
    print(f"draft {draft.id} edited by {draft.edited_by}: {draft.subject}")


@outbox_app.command(name="send")
@connected(task_queue=False)
def outbox_send(
    draft_id: DraftId,
    note: Note = None,
    by: By = None,
    database: Database = None,
    *,
    settings: TemporalSettings,
) -> None:
    """Send a waiting draft as it is now (edited or not); its journey sends it once."""
    _review(draft_id, True, note, by, database, settings)


@outbox_app.command(name="discard")
@connected(task_queue=False)
def outbox_discard(
    draft_id: DraftId,
    note: Note = None,
    by: By = None,
    database: Database = None,
    *,
    settings: TemporalSettings,
) -> None:
    """Discard a waiting draft: nothing is sent, and the journey goes on."""
    _review(draft_id, False, note, by, database, settings)


def _review(
    text: str,
    send: bool,
    note: str | None,
    by: str | None,
    database: str | None,
    settings: TemporalSettings,
) -> None:
    from workers.outbox import get_draft, review_draft

    draft_id = _draft_id(text)
    if note is not None and not 1 <= len(note) <= 2000:
        _fail("--note: give 1 to 2,000 characters")
    with _open_store(database) as store:
        try:
            draft = get_draft(store, draft_id)
        except PlaybookError as exc:
            _fail(str(exc))
    answer = _run(review_draft(settings, draft, send, by or _login_name(), note))
    if not answer.done:
        _fail(answer.text)
    print(f"draft {draft.id}: {answer.text} ({draft.account_id}, {draft.playbook})")


def _draft_id(text: str) -> int:
    digits = text.removeprefix("#")
    if not digits.isdigit():
        _fail(f"a draft id is a number, as `playbook outbox` shows it, not {text!r}")
    return int(digits)


def _read_text(path: Path) -> str:
    try:
        raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        _fail(f"{path}: cannot read it ({exc.strerror or exc})")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        _fail(f"{path}: not UTF-8 text")


def _list(
    reviewer: str | None, account: str | None, all_: bool, as_json: bool, database: str | None
) -> None:
    from workers.outbox import list_drafts

    with _open_store(database) as store:
        found = list_drafts(
            store, reviewer=reviewer, account=account, status="all" if all_ else "waiting"
        )
    if as_json:
        print(json.dumps([d.model_dump(mode="json") for d in found], indent=2))
        return
    rows = [
        (
            str(d.id),
            d.status + (" (edited)" if d.edited_by else ""),
            d.due_at.strftime("%Y-%m-%d %H:%M") if d.due_at else "-",
            d.reviewer or d.reviewer_role,
            d.account_id,
            f"{d.playbook}/{d.step}",
            ", ".join(d.recipients),
            d.subject,
        )
        for d in found
    ]
    if not _out.is_terminal:
        for row in rows:
            print("\t".join(row))
        return
    if not rows:
        _err.print("no drafts")
        return
    table = Table("id", "status", "due (UTC)", "reviewer", "account", "step", "to", "subject")
    for row in rows:
        table.add_row(*row)
    _out.print(table)
