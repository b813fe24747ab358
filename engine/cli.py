"""The ``playbook`` command line.

Output is for two readers: people at a terminal get colour and tables (rich), and pipes, CI
logs and editors get plain ``path:line:col: field: message [CODE]`` lines. Every failure a
user can cause ends in one line and a non-zero exit, never a traceback; set
``PLAYBOOK_DEBUG=1`` to see one for a bug in the engine itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from engine._connect import TemporalSettings, env_var, flag
from engine._errors import Diagnostic, PlaybookError
from engine._loader import PlaybookSet, check
from engine._plan import BranchNode, HealthModelPlan, Node, Plan, WaitForNode
from engine._schema import drifted, write

if TYPE_CHECKING:
    from temporalio.client import Client

    from engine._catalog import Catalog
    from workers.store import Store

app = typer.Typer(
    name="playbook",
    help="Customer-success playbooks as code: validate, compile and run them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_T = TypeVar("_T")
_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 1) -> NoReturn:
    _err.print(f"playbook: {message}", markup=False)
    raise typer.Exit(code)


def _print_diagnostics(diagnostics: list[Diagnostic]) -> None:
    for diagnostic in diagnostics:
        if _out.is_terminal:
            where = f"{diagnostic.path}:{diagnostic.line}:{diagnostic.column}"
            field = f" [cyan]{diagnostic.field}[/]:" if diagnostic.loc else ""
            hint = f" [green]({diagnostic.hint})[/]" if diagnostic.hint else ""
            _out.print(
                f"[bold]{where}[/]:{field} [red]{_escape(diagnostic.message)}[/]{hint}"
                f" [dim]\\[{diagnostic.code}][/]"
            )
        else:
            print(diagnostic)


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def _checked(paths: list[Path]) -> PlaybookSet:
    """The valid set at ``paths``, or every diagnostic printed and exit 1."""
    result, diagnostics = check(paths)
    _print_diagnostics(diagnostics)
    if diagnostics:
        files = len({d.path for d in diagnostics})
        _err.print(f"{len(diagnostics)} problem(s) in {files} file(s)")
        raise typer.Exit(1)
    return result


@app.command()
def validate(
    paths: Annotated[
        list[Path], typer.Argument(help="Playbook files or directories.", show_default=False)
    ],
) -> None:
    """Check playbooks, health models and email templates; print every problem found."""
    result = _checked(paths)
    summary = f"{len(result.playbooks)} playbook(s) valid"
    _err.print(f"[green]ok[/]: {summary}" if _err.is_terminal else f"ok: {summary}")


@app.command(name="compile")
def compile_(
    file: Annotated[Path, typer.Argument(help="A playbook or health model file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole plan as JSON.")] = False,
) -> None:
    """Compile one playbook (or health model) and print its plan, version and hash."""
    result, diagnostics = check([file])
    if diagnostics:
        _print_diagnostics(diagnostics)
        raise typer.Exit(1)
    wanted = file.resolve()
    plan: Plan | HealthModelPlan | None = next(
        (result.plan(n) for n, p in result.paths.items() if n != "#health" and _same(p, wanted)),
        None,
    )
    if plan is None and _same(result.paths.get("#health"), wanted):
        plan = result.health_plan()
    if plan is None:
        _fail(f"{file}: holds no Playbook or HealthModel to compile")
    if as_json:
        print(json.dumps(plan.model_dump(mode="json", exclude_none=True), indent=2))
        return
    _show(plan)


def _same(path: str | None, wanted: Path) -> bool:
    return path is not None and Path(path).resolve() == wanted


def _show(plan: Plan | HealthModelPlan) -> None:
    print(f"{plan.name} version {plan.version}")
    print(f"hash {plan.hash}")
    if isinstance(plan, HealthModelPlan):
        print(f"tiers: {', '.join(f'{t.name} >= {t.min:g}' for t in plan.tiers)}")
        return
    rows = [(node.id, node.type, _successors(node)) for node in plan.nodes.values()]
    if not _out.is_terminal:
        for row in rows:
            print("\t".join(row))
        return
    table = Table("step", "type", "then")
    for row in rows:
        table.add_row(*row)
    _out.print(table)


def _successors(node: Node) -> str:
    if isinstance(node, BranchNode):
        return f"if -> {node.then or 'end'}, else -> {node.otherwise or 'end'}"
    if isinstance(node, WaitForNode):
        return f"met -> {node.on_met or 'end'}, timeout -> {node.on_timeout or 'end'}"
    return f"-> {node.next or 'end'}"


@app.command()
def schema(
    check_only: Annotated[
        bool, typer.Option("--check", help="Exit 1 if the files differ from the models.")
    ] = False,
    directory: Annotated[Path, typer.Option("--dir", help="Where the schemas live.")] = Path(
        "schemas"
    ),
) -> None:
    """Write the JSON Schemas editors use, or check that the committed ones are current."""
    if check_only:
        stale = drifted(directory)
        if stale:
            _fail(f"schemas out of date: {', '.join(map(str, stale))}; run `playbook schema`")
        print(f"schemas in {directory} are current")
        return
    for path in write(directory):
        print(f"wrote {path}")


# Connection flags, shared by every command that talks to Temporal. Each falls back to its
# PLAYBOOK_TEMPORAL_* variable; TemporalSettings.resolve applies the precedence, so a bad
# value in either place is reported as one line naming where it came from.


def _connection(field: str, text: str, metavar: str) -> Any:
    return typer.Option(
        flag(field), help=f"{text} [env: {env_var(field)}]", metavar=metavar, show_default=False
    )


Address = Annotated[
    str | None, _connection("address", "Temporal frontend (default: localhost:7233).", "HOST:PORT")
]
Namespace = Annotated[
    str | None, _connection("namespace", "Temporal namespace (default: default).", "NAME")
]
TaskQueue = Annotated[
    str | None, _connection("task_queue", "Task queue of the engine (default: playbooks).", "NAME")
]
Tls = Annotated[
    bool | None,
    typer.Option(
        "--tls/--no-tls",
        help="Use TLS (default: on when an API key or certificate is given)"
        f" [env: {env_var('tls')}]",
        show_default=False,
    ),
]
TlsCert = Annotated[
    Path | None, _connection("tls_cert", "Client certificate (PEM) for mTLS.", "FILE")
]
TlsKey = Annotated[Path | None, _connection("tls_key", "Private key (PEM) of --tls-cert.", "FILE")]
TlsCa = Annotated[
    Path | None, _connection("tls_ca", "CA certificate (PEM) to verify the server.", "FILE")
]
ApiKey = Annotated[
    str | None, _connection("api_key", "Temporal Cloud API key (prefer the variable).", "KEY")
]


def _settings(**flags: Any) -> TemporalSettings:
    try:
        return TemporalSettings.resolve(flags)
    except PlaybookError as exc:
        _fail(str(exc))


def _run(work: Coroutine[Any, Any, _T]) -> _T:
    """Run ``work``; a problem the user can fix (server down, bad certificate) is one line."""
    try:
        return asyncio.run(work)
    except PlaybookError as exc:
        _fail(str(exc))


class _Failed(PlaybookError):
    """Temporal answered, but not as the command needed: the message says what to do."""


# How long in-flight activities get to finish after Ctrl-C or SIGTERM before they are
# cancelled; their retries then run on another worker, keyed so nothing is sent twice.
_GRACE = timedelta(seconds=10)
_log = logging.getLogger("playbook.worker")


@app.command()
def worker(
    address: Address = None,
    namespace: Namespace = None,
    task_queue: TaskQueue = None,
    tls: Tls = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_ca: TlsCa = None,
    api_key: ApiKey = None,
    register_search_attributes: Annotated[
        bool,
        typer.Option(
            "--register-search-attributes",
            help="First register the engine's search attributes on the namespace"
            " (self-hosted clusters; Temporal Cloud creates them in its UI or tcld).",
        ),
    ] = False,
) -> None:
    """Run the engine's workflows and activities until Ctrl-C or SIGTERM."""
    settings = _settings(
        address=address,
        namespace=namespace,
        task_queue=task_queue,
        tls=tls,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_ca=tls_ca,
        api_key=api_key,
    )
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from workers.log import configure

    configure()
    _run(_serve(settings, register_search_attributes))
    _log.info("stopped")


