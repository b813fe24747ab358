"""Commands on playbook sets: ``validate``, ``compile``, ``schema`` and ``publish``.

Output is for two readers: people at a terminal get colour and tables (rich), and pipes, CI
logs and editors get plain ``path:line:col: field: message [CODE]`` lines.
"""

from __future__ import annotations

import asyncio
import json
import math
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from engine.client._connect import TemporalSettings
from engine.language._errors import Diagnostic
from engine.language._loader import PlaybookSet, check
from engine.language._plan import (
    ApprovalNode,
    BranchNode,
    HealthModelPlan,
    Node,
    Plan,
    WaitForNode,
)
from engine.language._schema import drifted, write
from playbook_cli._base import _err, _fail, _Failed, _out, _run, app, connected

if TYPE_CHECKING:
    from temporalio.client import Client

    from engine.journeys._catalog import Catalog


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
        list[Path],
        typer.Argument(help="Playbook files or directories.", show_default=False, readable=False),
    ],
) -> None:
    """Check playbooks, health models and email templates; print every problem found."""
    result = _checked(paths)
    summary = f"{len(result.playbooks)} playbook(s) valid"
    _err.print(f"[green]ok[/]: {summary}" if _err.is_terminal else f"ok: {summary}")


@app.command(name="compile")
def compile_(
    file: Annotated[Path, typer.Argument(help="A playbook or health model file.", readable=False)],
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
        for segment, tiers in (plan.tiers_by_segment or {}).items():
            print(f"tiers of {segment}: {', '.join(f'{t.name} >= {t.min:g}' for t in tiers)}")
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
    if isinstance(node, ApprovalNode):
        return (
            f"approve -> {node.on_approve or 'end'}, reject -> {node.on_reject or 'end'},"
            f" timeout -> {node.on_timeout or 'end'}"
        )
    return f"-> {node.next or 'end'}"


@app.command()
def schema(
    check_only: Annotated[
        bool, typer.Option("--check", help="Exit 1 if the files differ from the models.")
    ] = False,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the schemas live.", file_okay=False)
    ] = Path("schemas"),
) -> None:
    """Write the JSON Schemas editors use, or check that the committed ones are current."""
    if check_only:
        stale = drifted(directory)
        if stale:
            _fail(f"schemas out of date: {', '.join(map(str, stale))}; run `playbook schema`")
        print(f"schemas in {directory} are current")
        return
    try:
        written = write(directory)
    except OSError as exc:
        _fail(f"cannot write schemas to {directory}: {exc.strerror or exc}")
    for path in written:
        print(f"wrote {path}")


MAX_WAIT = 3600.0


def _wait_seconds(value: float) -> float:
    # Checked here, not by a FloatRange: nan passes every comparison a range makes, and
    # inf or 1e300 seconds overflow the timedelta the wait becomes.
    if not (math.isfinite(value) and 0 < value <= MAX_WAIT):
        raise typer.BadParameter(
            f"must be more than 0 and at most {MAX_WAIT:g} seconds, not {value:g}"
        )
    return value


@app.command()
@connected()
def publish(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Playbook directories or files: the whole set.",
            show_default=False,
            readable=False,
        ),
    ],
    *,
    settings: TemporalSettings,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            help="Seconds to wait for a worker to take the publish"
            f" (more than 0, at most {MAX_WAIT:g}).",
            metavar="SECONDS",
            callback=_wait_seconds,
        ),
    ] = 30.0,
) -> None:
    """Validate a playbook set and make it the one new enrollments use.

    Running journeys keep the plan they started with. Publishing the same set again changes
    nothing.
    """
    result = _checked(paths)
    health = result.health_plan()
    # An empty catalog would retire every playbook at once; that is never what a publish
    # of a directory means. (A set with playbooks always has a health model: `check` says so.)
    if not result.playbooks or health is None:
        _fail(f"nothing to publish: no playbooks in {' '.join(map(str, paths))}")
    from engine.journeys._catalog import build_catalog

    catalog = build_catalog(result.plans(), health, result.contact_plan())
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

    from engine.client._connect import connect
    from engine.client._start import publish

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

    from engine.journeys._catalog import CATALOG_WORKFLOW_ID

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
