"""Simulation speed on the time-skipping test server: simulated days per wall second.

One account (examples/simulate/acme.yaml with the churn timeline) runs through the shipped
playbooks for DAYS days, then optionally a generated book of N accounts; each is compared
with the floor measured in the same run: a bare workflow that sleeps one day at a time for
DAYS days, i.e. the cost of one timer round trip on the test server, which every account's
daily wake-up pays.

    .venv/bin/python -m bench.simulation [--days 365] [--accounts N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench._bare import BareTicker
from bench._results import write
from engine import load
from engine._catalog import Catalog, build_catalog
from engine._converter import DATA_CONVERTER
from workers.simulate.book import generate
from workers.simulate.inputs import read_account, read_rows, resolve_days
from workers.simulate.runner import Scenario, run, server_binary

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples" / "simulate"


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


async def book(catalog: Catalog, accounts: int, days: int) -> tuple[float, int]:
    import json
    import tempfile

    made = generate(accounts, days)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "book.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in made.rows), encoding="utf-8")
        rows = read_rows(path)
        start = resolve_days(rows, None, path)
    result = await run(catalog, Scenario({}, rows, start, days), query_runs=False)
    return result.wall_seconds, len(result.actions)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--accounts", type=int, default=0, help="also a generated book")
    args = parser.parse_args()
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
        wall, actions = await book(catalog, args.accounts, args.days)
        account_days = args.accounts * args.days
        lines.append(
            f"book: {args.accounts} accounts x {args.days} days: {wall:.1f} s wall"
            f" ({account_days / wall:.0f} account-days/s, {actions} actions),"
            f" {wall / (bare * args.accounts):.2f}x {args.accounts} floors back to back"
        )
    print("\n".join(lines))
    write(
        "simulation",
        "Simulation speed",
        "\n".join(f"- {line}" for line in lines) + "\n\n" + WHY,
    )


WHY = """\
Bottleneck (see the README, Simulate and backtest): every timer is one round trip between the
time-skipping server and the Python worker, and one server runs them one at a time. An
account wakes every day (time-based entry rules) and then refreshes the catalog (a local
activity); running journeys wake daily while they wait. Tried: a longer catalog cache (about
15% faster), sharding a book across test servers (`--shards`, at most the second core). What
would meet the goals is in the account workflow: wake only when a time-based rule can change,
and refresh the catalog on publish rather than on every wake.
"""


if __name__ == "__main__":
    asyncio.run(main())
    # Like the CLI: the SDK's threads can abort a normal interpreter exit (sdk-python#300).
    sys.stdout.flush()
    os._exit(0)
