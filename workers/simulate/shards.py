"""A book split across processes: one time-skipping server and one worker per shard.

One test server advances time only when all its workflows are idle, and one Python worker
runs one workflow task at a time, so a book on one server is bound by one core. Splitting
the accounts into shards, each with a server of its own, uses the others. Shards are small
(about 50 accounts) because both the test server and the worker cost more per workflow task
the more workflows they hold, and run a few at a time (one process per CPU, pinned to it
with the server it starts) because more busy processes than cores cost more CPU for the
same work (measured in README: Simulate and backtest). Each process runs its share of the
shards one after another, each on a fresh server. Shards share day 0 (the same moment on
every server's clock), so their records merge as if they had run together.
A shard process is this module run as a program: it reads each shard's scenario from a JSON
file, prints ``SHARD day N`` as it goes, and writes each result as JSON.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from engine.journeys._catalog import Catalog
from engine.journeys._messages import (
    AccountEvent,
    AttributeChange,
    HealthEvent,
    OverrideRequest,
    PlaybookAck,
    PlaybookExit,
)
from workers.directory import Directory
from workers.simulate.inputs import Message, TimedRow
from workers.simulate.runner import (
    ClockStopped,
    Result,
    Scenario,
    SimulationError,
    next_midnight,
    run,
)

_KINDS: dict[str, type[Any]] = {
    "health": HealthEvent,
    "attributes": AttributeChange,
    "lifecycle": AccountEvent,
    "ack": PlaybookAck,
    "exit": PlaybookExit,
    "override": OverrideRequest,
}
_NAMES = {kind: name for name, kind in _KINDS.items()}
SHARD_ACCOUNTS = 50
"""Accounts per shard unless told otherwise: 1,000 accounts x 365 days on 2 cores took 267 s
in shards of 50 two at a time (235 s pinned to CPUs), 390 s in 6 shards of 167 at once."""


def default_shards(scenario: Scenario) -> int:
    """One shard per ``SHARD_ACCOUNTS`` accounts, at least one."""
    return max(1, -(-len(scenario.names()) // SHARD_ACCOUNTS))


def split(scenario: Scenario, shards: int) -> list[Scenario]:
    """``shards`` scenarios with the accounts dealt round-robin (in order of appearance)."""
    order = list(dict.fromkeys([*scenario.accounts, *(row.account for row in scenario.rows)]))
    home = {account: index % shards for index, account in enumerate(order)}
    parts = [
        Scenario(
            accounts={a: v for a, v in scenario.accounts.items() if home[a] == i},
            rows=[r for r in scenario.rows if home[r.account] == i],
            start=scenario.start,
            days=scenario.days,
        )
        for i in range(min(shards, len(order)))
    ]
    return [p for p in parts if p.rows or p.accounts]


async def run_sharded(
    catalog: Catalog,
    scenario: Scenario,
    shards: int,
    *,
    jobs: int | None = None,
    people: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> Result:
    """Run ``scenario`` in ``shards`` shards, ``jobs`` processes at a time (default: one per
    CPU), and merge what they recorded."""
    if shards <= 1:
        directory = Directory.load(people) if people else Directory.from_environment()
        return await _run_once_more_if_stopped(
            catalog, scenario, "the book", directory=directory, progress=progress
        )
    began = time.perf_counter()
    # A day's margin: the last shards start minutes after the first, and day 0 must still be
    # ahead of every server's clock when it starts.
    t0 = next_midnight(datetime.now(UTC) + timedelta(days=1))
    parts = split(scenario, shards)
    cpus = _cpus()
    processes = max(1, min(jobs or default_jobs(), len(parts)))
    sizes = [len(part.names()) for part in parts]
    done = [0] * len(parts)

    def advanced(index: int, day: int) -> None:
        done[index] = day
        if progress is not None:
            progress(sum(d * n for d, n in zip(done, sizes, strict=True)) // sum(sizes))

    with tempfile.TemporaryDirectory(prefix="playbook-shards-") as tmp:
        folder = Path(tmp)
        for index, part in enumerate(parts):
            (folder / f"in-{index}.json").write_text(
                _dump(catalog, part, t0, people), encoding="utf-8"
            )
        tasks = [
            asyncio.create_task(
                _process(
                    folder,
                    list(range(job, len(parts), processes)),
                    cpus[job % len(cpus)] if cpus else None,
                    advanced,
                )
            )
            for job in range(processes)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            # One shard failed: the others stop too (cancelling kills their processes).
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        results = [
            Result.model_validate_json((folder / f"out-{i}.json").read_text(encoding="utf-8"))
            for i in range(len(parts))
        ]
    return merge(results, time.perf_counter() - began)


def default_jobs() -> int:
    """One process per CPU this process may use."""
    return len(_cpus()) or os.cpu_count() or 1


def _cpus() -> list[int]:
    """The CPUs this process may run on (all of a container's, not the host's), where the
    platform can pin a process to one."""
    if not hasattr(os, "sched_getaffinity"):
        return []
    return sorted(os.sched_getaffinity(0))


async def _process(
    folder: Path, indexes: list[int], cpu: int | None, advanced: Callable[[int, int], None]
) -> None:
    """One process running the shards ``indexes`` one after another, on ``cpu`` only."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers.simulate.shards",
        str(folder),
        "-" if cpu is None else str(cpu),
        *map(str, indexes),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    current = indexes[0]
    try:
        async for raw in child.stdout:
            words = raw.decode().split()
            if len(words) == 3 and words[1] == "day":
                current = int(words[0])
                advanced(current, int(words[2]))
        error = (await child.stderr.read()).decode().strip().splitlines()
        if await child.wait() != 0:
            raise SimulationError(f"shard {current + 1}: {error[-1] if error else 'failed'}")
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


