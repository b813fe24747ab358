"""The ``playbook`` command line.

Output is for two readers: people at a terminal get colour and tables (rich), and pipes, CI
logs and editors get plain ``path:line:col: field: message [CODE]`` lines. Every failure a
user can cause ends in one line and a non-zero exit, never a traceback; set
``PLAYBOOK_DEBUG=1`` to see one for a bug in the engine itself.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from engine._errors import Diagnostic
from engine._loader import check
from engine._plan import BranchNode, HealthModelPlan, Node, Plan, WaitForNode
from engine._schema import drifted, write

app = typer.Typer(
    name="playbook",
    help="Customer-success playbooks as code: validate, compile and run them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

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


@app.command()
def validate(
    paths: Annotated[
        list[Path], typer.Argument(help="Playbook files or directories.", show_default=False)
    ],
) -> None:
    """Check playbooks, health models and email templates; print every problem found."""
    result, diagnostics = check(paths)
    _print_diagnostics(diagnostics)
    if diagnostics:
        files = len({d.path for d in diagnostics})
        _err.print(f"{len(diagnostics)} problem(s) in {files} file(s)")
        raise typer.Exit(1)
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


def main() -> None:
    """Console entry point: run the app, turning any stray exception into one line."""
    try:
        app()
    except KeyboardInterrupt:
        _err.print("playbook: interrupted")
        sys.exit(130)
    except Exception as exc:  # the promise is one line, never a traceback
        if os.environ.get("PLAYBOOK_DEBUG"):
            raise
        _err.print(
            f"playbook: internal error: {type(exc).__name__}: {exc}"
            " (set PLAYBOOK_DEBUG=1 for the traceback)",
            markup=False,
        )
        sys.exit(70)
