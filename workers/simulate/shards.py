"""A book split across processes: one time-skipping server and one worker per shard.

One test server advances time only when all its workflows are idle, and one Python worker
runs one workflow task at a time, so a book on one server is bound by one core. Splitting
the accounts into shards, each a process with a server of its own, uses the others. Shards
share day 0 (the same moment on every server's clock), so their records merge as if they
had run together. A shard is this module run as a program: it reads its scenario from a
JSON file, prints ``day N`` as it goes, and writes its result as JSON.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from engine._catalog import Catalog
from engine._messages import AccountEvent, AttributeChange, HealthEvent, PlaybookAck, PlaybookExit
from workers.directory import Directory
from workers.simulate.inputs import Message, TimedRow
from workers.simulate.runner import Result, Scenario, SimulationError, next_midnight, run

_KINDS: dict[str, type[Any]] = {
    "health": HealthEvent,
    "attributes": AttributeChange,
    "lifecycle": AccountEvent,
    "ack": PlaybookAck,
    "exit": PlaybookExit,
}
_NAMES = {kind: name for name, kind in _KINDS.items()}


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
    people: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> Result:
    """Run ``scenario`` in ``shards`` processes and merge what they recorded."""
    if shards <= 1:
        directory = Directory.load(people) if people else Directory.from_environment()
        return await run(
            catalog, scenario, directory=directory, progress=progress, query_runs=False
        )
    t0 = next_midnight(datetime.now(UTC))
    parts = split(scenario, shards)
    done = [0] * len(parts)
    with tempfile.TemporaryDirectory(prefix="playbook-shards-") as tmp:

        async def one(index: int, part: Scenario) -> Result:
            source, target = Path(tmp) / f"in-{index}.json", Path(tmp) / f"out-{index}.json"
            source.write_text(_dump(catalog, part, t0, people), encoding="utf-8")
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "workers.simulate.shards",
                str(source),
                str(target),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            assert child.stdout is not None and child.stderr is not None
            async for raw in child.stdout:
                text = raw.decode().strip()
                if text.startswith("day ") and progress is not None:
                    done[index] = int(text.split()[1])
                    progress(min(done))
            error = (await child.stderr.read()).decode().strip().splitlines()
            if await child.wait() != 0:
                raise SimulationError(f"shard {index + 1}: {error[-1] if error else 'failed'}")
            return Result.model_validate_json(target.read_text(encoding="utf-8"))

        results = await asyncio.gather(*(one(i, p) for i, p in enumerate(parts)))
    return merge(list(results))


def merge(results: list[Result]) -> Result:
    """One result from shards that shared day 0; wall time is the slowest shard's."""
    first = results[0]
    return first.model_copy(
        update={
            "actions": sorted((a for r in results for a in r.actions), key=lambda a: a.at),
            "closed": [c for r in results for c in r.closed],
            "accounts": {k: v for r in results for k, v in r.accounts.items()},
            "runs": {k: v for r in results for k, v in r.runs.items()},
            "notes": [n for r in results for n in r.notes],
            "wall_seconds": max(r.wall_seconds for r in results),
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


async def _shard(source: Path, target: Path) -> None:
    catalog, scenario, t0, people = _load(source.read_text(encoding="utf-8"))
    directory = Directory.load(people) if people else Directory.from_environment()

    def progress(day: int) -> None:
        print(f"day {day}", flush=True)

    result = await run(
        catalog, scenario, directory=directory, progress=progress, query_runs=False, t0=t0
    )
    target.write_text(result.model_dump_json(), encoding="utf-8")


if __name__ == "__main__":
    # A shard holds hundreds of cached workflows, each with its sandbox's modules: the
    # default thresholds run a full collection over all of them every few thousand
    # allocations (about 8% of the CPU of a 250-account book). A shard lives minutes.
    gc.set_threshold(50_000, 50, 1_000)
    try:
        asyncio.run(_shard(Path(sys.argv[1]), Path(sys.argv[2])))
    # Whatever went wrong, the parent shows it as one line; a shard has no one else to tell.
    except Exception as error:  # noqa: BLE001
        print(f"{type(error).__name__}: {error}", file=sys.stderr, flush=True)
        os._exit(1)
    # Like the CLI: the SDK's threads can abort a normal interpreter exit.
    sys.stdout.flush()
    os._exit(0)