def merge(results: list[Result], wall_seconds: float) -> Result:
    """One result from shards that shared day 0, run in ``wall_seconds`` in all."""
    first = results[0]
    return first.model_copy(
        update={
            "actions": sorted((a for r in results for a in r.actions), key=lambda a: a.at),
            "closed": [c for r in results for c in r.closed],
            "accounts": {k: v for r in results for k, v in r.accounts.items()},
            "runs": {k: v for r in results for k, v in r.runs.items()},
            "notes": [n for r in results for n in r.notes],
            "wall_seconds": wall_seconds,
        }
    )


def _dump(catalog: Catalog, scenario: Scenario, t0: datetime, people: Path | None) -> str:
    rows = [
        {
            "line": row.line,
            "account": row.account,
            "day": row.day,
            "messages": [[_NAMES[type(m)], m.model_dump(mode="json")] for m in row.messages],
        }
        for row in scenario.rows
    ]
    return json.dumps(
        {
            "catalog": catalog.model_dump(mode="json"),
            "accounts": scenario.accounts,
            "rows": rows,
            "start": scenario.start.isoformat(),
            "days": scenario.days,
            "t0": t0.isoformat(),
            "people": str(people) if people else None,
        }
    )


def _load(text: str) -> tuple[Catalog, Scenario, datetime, Path | None]:
    data = json.loads(text)
    rows = [
        TimedRow(
            line=row["line"],
            account=row["account"],
            day=row["day"],
            on=None,
            messages=[_message(kind, body) for kind, body in row["messages"]],
        )
        for row in data["rows"]
    ]
    scenario = Scenario(
        accounts=data["accounts"],
        rows=rows,
        start=date.fromisoformat(data["start"]),
        days=data["days"],
    )
    people = Path(data["people"]) if data["people"] else None
    catalog = Catalog.model_validate(data["catalog"])
    return catalog, scenario, datetime.fromisoformat(data["t0"]), people


def _message(kind: str, body: dict[str, Any]) -> Message:
    adapter: TypeAdapter[Message] = TypeAdapter(_KINDS[kind])
    return adapter.validate_python(body)


async def _run_once_more_if_stopped(
    catalog: Catalog, scenario: Scenario, label: str, **options: Any
) -> Result:
    """``run``, and if the test server stops moving time, once more from the start on a fresh
    server (the timing that trips it is chance); the result's notes say so."""
    try:
        return await run(catalog, scenario, query_runs=False, **options)
    except ClockStopped as stopped:
        result = await run(catalog, scenario, query_runs=False, **options)
        result.notes.append(f"{label} ran twice: {stopped}")
        return result


async def _shards(folder: Path, indexes: list[int]) -> None:
    for index in indexes:
        source = folder / f"in-{index}.json"
        catalog, scenario, t0, people = _load(source.read_text(encoding="utf-8"))
        directory = Directory.load(people) if people else Directory.from_environment()

        def progress(day: int, index: int = index) -> None:
            print(f"{index} day {day}", flush=True)

        result = await _run_once_more_if_stopped(
            catalog, scenario, f"shard {index + 1}", directory=directory, progress=progress, t0=t0
        )
        (folder / f"out-{index}.json").write_text(result.model_dump_json(), encoding="utf-8")
        del result
        # The finished shard's workflows are garbage now; the next shard starts clean.
        gc.collect()


if __name__ == "__main__":
    # A shard holds hundreds of cached workflows, each with its sandbox's modules: the
    # default thresholds run a full collection over all of them every few thousand
    # allocations (about 8% of the CPU of a 250-account book). A shard lives minutes.
    gc.set_threshold(50_000, 50, 1_000)
    # One CPU for the process and the test server it starts (which inherits it): a worker
    # and its server take turns, and kept on one core they pay no migrations between cores
    # nor cold caches (a 300-account book, two at a time: 71 s pinned, 84-98 s not).
    if sys.argv[2] != "-":
        os.sched_setaffinity(0, {int(sys.argv[2])})
    try:
        asyncio.run(_shards(Path(sys.argv[1]), [int(i) for i in sys.argv[3:]]))
    # Whatever went wrong, the parent shows it as one line; a shard has no one else to tell.
    except Exception as error:  # noqa: BLE001
        print(f"{type(error).__name__}: {error}", file=sys.stderr, flush=True)
        os._exit(1)
    # Like the CLI: the SDK's threads can abort a normal interpreter exit.
    sys.stdout.flush()
    os._exit(0)
