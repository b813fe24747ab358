"""Simulation speed on the time-skipping test server: simulated days per wall second.

One account (examples/simulate/acme.yaml with the churn timeline) runs through the shipped
playbooks for DAYS days (goal: under 2 s for 365), then the backtest of a generated book of
N accounts (goal: 1,000 accounts x 365 days under 5 minutes), split into SHARDS shards run
JOBS at a time as `playbook backtest` does; each is compared with the floor measured in the
same run: a bare workflow that sleeps one day at a time for DAYS days, one timer round trip
on the test server per simulated day.

The backtest's CPU goal is a ratio against the code issue 20 measured (EARLIER, rebuilt from
git by bench._earlier_code), so the book's shards then run again in pairs, that code and
this at once, each pinned to a CPU, swapping CPUs from pair to pair: both see the machine
as it is in the same minutes.

    .venv/bin/python -m bench.simulation [--days 365] [--accounts 1000] [--shards N] [--jobs N]
        [--pairs N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench._bare import BareTicker
from bench._earlier_code import Unavailable, unpack
from bench._results import write
from engine import load
from engine.client._converter import DATA_CONVERTER
from engine.journeys._catalog import Catalog, build_catalog
from workers.simulate.book import generate
from workers.simulate.inputs import read_account, read_rows, resolve_days
from workers.simulate.runner import Scenario, run, server_binary
from workers.simulate.shards import default_jobs, default_shards, run_sharded, split

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples" / "simulate"

EARLIER = "7be7351"
"""The code issue 20 measured ("today about 440-545 CPU-s"): the base of its first branch."""
EARLIER_FIXES = ["7c6f46a"]
"""Without the simulation's timer fix that code's test server stops its clock in a shard and
the backtest fails (it did, here); the fix changes no workflow and no engine code."""
CPU_GOAL = 0.6


async def floor(days: int) -> float:
    """Seconds for a bare workflow to sleep ``days`` one-day timers on a test server."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER, test_server_existing_path=str(server_binary())
    )
    try:
        async with Worker(env.client, task_queue="bare", workflows=[BareTicker]):
            began = time.perf_counter()
            await env.client.execute_workflow(BareTicker.run, days, id="bare", task_queue="bare")
            return time.perf_counter() - began
    finally:
        await env.shutdown()


async def one_account(catalog: Catalog, days: int) -> tuple[float, int]:
    account = read_account(EXAMPLES / "acme.yaml")
    rows = read_rows(EXAMPLES / "churn.jsonl", account.id)
    start = resolve_days(rows, account.start, EXAMPLES / "churn.jsonl")
    result = await run(catalog, Scenario({account.id: account.attributes}, rows, start, days))
    return result.wall_seconds, len(result.actions)