async def _serve(settings: TemporalSettings, register_attributes: bool) -> None:
    from engine._connect import connect
    from workers.activities import Actions
    from workers.directory import DirectoryError
    from workers.worker import build_worker

    try:
        # Before connecting: a bad SMTP, store or directory setting is the first thing to say.
        actions = Actions.from_environment()
    except (PlaybookError, DirectoryError, ValueError) as error:
        raise _Failed(str(error)) from None
    try:
        client = await connect(settings)
        if register_attributes:
            await _register(client, settings)
        worker = build_worker(
            client, settings.task_queue, actions.activities(), graceful_shutdown_timeout=_GRACE
        )
        await _work(worker, settings)
    finally:
        await actions.aclose()


async def _work(worker: Any, settings: TemporalSettings) -> None:
    from workers.worker import WORKFLOWS

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    running = asyncio.create_task(worker.run())
    stopping = asyncio.create_task(stop.wait())
    _log.info(
        "serving task queue %s in %s: %s (Ctrl-C to stop)",
        settings.task_queue,
        settings.where(),
        ", ".join(w.__name__ for w in WORKFLOWS),
    )
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # A second Ctrl-C during the shutdown below interrupts it (exit 130).
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        stopping.cancel()
    if not running.done():
        _log.info("stopping: in-flight activities get up to %ss", _GRACE.seconds)
        await worker.shutdown()
    error = running.exception()
    if error is not None:
        cause = f": {error.__cause__}" if error.__cause__ else ""
        raise _Failed(f"worker stopped: {error}{cause}")


