"""One shard of a backtest in this process, pinned to one CPU, and what it cost.

Run as a script, not a module of the ``bench`` package: bench.simulation starts it once with
this tree's code and once with an earlier commit's (``PYTHONPATH`` says which), so it uses
only what both have: ``engine.load``, ``build_catalog``, the simulation's ``read_rows``,
``resolve_days`` and ``run``. Each side loads the playbooks its own tree ships.

    python bench/_one_shard.py ROWS.jsonl DAYS CPU

It pins itself (and so the test server it starts) to CPU, runs the rows for DAYS days as a
backtest shard does (once more from the start if the test server stops its clock, as a
shard does, and says so), and prints one JSON line: the CPU-seconds of this process and of
its waited-for children (the test servers), the wall seconds, the number of actions and of
runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path


async def _main(rows_file: Path, days: int) -> dict[str, float]:
    from engine import load
    from engine.journeys._catalog import build_catalog
    from workers.simulate.inputs import read_rows, resolve_days
    from workers.simulate.runner import ClockStopped, Scenario, run

    shipped = load([Path("playbooks")])
    catalog = build_catalog(shipped.plans(), shipped.health_plan())  # type: ignore[arg-type]
    rows = read_rows(rows_file)
    start = resolve_days(rows, None, rows_file)
    scenario = Scenario({}, rows, start, days)
    began, runs = time.perf_counter(), 1
    try:
        result = await run(catalog, scenario, query_runs=False)
    except ClockStopped:
        runs += 1
        result = await run(catalog, scenario, query_runs=False)
    wall = time.perf_counter() - began
    mine = resource.getrusage(resource.RUSAGE_SELF)
    theirs = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu": mine.ru_utime + mine.ru_stime + theirs.ru_utime + theirs.ru_stime,
        "wall": wall,
        "actions": len(result.actions),
        "runs": runs,
    }


if __name__ == "__main__":
    os.sched_setaffinity(0, {int(sys.argv[3])})
    print(json.dumps(asyncio.run(_main(Path(sys.argv[1]), int(sys.argv[2])))), flush=True)
    # Like the CLI: the SDK's threads can abort a normal interpreter exit (sdk-python#300).
    os._exit(0)
