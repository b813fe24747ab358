"""Simulation commands: ``simulate`` (one account, or two versions compared), ``backtest``
(a book of accounts) and ``generate-book`` (a synthetic book to backtest). The work is in
``workers.simulate``; these are its Typer doors. Nothing here needs a Temporal server: each
run starts its own time-skipping test server and stops it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from engine.client._connect import TemporalSettings
from engine.language._errors import PlaybookError
from playbook_cli._base import _err, _fail, _Failed, _out, _run, app, connected

if TYPE_CHECKING:
    from engine.dashboard._lift import ExperimentLift
    from engine.journeys._catalog import Catalog
    from workers.directory import Directory
    from workers.simulate.book import Plant
    from workers.simulate.inputs import TimedRow
    from workers.simulate.report import Entry
    from workers.simulate.runner import Result

Playbooks = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Playbook files or directories (default: playbooks).",
        show_default=False,
        readable=False,
    ),
]
Days = Annotated[
    int | None,
    typer.Option(
        "--days", help="Days to run (default: 30 past the last event, at least 90).", min=1
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
People = Annotated[
    Path | None,
    typer.Option(
        "--people",
        help="People directory (YAML) for names and managers [env: PLAYBOOK_DIRECTORY].",
        metavar="FILE",
    ),
]


def _catalog(paths: list[Path]) -> Catalog:
    """The compiled set at ``paths``; every diagnostic printed and exit 1 when invalid."""
    from engine.journeys._catalog import build_catalog
    from engine.language._loader import check

    result, diagnostics = check(paths)
    for diagnostic in diagnostics:
        _err.print(str(diagnostic), markup=False)
    if diagnostics:
        _fail(f"{len(diagnostics)} problem(s) in the playbooks: fix them to simulate")
    health = result.health_plan()
    if not result.playbooks or health is None:
        _fail(f"no playbooks to simulate in {' '.join(map(str, paths))}")
    return build_catalog(result.plans(), health, result.contact_plan())


def _inputs_or_fail(error: PlaybookError) -> None:
    from workers.simulate.inputs import InputError

    lines = error.lines if isinstance(error, InputError) else [str(error)]
    for text in lines[:-1]:
        _err.print(f"playbook: {text}", markup=False)
    _fail(lines[-1])


def _directory(path: Path | None) -> Directory:
    from workers.directory import Directory, DirectoryError

    try:
        return Directory.load(path) if path else Directory.from_environment()
    except DirectoryError as error:
        _fail(str(error))


def _default_days(rows: list[TimedRow]) -> int:
    last = max((row.day or 0 for row in rows), default=0)
    return max(last + 30, 90)


async def _published(settings: TemporalSettings) -> Catalog:
    """The catalog published to Temporal: what new enrollments get there today."""
    from temporalio.service import RPCError

    from engine.client._connect import connect
    from engine.journeys._catalog import CATALOG_WORKFLOW_ID, CatalogWorkflow

    client = await connect(settings)
    try:
        catalog: Catalog | None = await client.get_workflow_handle(CATALOG_WORKFLOW_ID).query(
            CatalogWorkflow.current
        )
    except RPCError as error:
        raise _Failed(f"cannot read the published playbooks: {error.message}") from None
    if catalog is None:
        raise _Failed(f"nothing published in {settings.where()}: run `playbook publish DIR`")
    return catalog


@app.command()
@connected(task_queue=False)
def simulate(
    playbooks: Playbooks = None,
    *,
    settings: TemporalSettings,
    published: Annotated[
        bool,
        typer.Option(
            "--published",
            help="Simulate the set published to Temporal (connection flags below) instead.",
        ),
    ] = False,
    account: Annotated[
        Path, typer.Option("--account", help="The account (YAML or JSON).", metavar="FILE")
    ],
    timeline: Annotated[
        Path | None,
        typer.Option(
            "--timeline", help="Its events by day or date (JSONL or CSV).", metavar="FILE"
        ),
    ] = None,
    days: Days = None,
    compare: Annotated[
        tuple[Path, Path] | None,
        typer.Option(
            "--compare",
            help="Run two versions (files or directories) and print where they differ.",
            metavar="OLD NEW",
            readable=False,
        ),
    ] = None,
    as_json: AsJson = False,
    people: People = None,
) -> None:
    """Run playbooks against one account on a time-skipping server and print its timeline.

    The real account and journey workflows run, months in seconds; actions are recorded
    with their rendered subject or title and recipients, and nothing is sent. The connection
    flags are only read with --published.
    """
    from workers.simulate.inputs import read_account, read_rows, resolve_days
    from workers.simulate.runner import Scenario

    try:
        who = read_account(account)
        rows = read_rows(timeline, who.id) if timeline else []
        start = resolve_days(rows, who.start, timeline or account)
    except PlaybookError as error:
        _inputs_or_fail(error)
    scenario = Scenario(
        accounts={who.id: who.attributes},
        rows=rows,
        start=start,
        days=days or _default_days(rows),
    )
    directory = _directory(people)
    if published and (playbooks or compare):
        _fail("--published simulates the published set: give no playbook paths or --compare")
    if compare is None:
        catalog = (
            _run(_published(settings)) if published else _catalog(playbooks or [Path("playbooks")])
        )
        result = _run(_simulate(catalog, scenario, directory))
        _print_timeline(result, as_json)
        return
    if playbooks:
        _fail("give either playbook paths or --compare OLD NEW, not both")
    old, new = (_catalog([path]) for path in compare)
    before = _run(_simulate(old, scenario, directory))
    after = _run(_simulate(new, scenario, directory))
    _print_diff(before, after, compare, as_json)


async def _simulate(catalog: Catalog, scenario: Any, directory: Directory) -> Result:
    from workers.simulate.runner import run

    return await run(catalog, scenario, directory=directory)


def _print_timeline(result: Result, as_json: bool) -> None:
    from workers.simulate.report import line, timeline

    entries = timeline(result)
    if as_json:
        print(
            json.dumps(
                {
                    "start": result.start.isoformat(),
                    "days": result.days,
                    "wall_seconds": round(result.wall_seconds, 3),
                    "notes": result.notes,
                    "timeline": [e.model_dump(mode="json") for e in entries],
                },
                indent=2,
            )
        )
        return
    if _out.is_terminal:
        _table(entries)
    else:
        for entry in entries:
            print(line(entry))
    for note in result.notes:
        _err.print(f"note: {note}", markup=False)
    _err.print(
        f"{result.days} days from {result.start} simulated in {result.wall_seconds:.2f}s:"
        f" {len(entries)} entries, {len(result.actions)} actions (none sent)",
        markup=False,
    )


def _table(entries: list[Entry]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table("day", "date", "playbook", "what", "step", "detail")
    colour = {"escalated": "red", "sla_missed": "red", "acknowledged": "green", "goal": "green"}
    for e in entries:
        detail = e.detail
        if e.action:
            detail = f"{e.action} to {', '.join(e.to) or '-'}: {e.subject or ''}"
            if e.kind == "action_failed":
                detail += f" [red]FAILED[/]: {escape(e.detail)}"
        detail = escape(detail) if e.kind != "action_failed" else detail
        if e.seen:
            detail += f" [dim]saw {escape(json.dumps(e.seen, sort_keys=True, default=str))}[/]"
        kind = e.kind if e.kind not in colour else f"[{colour[e.kind]}]{e.kind}[/]"
        table.add_row(str(e.day), e.at.date().isoformat(), e.playbook, kind, escape(e.step), detail)
    _out.print(table)


def _print_diff(before: Result, after: Result, paths: tuple[Path, Path], as_json: bool) -> None:
    from workers.simulate.report import diff, timeline

    changes = diff(timeline(before), timeline(after))
    if as_json:
        print(json.dumps({"old": str(paths[0]), "new": str(paths[1]), "differences": changes}))
        return
    if not changes:
        print(f"no differences: {paths[0]} and {paths[1]} run the same journey")
        return
    print(f"--- {paths[0]}\n+++ {paths[1]}")
    for change in changes:
        print(change)
    _err.print(f"{len(changes)} line(s) differ", markup=False)


@app.command()
def backtest(
    book: Annotated[Path, typer.Argument(help="Events of many accounts (JSONL or CSV).")],
    *,
    playbooks: Annotated[
        list[Path] | None,
        typer.Option(
            "--playbooks",
            help="Playbook set (default: playbooks).",
            metavar="PATH",
            readable=False,
        ),
    ] = None,
    outcomes: Annotated[
        Path | None,
        typer.Option(
            "--outcomes", help="Who churned, renewed or expanded, and when.", metavar="FILE"
        ),
    ] = None,
    days: Days = None,
    shards: Annotated[
        int | None,
        typer.Option(
            "--shards",
            help="Pieces the book is split into, each on its own test server"
            " (default: one per 50 accounts).",
            min=1,
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", help="Processes running shards at once (default: one per CPU).", min=1
        ),
    ] = None,
    as_json: AsJson = False,
    people: People = None,
    horizon: Annotated[
        str,
        typer.Option(
            "--horizon",
            help="Experiments: how long after enrollment outcomes count, e.g. 90d.",
            metavar="DAYS",
        ),
    ] = "90d",
) -> None:
    """Run a book of accounts through the playbooks and report what each would have done,
    and, with --outcomes, each playbook experiment's outcomes per arm."""
    from engine.dashboard._lift import parse_horizon
    from workers.simulate.inputs import read_outcomes, read_rows, resolve_days
    from workers.simulate.runner import Scenario

    try:
        within = parse_horizon(horizon)
        rows = read_rows(book)
        start = resolve_days(rows, None, book)
        known = read_outcomes(outcomes) if outcomes else None
    except PlaybookError as error:
        _inputs_or_fail(error)
    for outcome in known or []:
        if outcome.on is not None:
            outcome.day = (outcome.on - start).days
    catalog = _catalog(playbooks or [Path("playbooks")])
    scenario = Scenario(accounts={}, rows=rows, start=start, days=days or _default_days(rows))
    _directory(people)  # a bad directory file is one line now, not one per shard
    from workers.simulate.shards import default_shards

    count = shards or default_shards(scenario)
    result = _run(_backtest(catalog, scenario, people, count, jobs, show=not as_json))
    from workers.simulate.backtest import report

    summary = report(result, known, catalog.plans, within)
    if as_json:
        print(summary.model_dump_json(indent=2))
        return
    _print_backtest(summary)
    _print_experiments(summary.experiments)