def _children_cpu() -> float:
    """CPU-seconds (user + system) of the finished child processes waited for, theirs too."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


async def book(
    catalog: Catalog, accounts: int, days: int, shards: int | None, jobs: int | None
) -> tuple[float, float, int, int, list[str]]:
    """Wall seconds of a backtest of a generated book, servers' start included, as the CLI;
    the CPU-seconds of its shard processes and their test servers; the actions it recorded
    and the shards it ran in; the notes of shards that ran twice."""
    made = generate(accounts, days)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "book.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in made.rows), encoding="utf-8")
        rows = read_rows(path)
        start = resolve_days(rows, None, path)
    scenario = Scenario({}, rows, start, days)
    count = shards or default_shards(scenario)
    began, cpu = time.perf_counter(), _children_cpu()
    result = await run_sharded(catalog, scenario, count, jobs=jobs)
    wall, used = time.perf_counter() - began, _children_cpu() - cpu
    # A shard whose test server stopped its clock ran again from the start (its notes say
    # so): its wall and CPU are in the figures, twice.
    again = [note for note in result.notes if " ran twice: " in note]
    return wall, used, len(result.actions), count, again


async def against_earlier(accounts: int, days: int, shards: int, pairs: int) -> str:
    """The first ``pairs`` of the book's ``shards`` shards run by EARLIER's code and by this
    tree's at once, one pinned to each CPU, CPUs swapped from pair to pair; the line that
    compares their CPU-seconds (each process with its test server)."""
    cpus = sorted(os.sched_getaffinity(0))
    spent: dict[str, list[float]] = {"earlier": [], "this": []}
    actions: dict[str, int] = {"earlier": 0, "this": 0}
    again = 0
    with tempfile.TemporaryDirectory(prefix="bench-earlier-") as tmp:
        folder = Path(tmp)
        try:
            earlier = unpack(EARLIER, EARLIER_FIXES, folder / "code")
        except Unavailable as why:
            return (
                f"backtest CPU against the code issue 20 measured ({EARLIER}): not measured: {why}"
            )
        # The shards the backtest ran (workers.simulate.shards.split), each as rows in a file
        # that either code reads.
        rows = generate(accounts, days).rows
        whole = folder / "book.jsonl"
        whole.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        read = read_rows(whole)
        parts = split(Scenario({}, read, resolve_days(read, None, whole), days), shards)
        for index, shard in enumerate(parts[:pairs]):
            names = shard.names()
            part = folder / f"shard-{index}.jsonl"
            part.write_text(
                "".join(json.dumps(r) + "\n" for r in rows if r["account"] in names),
                encoding="utf-8",
            )
            mine, theirs = cpus[index % len(cpus)], cpus[(index + 1) % len(cpus)]
            try:
                new, old = await asyncio.gather(
                    _one_shard(ROOT, part, days, mine), _one_shard(earlier, part, days, theirs)
                )
            except ShardFailed as failed:
                return f"backtest CPU against the code issue 20 measured: not measured: {failed}"
            for side, figures in (("this", new), ("earlier", old)):
                spent[side].append(figures["cpu"])
                actions[side] += int(figures["actions"])
                again += int(figures["runs"]) - 1
    old_cpu, new_cpu = sum(spent["earlier"]), sum(spent["this"])
    ratio = new_cpu / old_cpu
    measured = len(spent["this"])
    which = "the book's" if measured == len(parts) else f"{measured} of the book's"
    return (
        f"backtest CPU against the code issue 20 measured ({EARLIER} with the timer fix"
        f" {', '.join(EARLIER_FIXES)}): {which} {len(parts)} shards in pairs, both codes at once,"
        f" each pinned to a CPU, swapping CPUs each pair: {old_cpu:.0f} -> {new_cpu:.0f} CPU-s"
        f" ({ratio:.2f}x; shard by shard {min(a / b for a, b in _pairs(spent)):.2f}x to"
        f" {max(a / b for a, b in _pairs(spent)):.2f}x; actions {actions['earlier']} ->"
        f" {actions['this']}; shards run twice: {again}); goal {CPU_GOAL}x (40% less): "
        + ("met" if ratio <= CPU_GOAL else "not met")
    )


class ShardFailed(Exception):
    """A shard of the comparison failed (its last line of error says why)."""


def _pairs(spent: dict[str, list[float]]) -> list[tuple[float, float]]:
    return list(zip(spent["this"], spent["earlier"], strict=True))


async def _one_shard(code: Path, rows: Path, days: int, cpu: int) -> dict[str, Any]:
    """bench/_one_shard.py run with ``code`` (a tree) on ``cpu``: its figures."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "_one_shard.py"),
        str(rows),
        str(days),
        str(cpu),
        cwd=code,
        env={**os.environ, "PYTHONPATH": str(code)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await child.communicate()
    if child.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()
        raise ShardFailed(f"a shard of {code} failed: {last[-1] if last else child.returncode}")
    figures: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--accounts", type=int, default=1_000, help="0: no backtest")
    parser.add_argument("--shards", type=int, help="default: one per 50 accounts")
    parser.add_argument("--jobs", type=int, help="default: one per CPU")
    parser.add_argument(
        "--pairs",
        type=int,
        help="shards run again against the earlier code (default: all; 0: none)",
    )
    args = parser.parse_args()
    if args.pairs is not None and args.pairs < 0:
        parser.error("--pairs: a number of shards, 0 or more")
    shipped = load([ROOT / "playbooks"])
    catalog = build_catalog(shipped.plans(), shipped.health_plan())  # type: ignore[arg-type]
    bare = await floor(args.days)
    lines = [
        f"floor: bare workflow, {args.days} one-day timers: {bare:.2f} s"
        f" ({1000 * bare / args.days:.1f} ms per timer round trip)"
    ]
    wall, actions = await one_account(catalog, args.days)
    lines.append(
        f"one account, shipped playbooks, {args.days} days: {wall:.2f} s wall"
        f" ({args.days / wall:.0f} simulated days/s, {actions} actions),"
        f" {wall / bare:.1f}x the floor; goal under 2 s for 365 days:"
        f" {'met' if wall < 2 and args.days >= 365 else 'not met'}"
    )
    if args.accounts:
        wall, cpu, actions, shards, again = await book(
            catalog, args.accounts, args.days, args.shards, args.jobs
        )
        jobs = min(args.jobs or default_jobs(), shards)
        account_days = args.accounts * args.days
        goal = args.accounts >= 1_000 and args.days >= 365
        lines.append(
            f"backtest: {args.accounts} accounts x {args.days} days, {shards} shards,"
            f" {jobs} at a time:"
            f" {wall:.1f} s wall ({account_days / wall:.0f} account-days/s, {actions} actions),"
            f" {wall / (bare * args.accounts):.2f}x {args.accounts} floors back to back;"
            f" goal under 300 s for 1,000 x 365: "
            + (("met" if wall < 300 else "not met") if goal else "not measured at that size")
        )
        lines.append(
            f"backtest CPU: {cpu:.0f} CPU-s (the shard processes and their test servers),"
            f" {1000 * cpu / account_days:.2f} CPU-ms per account-day"
        )
        lines.append(
            f"shards run twice (their test server stopped its clock): {len(again)}"
            + "".join(f"; {note}" for note in again)
        )
        if args.pairs != 0:
            pairs = shards if args.pairs is None else args.pairs
            lines.append(await against_earlier(args.accounts, args.days, shards, pairs))
    print("\n".join(lines))
    write(
        "simulation",
        "Simulation speed",
        "\n".join(f"- {line}" for line in lines) + "\n\n" + WHY,
    )


WHY = """\
The CPU goal is a ratio against the code issue 20 measured: 7be7351 (the base of its first
branch) with only the simulation's timer fix (7c6f46a), without which a shard's test
server stops its clock and that code fails the backtest (it did, once, here). The last
line above measures it in this run: the book's shards once more, each run by both codes at
the same time, each process with its test server pinned to one CPU, the CPUs swapped from
pair to pair, so both codes see the machine of the same minutes (bench._earlier_code
rebuilds that code from git, bench/_one_shard.py runs a shard with either; each side pays
its imports and its server's start per shard, as a backtest's shard process does). Whole
backtests run one after the other compare loosely: on 2026-12-06 this machine's speed moved
by a quarter within minutes (that code took 403 and 336 CPU-s alone, this one 235 to 302),
and the issue's "today about 440-545 CPU-s" was measured when the machine was slower.

The bottleneck: a workflow activation costs about 2 ms of CPU here (the SDK's Python and
Rust, and the test server's share), and an account-year of weekly readings is about 91 of
them, 51 of those the account taking a reading: a workflow task per signal, the floor of an
event-driven account. Of the account's Python for a reading (0.8-0.9 ms), the SDK's
activation, payload and search-attribute code is over half, the engine's (the entry rules,
the next wake-up, the values upserted, the details the UI shows) under half. The rest of the
activations are the journeys' own: an action's completion, a wait's timer, a forward.
Estimated from those shares, not measured: were the engine's own code for a reading free, a
reading would cost about 29% less and the backtest about 15%, near 0.61x the issue's code.
The goal needs a reading that does not wake the account at all (a sender that knows what
the account decides on, or readings kept outside the workflow until it wakes), and either
gives up what a reading does now: the score and tier the Temporal UI lists accounts by, the
readings a trend condition ("drops 20 in 7 days") reads, the health an email shows.

Cut on the evening of 2026-12-06 (each measured in pinned pairs, each within the noise alone): the
journey clock decoded its memo at every moment read (a dozen a task; now once per run); the
evaluator and the wake-up timing chose each condition's rule by isinstance, a chain of
Python calls in the sandbox (now by class); a simulation cancels a timer on the server when
it cannot come due while the task is out (only one that can is kept and its fire dropped:
46 idle tasks fewer in a 50-account year). Before it, in the evening: a journey is woken
only by the health its decisions read (its goal, exit, waits, branches, ladder;
engine.language._plan_reads.health_wakes): every shipped playbook shows the score in a
template or a chat line, so every reading woke every running journey, a quarter of all
activations (5,606 -> 4,705 in a 50-account year). An action decided away from its
journey's latest news asks the account for its current health as it renders (the
`current_health` query), so an email still shows the score of its day. A simulated run
sends no outcome to record_history, and the driver signals an account it has started
instead of signal-with-start. The book's actions went from 12,955 to 13,129-13,131: the
count exposed a run left open for good (churn prevention's undecided retention offer asks
for the executive and ends in one task; the run's cancel of its ladder could be swallowed,
Python 3.11's wait_for, and the ladder climbed on; fixed behind
ladder-stops-with-the-steps), and runs that end when they should enroll again sooner.

Earlier runs of the day, before these changes: 177 s and 345 CPU-s in the full `make bench`
(13:33 UTC); 347 CPU-s and 178 s (17:00 UTC, floor 0.55 s); on a slower machine (floor
0.86-0.93 s) 470 CPU-s and 251 s, 343 CPU-s and 372 s (a shard run twice); alone that
morning 293-318 CPU-s and 150-162 s; 417 CPU-s and 213 s the night before. The machine's
speed moves these by a third: the bare floor read 0.45 to 0.93 s today.

The night's runs took 213 s, no shard run twice; runs of the day before took 424 to 703 s
for the same CPU (420 to 527 CPU-s): shards whose time-skipping server stopped its clock
waited out a three-and-a-half-minute timeout and ran again on a fresh server. The cause,
found with the SDK core's warnings on: a workflow task that cancels a timer which fired
while the task ran is refused by the test server ("invalid history builder state for
action", temporalio/sdk-java#2606) and never timed out; timers of day-long waits set off by
the same 09:00 send window come due milliseconds apart, so a churn run's task cancelled one
as it fired. Simulations now run the workflows on an SDK instance that sends no cancel for a
timer that can come due while its task is out (workers/simulate/timers.py).

What it costs (profiled with py-spy and perf on a 100-account book): a simulation is bound
by workflow activations, about 3 ms of CPU each on this machine counting the worker's Python
(half of it holding the GIL, half in the SDK's Rust core) and the test server's share. An
account-year of weekly readings is about 110 workflow tasks (a 100-account book: 11,100, of
which 3,300 are the account telling its journeys of a change and the journeys taking it in)
and 15 activities. How a book is laid out over processes matters as much: a test server and
a worker both cost more per task the more workflows they hold (100 accounts alone: 47 CPU-s;
200 alone: 105), and more processes than cores cost more CPU for the same work (two shards
of 100 at once: 60 CPU-s each; ten shards of 100 at once, the whole 1,000-account book: 791
CPU-s and 400 s). So a book runs in shards of 50 accounts, one process per CPU, each taking
its shards in turn on a fresh server: the 1,000-account year went from 390 s (6 shards of
167 at once) to 267 s; with each process and its server pinned to one CPU (no migrations
between cores, warm caches), 235 s. Done before: workflows sleep until a condition can
change by the calendar instead of waking daily (the single account went from 3.2 s to about
0.5 s), one shared payload converter (temporalio rebuilt pydantic validators per
activation), the account's models built once outside the sandbox, compiled templates
cached, bytecode compiled for the sandbox's imports, a simulation keeps no dashboard
history, journeys are told of a change at once; the worker's sandbox answers the SDK's per-payload
serialization-context question itself (workers/sandbox.py: Python CPU of a 250-account book
106 -> 91 s); shard processes collect garbage less often (106 -> 98 s). Tried and not kept:
three processes at a time on 2 cores (318 s), a one-thread activation executor (within
this machine's run-to-run noise of about 10%), an activation run on the event loop's own
thread instead of the SDK's executor (no difference in pairs pinned to CPUs), one tokio
worker thread (none pinned), a simulation's worker sending none of the workflows'
search-attribute upserts (its server's visibility serves no one): 3-5% in pinned pairs, too
little for a backtest that would no longer pay what production pays per event. What is
left, measured on a 50-account year: 4,540 activations, 56% of them the account taking a
reading (one workflow task each, the floor of an event-driven account); the test server
about 30% of the CPU, the SDK's Rust core about a quarter of the worker's.
"""


if __name__ == "__main__":
    asyncio.run(main())
    # Like the CLI: the SDK's threads can abort a normal interpreter exit (sdk-python#300).
    sys.stdout.flush()
    os._exit(0)
