"""``playbook report``: the customer-success dashboard in the terminal.

The numbers come from ``workers.dashboard_sources`` (Temporal visibility and the store), the
layout from ``engine.dashboard._view``, shared with the page ``playbook api`` serves.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from engine.client._connect import TemporalSettings
from engine.language._errors import PlaybookError
from playbook_cli._base import _fail, _out, _run, app, connected
from playbook_cli._tasks import Database, _open_store

if TYPE_CHECKING:
    from engine.dashboard._numbers import Report

PeriodOption = Annotated[
    str,
    typer.Option(
        "--period",
        help="30d, 90d (up to now) or START..END, e.g. 2026-01-01..2026-03-31 (end included).",
        metavar="PERIOD",
    ),
]


@app.command()
@connected(task_queue=False)
def report(
    period: PeriodOption = "90d",
    as_json: Annotated[bool, typer.Option("--json", help="Print every number as JSON.")] = False,
    horizon: Annotated[
        str,
        typer.Option(
            "--horizon",
            help="Experiments: how long after enrollment outcomes count, e.g. 90d or 12w.",
            metavar="DAYS",
        ),
    ] = "90d",
    database: Database = None,
    *,
    settings: TemporalSettings,
) -> None:
    """The dashboard: health, risk, escalations, renewals, retention, onboarding, playbooks,
    and each experiment's outcomes per arm."""
    from engine.client._connect import connect
    from engine.dashboard._lift import parse_horizon
    from engine.dashboard._period import parse_period
    from engine.dashboard._view import plain_lines, sections, title
    from workers.dashboard_sources import report as build
    from workers.settings import dashboard_settings

    now = datetime.now(UTC)
    try:
        window = parse_period(period, now)
        within = parse_horizon(horizon)
        targets = dashboard_settings(os.environ)
    except PlaybookError as exc:
        _fail(str(exc))
    with _open_store(database) as store:

        async def work() -> Report:
            return await build(await connect(settings), store, window, now, targets, within)

        result = _run(work())
    if as_json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
        return
    if not _out.is_terminal:
        print("\n".join(plain_lines(result)))
        return
    _out.print(title(result), style="bold", markup=False)
    for section in sections(result):
        table = Table(title=section.title, title_justify="left", show_edge=False)
        for header in section.headers:
            table.add_column(header)
        for row in section.rows:
            table.add_row(*row.cells)
        if not section.rows:
            table.add_row("(none)")
        _out.print()
        _out.print(table)