async def _backtest(
    catalog: Catalog, scenario: Any, people: Path | None, shards: int, jobs: int | None, show: bool
) -> Result:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from workers.simulate.shards import run_sharded

    accounts = len({row.account for row in scenario.rows})
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err,
        disable=not (show and _err.is_terminal),
        transient=True,
    ) as bar:
        task = bar.add_task(f"{accounts} accounts, day", total=scenario.days + 1)
        return await run_sharded(
            catalog,
            scenario,
            shards,
            jobs=jobs,
            people=people,
            progress=lambda day: bar.update(task, completed=day + 1),
        )


def _print_backtest(summary: Any) -> None:
    from rich.table import Table

    caught = any(p.churners is not None for p in summary.playbooks)
    headers = ["playbook", "entered", "median day", "tasks", "emails", "per CSM/week", "tiers"]
    if caught:
        headers += ["churners caught", "median warning", "not churned flagged"]
    rows = []
    for p in summary.playbooks:
        row = [
            p.playbook,
            f"{p.accounts_entered} ({p.enrollments} runs)",
            "-" if p.median_entry_day is None else f"{p.median_entry_day:g}",
            str(p.tasks),
            str(p.emails),
            f"{p.per_csm_week_mean:g} (max {p.per_csm_week_max:g})",
            ", ".join(f"{tier} {n}" for tier, n in p.tiers.items()) or "-",
        ]
        if caught:
            row += [
                f"{p.churners_caught}/{p.churners}",
                "-" if p.median_warning_days is None else f"{p.median_warning_days:g} days",
                f"{p.not_churned_flagged}/{p.not_churned}",
            ]
        rows.append(row)
    if _out.is_terminal:
        table = Table(*headers)
        for row in rows:
            table.add_row(*row)
        _out.print(table)
    else:
        print("\t".join(headers))
        for row in rows:
            print("\t".join(row))
    for note in summary.notes:
        _err.print(f"note: {note}", markup=False)
    _err.print(
        f"{summary.accounts} accounts x {summary.days} days from {summary.start} in"
        f" {summary.wall_seconds:g}s ({summary.account_days_per_second:g} account-days/s)",
        markup=False,
    )