async def _register(client: Client, settings: TemporalSettings) -> None:
    from temporalio.service import RPCError

    from engine._search import ALL, register

    try:
        await register(client, settings.namespace)
    except RPCError as exc:
        raise _Failed(
            f"could not register search attributes on namespace {settings.namespace}:"
            f" {exc.message} (on Temporal Cloud, add them with tcld or the Cloud UI)"
        ) from None
    _log.info("search attributes registered: %s", ", ".join(key.name for key in ALL))


@app.command()
def publish(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Playbook directories or files: the whole set.", show_default=False),
    ],
    address: Address = None,
    namespace: Namespace = None,
    task_queue: TaskQueue = None,
    tls: Tls = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_ca: TlsCa = None,
    api_key: ApiKey = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            help="Seconds to wait for a worker to take the publish.",
            metavar="SECONDS",
        ),
    ] = 30.0,
) -> None:
    """Validate a playbook set and make it the one new enrollments use.

    Running journeys keep the plan they started with. Publishing the same set again changes
    nothing.
    """
    settings = _settings(
        address=address,
        namespace=namespace,
        task_queue=task_queue,
        tls=tls,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_ca=tls_ca,
        api_key=api_key,
    )
    if wait <= 0:
        _fail(f"--wait must be more than 0 seconds, not {wait:g}")
    result = _checked(paths)
    health = result.health_plan()
    # An empty catalog would retire every playbook at once; that is never what a publish
    # of a directory means. (A set with playbooks always has a health model: `check` says so.)
    if not result.playbooks or health is None:
        _fail(f"nothing to publish: no playbooks in {' '.join(map(str, paths))}")
    from engine._catalog import build_catalog

    catalog = build_catalog(result.plans(), health)
    changed = _run(_publish(settings, catalog, timedelta(seconds=wait)))
    for plan in catalog.plans.values():
        print(f"{plan.name}\tv{plan.version}\t{plan.hash}")
    print(
        f"published catalog {catalog.hash} to {settings.where()},"
        f" task queue {settings.task_queue}: {changed}"
    )


