"""How long a suite of PlaybookTests takes: 20 tests (goal: under 30 s on 2 cores).

The suite is the shipped tests, copied under new names until there are COUNT (20 by
default), run as `playbook test` runs them. Against two floors measured in the same run:
one shipped test alone, times COUNT (the suite with no parallelism), and the bare cost of a
simulation (a fresh test server and worker with nothing to do), times COUNT.

    .venv/bin/python -m bench.playbook_tests [--count 20] [--jobs N]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

from bench._results import write
from engine import load
from engine.journeys._catalog import build_catalog
from workers.simulate.runner import Scenario, run
from workers.simulate.suite import run_tests

ROOT = Path(__file__).parents[1]


def _suite(folder: Path, count: int) -> Path:
    """A copy of the shipped playbooks whose tests are repeated under new names to ``count``."""
    books = folder / "playbooks"
    shutil.copytree(ROOT / "playbooks", books)
    tests = sorted((books / "tests").glob("*.yaml"))
    for n in range(count - len(tests)):
        source = tests[n % len(tests)]
        text = source.read_text(encoding="utf-8")
        name = next(x for x in text.splitlines() if x.startswith("name: "))
        copy = text.replace(name, f"{name}-copy-{n}", 1)
        (books / "tests" / f"copy-{n}-{source.name}").write_text(copy, encoding="utf-8")
    return books


async def _empty_simulation() -> float:
    found = load([ROOT / "playbooks"])
    catalog = build_catalog(found.plans(), found.health_plan())  # type: ignore[arg-type]
    began = time.perf_counter()
    await run(catalog, Scenario({}, [], date(2027, 1, 4), 1))
    return time.perf_counter() - began


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        books = _suite(Path(tmp), args.count)
        found = load([books])
        one_name = sorted(found.tests)[0]
        only = dataclasses.replace(
            found,
            tests={one_name: found.tests[one_name]},
            test_sources={one_name: found.test_sources[one_name]},
        )
        began = time.perf_counter()
        single = await run_tests(only, jobs=1)
        one = time.perf_counter() - began
        empty = await _empty_simulation()
        began = time.perf_counter()
        outcomes = await run_tests(found, jobs=args.jobs)
        wall = time.perf_counter() - began
    passed = sum(o.ok for o in outcomes)
    lines = [
        f"floor: an empty simulation (server, worker, nothing to do): {empty:.2f} s;"
        f" {args.count} of them back to back: {empty * args.count:.1f} s",
        f"one test alone ({one_name}): {one:.2f} s ({'passed' if single[0].ok else 'FAILED'});"
        f" {args.count} back to back: {one * args.count:.1f} s",
        f"suite of {len(outcomes)} tests: {wall:.1f} s wall, {passed} passed;"
        f" {wall / (one * args.count):.2f}x the tests back to back,"
        f" {wall / (empty * args.count):.2f}x the empty floors back to back;"
        f" goal under 30 s for 20: " + ("met" if wall < 30 else "not met"),
    ]
    print("\n".join(lines))
    write("playbook_tests", "playbook test speed", "\n".join(f"- {x}" for x in lines))


if __name__ == "__main__":
    asyncio.run(main())