@app.command(name="generate-book")
def generate_book(
    out: Annotated[Path, typer.Option("--out", help="Directory to write into.", metavar="DIR")],
    accounts: Annotated[int, typer.Option("--accounts", help="How many accounts.", min=1)] = 1000,
    days: Annotated[int, typer.Option("--days", help="Days of history.", min=7)] = 365,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same book.")] = 7,
    plant: Annotated[
        Path | None,
        typer.Option(
            "--plant",
            help="A playbook file with an experiment: plant a known effect on one of its arms.",
            metavar="FILE",
        ),
    ] = None,
    plant_churn: Annotated[
        float,
        typer.Option(
            "--plant-churn",
            help="With --plant: change of the arm's churn probability, e.g. -0.3.",
            min=-1.0,
            max=1.0,
        ),
    ] = -0.2,
    plant_arm: Annotated[
        str, typer.Option("--plant-arm", help="With --plant: the arm that gets the effect.")
    ] = "treated",
    mix: Annotated[
        str | None,
        typer.Option(
            "--mix",
            help="Health trajectories and their shares, e.g. crash=1 or decay=1,crash=1"
            " (default improve=0.25,stable=0.4,decay=0.25,crash=0.1).",
            metavar="NAME=SHARE,...",
        ),
    ] = None,
) -> None:
    """Write a synthetic book (book.jsonl) and its outcomes (outcomes.jsonl) to backtest;
    with --plant, a known effect of a playbook's experiment (described in plant.json)."""
    from workers.simulate.book import generate

    planted = _plant(plant, plant_churn, plant_arm) if plant is not None else None
    made = generate(accounts, days, seed, plant=planted, mix=_mix(mix) if mix else None)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, rows in (("book.jsonl", made.rows), ("outcomes.jsonl", made.outcomes)):
            with (out / name).open("w", encoding="utf-8") as file:
                file.writelines(json.dumps(row, sort_keys=True) + "\n" for row in rows)
        if planted is not None:
            described = {
                "playbook": planted.playbook,
                "experiment": planted.experiment.name,
                "arm": planted.arm,
                "churn": planted.churn,
            }
            (out / "plant.json").write_text(json.dumps(described, indent=2) + "\n")
    except OSError as error:
        _fail(f"{out}: cannot write: {error.strerror}")
    print(
        f"wrote {out / 'book.jsonl'} ({len(made.rows)} events of {accounts} accounts over"
        f" {days} days) and {out / 'outcomes.jsonl'} ({len(made.outcomes)} outcomes)"
    )