async def _publish(settings: TemporalSettings, catalog: Catalog, wait: timedelta) -> str:
    """Hand ``catalog`` to the catalog workflow; returns what changed, as it reports it."""
    from temporalio.client import RPCTimeoutOrCancelledError, WorkflowUpdateFailedError
    from temporalio.service import RPCError

    from engine._client import publish
    from engine._connect import connect

    client = await connect(settings)
    await _check_catalog_queue(client, settings)
    try:
        changed = await asyncio.wait_for(
            publish(client, catalog, settings.task_queue), wait.total_seconds()
        )
    except (TimeoutError, RPCTimeoutOrCancelledError):
        # wait_for cancels the update call, which the SDK reports as its own timeout error.
        raise _Failed(
            f"no worker took the publish within {wait.total_seconds():g}s on task queue"
            f" {settings.task_queue} in {settings.where()}: start `playbook worker` there and"
            " publish again (publishing twice is harmless)"
        ) from None
    except (RPCError, WorkflowUpdateFailedError) as exc:
        detail = exc.cause if isinstance(exc, WorkflowUpdateFailedError) else exc
        raise _Failed(f"publish failed in {settings.where()}: {detail}") from None
    return changed


async def _check_catalog_queue(client: Client, settings: TemporalSettings) -> None:
    """Refuse to publish to a catalog workflow that lives on another task queue.

    The catalog is one workflow per namespace, started on the queue of the first publish.
    Publishing with another ``--task-queue`` would hand the update to that queue's workers
    (and hang if there are none), so a mismatched queue is named instead.
    """
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError, RPCStatusCode

    from engine._catalog import CATALOG_WORKFLOW_ID

    try:
        described = await client.get_workflow_handle(CATALOG_WORKFLOW_ID).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return
        raise _Failed(f"cannot read {CATALOG_WORKFLOW_ID}: {exc.message}") from None
    if (
        described.status == WorkflowExecutionStatus.RUNNING
        and described.task_queue != settings.task_queue
    ):
        raise _Failed(
            f"{CATALOG_WORKFLOW_ID} in namespace {settings.namespace} runs on task queue"
            f" {described.task_queue}, not {settings.task_queue}: publish with"
            f" --task-queue {described.task_queue}"
        )


# The task inbox ------------------------------------------------------------------------------
# `playbook tasks` alone lists (the command people type most); `list`, `ack` and `done` are
# subcommands. The store is the one workers write (DATABASE_URL, or .playbook/playbook.db).

