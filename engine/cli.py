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
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

# The other command groups register themselves on `app` when imported.
from engine import _cli_accounts, _cli_report, _cli_serve, _cli_simulate, _cli_tasks  # noqa: F401
from engine._cli_base import _err, _fail, _Failed, _out, _run, app, connected
from engine._connect import TemporalSettings
from engine._errors import Diagnostic, PlaybookError
from engine._loader import PlaybookSet, check
from engine._plan import BranchNode, HealthModelPlan, Node, Plan, WaitForNode
from engine._schema import drifted, write

if TYPE_CHECKING:
    from temporalio.client import Client

    from engine._catalog import Catalog


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


# How long in-flight activities get to finish after Ctrl-C or SIGTERM before they are
# cancelled; their retries then run on another worker, keyed so nothing is sent twice.
_GRACE = timedelta(seconds=10)
_log = logging.getLogger("playbook.worker")


@app.command()
@connected()
def worker(
    *,
    settings: TemporalSettings,
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
@connected()
def publish(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Playbook directories or files: the whole set.", show_default=False),
    ],
    *,
    settings: TemporalSettings,
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