def _plant(path: Path, churn: float, arm: str) -> Plant:
    """The effect to plant: the experiment of the one playbook in ``path``, and its arm."""
    from playbook_cli._playbooks import _checked
    from workers.simulate.book import Plant

    found = _checked([path])
    books = [found.plan(name) for name in sorted(found.playbooks)]
    with_experiment = [p for p in books if p.experiment is not None]
    if len(with_experiment) != 1:
        _fail(
            f"{path}: --plant needs one playbook with an experiment, found {len(with_experiment)}"
        )
    plan = with_experiment[0]
    assert plan.experiment is not None
    arms = [name for name, _ in plan.experiment.arms()]
    if arm not in arms:
        _fail(f"--plant-arm {arm!r}: {plan.name}'s experiment has the arms {', '.join(arms)}")
    return Plant(playbook=plan.name, experiment=plan.experiment, arm=arm, churn=churn)


def _print_experiments(lifts: list[ExperimentLift]) -> None:
    from engine.dashboard._lift import table

    for _, title, _, rows in table(lifts):
        print(f"\n== {title}")
        for _, cells in rows:
            print("\t".join(cells))


def _mix(text: str) -> dict[str, float]:
    """``crash=1,decay=0.5`` as shares by trajectory; one line and exit 1 when it is not."""
    from workers.simulate.book import TRAJECTORIES

    names = [name for name, _ in TRAJECTORIES]
    shares: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if name not in names or not 0 <= share <= 1e6 or name in shares:
            _fail(f"--mix {text[:60]!r}: write NAME=SHARE,... with names from {', '.join(names)}")
        shares[name] = share
    if not sum(shares.values()) > 0:
        _fail(f"--mix {text[:60]!r}: the shares sum to 0")
    return shares