tasks_app = typer.Typer(
    help="The task inbox: list, acknowledge and complete the tasks journeys open.",
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
        " [env: DATABASE_URL]",
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
By = Annotated[
    str | None,
    typer.Option(
        "--by",
        help="Who acts (default: your login name).",
        metavar="PERSON",
        show_default=False,
    ),
]


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
    `playbook tasks done ID` tell the task's journey, which stops escalating.
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
def tasks_ack(
    task_id: TaskId,
    by: By = None,
    database: Database = None,
    address: Address = None,
    namespace: Namespace = None,
    tls: Tls = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_ca: TlsCa = None,
    api_key: ApiKey = None,
) -> None:
    """Acknowledge a task and tell its journey, which stops escalating."""
    settings = _settings(
        address=address,
        namespace=namespace,
        tls=tls,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_ca=tls_ca,
        api_key=api_key,
    )
    _act_on_task("ack", task_id, by, database, settings)


@tasks_app.command(name="done")
def tasks_done(
    task_id: TaskId,
    by: By = None,
    database: Database = None,
    address: Address = None,
    namespace: Namespace = None,
    tls: Tls = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_ca: TlsCa = None,
    api_key: ApiKey = None,
) -> None:
    """Mark a task done and tell its journey (done counts as acknowledged)."""
    settings = _settings(
        address=address,
        namespace=namespace,
        tls=tls,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_ca=tls_ca,
        api_key=api_key,
    )
    _act_on_task("done", task_id, by, database, settings)


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
            task.status,
            task.priority,
            task.due_at.strftime("%Y-%m-%d %H:%M") if task.due_at else "-",
            task.assignee or task.assignee_role,
            task.account_id,
            f"{task.playbook}/{task.step}",
            task.title,
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

    from engine._account import AccountWorkflow
    from engine._client import account_workflow_id
    from engine._connect import connect
    from engine._messages import PlaybookAck

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


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        _fail("cannot tell who you are: give --by PERSON")


Account = Annotated[str, typer.Argument(help="The account id, e.g. acme.")]


@app.command()
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
    address: Address = None,
    namespace: Namespace = None,
    task_queue: TaskQueue = None,
    tls: Tls = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_ca: TlsCa = None,
    api_key: ApiKey = None,
) -> None:
    """Send an account a health reading, attribute changes or a lifecycle event."""
    from engine._operate import build_events, send_events

    settings = _settings(
        address=address, namespace=namespace, task_queue=task_queue, tls=tls,
        tls_cert=tls_cert, tls_key=tls_key, tls_ca=tls_ca, api_key=api_key,
    )  # fmt: skip
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
def ingest(
    file: Annotated[Path, typer.Argument(help="A .jsonl or .csv file of health rows and changes.")],
    address: Address = None,
    namespace: Namespace = None,
    task_queue: TaskQueue = None,
    tls: Tls = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_ca: TlsCa = None,
    api_key: ApiKey = None,
) -> None:
    """Send accounts the rows of a JSONL or CSV file, in order; bad rows are reported by line."""
    from rich.progress import Progress

    from engine._operate import ingest as send_rows
    from engine._operate import read_rows

    settings = _settings(
        address=address, namespace=namespace, task_queue=task_queue, tls=tls,
        tls_cert=tls_cert, tls_key=tls_key, tls_ca=tls_ca, api_key=api_key,
    )  # fmt: skip
    try:
        rows, errors = read_rows(file)
    except PlaybookError as exc:
        _fail(str(exc))
    for error in errors:
        _err.print(error, markup=False)
    if _err.is_terminal and rows:
        with Progress(console=_err, transient=True) as bar:
            task = bar.add_task(f"ingesting {file.name}", total=len(rows))
            sent = _run(send_rows(settings, rows, lambda: bar.advance(task)))
    else:
        sent = _run(send_rows(settings, rows))
    accounts = len({row.account for row in rows})
    print(f"sent {sent} row(s) to {accounts} account(s); {len(errors)} row(s) refused")
    if errors:
        raise typer.Exit(1)


@app.command()
def status(
    account: Account,
    as_json: Annotated[bool, typer.Option("--json", help="Print everything as JSON.")] = False,
    address: Address = None,
    namespace: Namespace = None,
    tls: Tls = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_ca: TlsCa = None,
    api_key: ApiKey = None,
) -> None:
    """An account's health, attributes and journeys: step, escalation tier, who acknowledged."""
    from engine._operate import overview, status_lines

    settings = _settings(
        address=address, namespace=namespace, tls=tls, tls_cert=tls_cert, tls_key=tls_key,
        tls_ca=tls_ca, api_key=api_key,
    )  # fmt: skip
    view = _run(overview(settings, account))
    print(view.model_dump_json(indent=2) if as_json else "\n".join(status_lines(view)))


@app.command()
def why(
    account: Account,
    address: Address = None,
    namespace: Namespace = None,
    tls: Tls = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_ca: TlsCa = None,
    api_key: ApiKey = None,
) -> None:
    """Every decision about an account, oldest first: rule, playbook version, values seen."""
    from engine._operate import overview, why_lines

    settings = _settings(
        address=address, namespace=namespace, tls=tls, tls_cert=tls_cert, tls_key=tls_key,
        tls_ca=tls_ca, api_key=api_key,
    )  # fmt: skip
    print("\n".join(why_lines(_run(overview(settings, account)))))


@app.command()
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
    address: Address = None,
    namespace: Namespace = None,
    tls: Tls = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_ca: TlsCa = None,
    api_key: ApiKey = None,
) -> None:
    """Find accounts by health tier, segment, owner, playbook or escalation tier."""
    from engine._operate import list_accounts

    settings = _settings(
        address=address, namespace=namespace, tls=tls, tls_cert=tls_cert, tls_key=tls_key,
        tls_ca=tls_ca, api_key=api_key,
    )  # fmt: skip
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
    for a in found:
        score = "-" if a.score is None else f"{a.score:g}"
        print(
            "\t".join(
                [
                    a.account_id,
                    score,
                    a.tier or "-",
                    a.trend or "-",
                    a.segment or "-",
                    a.owner or "-",
                ]
            )
        )
    if not found:
        _err.print("no accounts match", markup=False)


@app.command()
def ack(
    account: Account,
    by: By = None,
    playbook: Annotated[
        str | None, typer.Option("--playbook", help="Only this playbook's escalation.")
    ] = None,
    address: Address = None,
    namespace: Namespace = None,
    tls: Tls = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_ca: TlsCa = None,
    api_key: ApiKey = None,
) -> None:
    """Acknowledge an account's escalations (all, or one playbook's): the ladder stops."""
    from engine._messages import PlaybookAck
    from engine._operate import signal_account

    settings = _settings(
        address=address, namespace=namespace, tls=tls, tls_cert=tls_cert, tls_key=tls_key,
        tls_ca=tls_ca, api_key=api_key,
    )  # fmt: skip
    who = by or _login_name()
    _run(signal_account(settings, account, "acknowledge", PlaybookAck(by=who, playbook=playbook)))
    print(f"acknowledged {playbook or 'every escalation'} of {account} as {who}")


@app.command(name="exit")
def exit_(
    account: Account,
    playbook: Annotated[str, typer.Argument(help="The playbook whose journey ends.")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why, for the decision trace and closed tasks.")
    ] = "ended by an operator",
    address: Address = None,
    namespace: Namespace = None,
    tls: Tls = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tls_ca: TlsCa = None,
    api_key: ApiKey = None,
) -> None:
    """End an account's running journey of PLAYBOOK now; its open tasks close with the reason."""
    from engine._messages import PlaybookExit
    from engine._operate import signal_account

    settings = _settings(
        address=address, namespace=namespace, tls=tls, tls_cert=tls_cert, tls_key=tls_key,
        tls_ca=tls_ca, api_key=api_key,
    )  # fmt: skip
    message = PlaybookExit(playbook=playbook, reason=reason)
    _run(signal_account(settings, account, "exit_playbook", message))
    print(f"asked {account} to end {playbook}: {reason}")


def main() -> None:
    """Console entry point: run the app, turning any stray exception into one line."""
    code: int | str | None = 0
    try:
        app()
    except SystemExit as done:
        code = done.code
    except KeyboardInterrupt:
        _err.print("playbook: interrupted")
        code = 130
    except Exception as exc:  # the promise is one line, never a traceback
        if os.environ.get("PLAYBOOK_DEBUG"):
            raise
        _err.print(
            f"playbook: internal error: {type(exc).__name__}: {exc}"
            " (set PLAYBOOK_DEBUG=1 for the traceback)",
            markup=False,
        )
        code = 70
    _exit(code)


def _exit(code: int | str | None) -> None:
    if isinstance(code, str):
        _err.print(code, markup=False)
        code = 1
    if "temporalio.client" not in sys.modules:
        sys.exit(code)
    # The Temporal SDK's Rust threads can outlive the event loop and abort the interpreter
    # as it finalizes ("PyGILState_Release", temporalio/sdk-python#300), turning a clean
    # exit into SIGABRT. Once the SDK was loaded, flush and leave without finalizing.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
