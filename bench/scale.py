"""Scale on one machine: enroll N accounts (10,000 by default) on the embedded dev server.

Each SMB account gets its attributes and a ``contract.signed`` event (signal-with-start, as
the CLI, ingest and API send them) and enters tech-touch onboarding, whose first step emails
the customer and whose next step waits three days on a timer: N live journeys. Measured:

- enrollment throughput: accounts per second from the first event sent to the last welcome
  email arriving at a mail catcher on loopback, against two baselines of bare Temporal in
  the same run: N hand-written workflows started by signal-with-start that run one activity
  and then wait on a 30-day timer (bare), and N parents started by signal-with-start whose
  first task starts a child whose first task runs the activity and then waits on a 30-day
  timer (bare with child: the engine's shape, goal >= 0.8x of it);
- the worker's memory: the resident set (peak and at the end) of the ``playbook worker``
  process, read from /proc (goal <= 1 GiB);
- reaction latency with the N journeys live: a health drop to the churn alert's email
  arriving, against the same measure on an empty server at the start;
- the same enrollment with two worker processes: the scaling ratio.

    .venv/bin/python -m bench.scale [--accounts 10000] [--samples 50]
"""

from __future__ import annotations

import argparse
import asyncio
import email
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from bench._bare import BareAccount, BareEnrollment, BareJourney
from bench._playbooks import shipped_on_a_real_clock
from bench._results import percentile, spread, write
from bench._servers import dev_server
from bench._servers import worker_env as engine_worker_env
from engine.client._start import publish, send, send_event
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AccountEvent, AttributeChange, HealthEvent
from workers import payload_passes
from workers.dev import free_port

BIN = Path(sys.executable).parent
QUEUE = "scale"
IN_FLIGHT = 64
"""Concurrent signal-with-start calls: enough to keep the server busy, as an ingest would."""
GOAL = 0.8
"""Issue 20: enrollment throughput with 1 worker >= 0.8x bare with child."""


class _Mail:
    """Counts arriving emails by kind, and times the alerts of measured accounts."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.welcomes = 0
        self.bare = 0
        self.alerts: dict[str, asyncio.Future[float]] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.perf_counter()
        message = email.message_from_bytes(envelope.content)
        # A long header arrives folded ("\r\n " inside); unfold it.
        key = "".join(str(message.get("X-Playbook-Idempotency-Key", "")).split())
        if "/ladder/" in key:
            future = self.alerts.get(key.split("/")[2])
            if future is not None:
                self.loop.call_soon_threadsafe(_settle, future, now)
        elif key.startswith("playbook/onboarding-tech-touch/"):
            self.welcomes += 1
        return "250 OK"


def _settle(future: asyncio.Future[float], at: float) -> None:
    if not future.done():
        future.set_result(at)


async def _bounded(n: int, work: Callable[[int], Awaitable[object]]) -> None:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with gate:
            await work(i)

    await asyncio.gather(*(one(i) for i in range(n)))


async def _until(check: Callable[[], bool], what: str, limit: float = 3600) -> None:
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


def _workers(count: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [str(BIN / "playbook"), "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def _rss_mib(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of a process, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def _enroll(client: Client, mail: _Mail, prefix: str, n: int) -> float:
    """Seconds from the first event to the n-th welcome email."""
    before = mail.welcomes
    start = time.perf_counter()

    async def one(i: int) -> None:
        account = f"{prefix}-{i}"
        attributes = {
            "segment": "smb",
            "name": account,
            "owner": "csm@scale.example",
            "contact_email": f"ops@{account}.example",
        }
        # As the HTTP API sends {"set": ..., "event": ...}: one signal-with-start.
        await send_event(
            client,
            account,
            [AttributeChange(set=attributes), AccountEvent(name="contract.signed")],
            QUEUE,
        )

    await _bounded(n, one)
    await _until(lambda: mail.welcomes - before >= n, f"{n} welcome emails")
    return time.perf_counter() - start


async def _bare(client: Client, done: list[int], n: int) -> float:
    start = time.perf_counter()

    async def one(i: int) -> None:
        await client.start_workflow(
            BareEnrollment.run,
            id=f"bare-{i}-{uuid.uuid4().hex[:6]}",
            task_queue="scale-bare",
            start_signal="go",
        )

    await _bounded(n, one)
    await _until(lambda: done[0] >= n, f"{n} bare activities")
    return time.perf_counter() - start


async def _bare_child(client: Client, done: list[int], n: int) -> float:
    """Seconds for n signal-with-starts of a parent that starts a child that runs the activity."""
    before = done[0]
    start = time.perf_counter()

    async def one(i: int) -> None:
        await client.start_workflow(
            BareAccount.run,
            "bare_journey_enrolled",
            id=f"bare-account-{i}-{uuid.uuid4().hex[:6]}",
            task_queue="scale-bare",
            start_signal="go",
        )

    await _bounded(n, one)
    await _until(lambda: done[0] - before >= n, f"{n} bare journeys' activities")
    return time.perf_counter() - start


async def _reaction(client: Client, mail: _Mail, samples: int) -> list[float]:
    """Milliseconds from a health drop to the churn alert's email, one account at a time."""
    out = []
    for _ in range(samples):
        account = f"r{uuid.uuid4().hex[:10]}"
        attributes = {"segment": "mid-market", "name": account, "owner": "csm@scale.example"}
        await send_event(
            client, account, [AttributeChange(set=attributes), HealthEvent(score=85)], QUEUE
        )
        await asyncio.sleep(0.3)
        future = mail.loop.create_future()
        mail.alerts[account] = future
        start = time.perf_counter()
        await send(client, account, HealthEvent(score=25), QUEUE)
        out.append((await asyncio.wait_for(future, 60) - start) * 1000)
    return out


async def main(accounts: int, samples: int) -> None:
    shipped = shipped_on_a_real_clock()
    catalog = build_catalog(shipped.plans(), shipped.health_plan())  # type: ignore[arg-type]
    # The baselines' worker runs here: it skips the SDK's no-op payload passes as the
    # engine's worker process does, so the two differ by their workflows alone.
    payload_passes.install()
    loop = asyncio.get_running_loop()
    mail = _Mail(loop)
    smtp_port = free_port()
    smtp = Controller(mail, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    done = [0]

    @activity.defn(name="bare_enrolled")
    async def bare_enrolled() -> None:
        done[0] += 1

    journeys = [0]

    @activity.defn(name="bare_journey_enrolled")
    async def bare_journey_enrolled(key: str) -> None:
        journeys[0] += 1

    with tempfile.TemporaryDirectory() as tmp:
        people = Path(tmp) / "people.yaml"
        people.write_text("people:\n  csm@scale.example: {name: Casey}\n")
        env = await dev_server(tmp, "scale")
        client = env.client
        worker_env = engine_worker_env(
            client.service_client.config.target_host, QUEUE, tmp, smtp_port, people
        )
        workers = _workers(1, worker_env)
        try:
            async with Worker(
                client,
                task_queue="scale-bare",
                workflows=[BareEnrollment, BareAccount, BareJourney],
                activities=[bare_enrolled, bare_journey_enrolled],
            ):
                await publish(client, catalog, QUEUE)
                await _enroll(client, mail, "warm", 20)
                empty = await _reaction(client, mail, samples)
                bare = await _bare(client, done, accounts)
                child = await _bare_child(client, journeys, accounts)
                one = await _enroll(client, mail, "one", accounts)
                rss_now, rss_peak = _rss_mib(workers[0].pid)
                loaded = await _reaction(client, mail, samples)
                workers += _workers(1, worker_env)
                await asyncio.sleep(3)  # the second worker polls before the load starts
                two = await _enroll(client, mail, "two", accounts)
        finally:
            for process in workers:
                process.terminate()
            for process in workers:
                process.wait(timeout=60)
            await env.shutdown()
            smtp.stop()
    one_rate, two_rate, bare_rate = accounts / one, accounts / two, accounts / bare
    child_rate = accounts / child
    verdict = "met" if one_rate / child_rate >= GOAL else "**missed**"
    live = accounts * 2 + 20 + 2 * samples
    rows = [
        (
            "enrollment throughput, 1 worker",
            f"{one_rate:.1f} accounts/s ({one:.0f} s)",
            "bare with child: signal-with-start -> parent task -> child start -> child's "
            f"first task -> activity: {child_rate:.1f}/s ({child:.0f} s)",
            f"{one_rate / child_rate:.2f}x (goal >= {GOAL}x: {verdict})",
        ),
        (
            "enrollment throughput, 1 worker",
            f"{one_rate:.1f} accounts/s",
            f"bare: signal-with-start -> activity: {bare_rate:.1f}/s ({bare:.0f} s)",
            f"{one_rate / bare_rate:.2f}x",
        ),
        (
            "enrollment throughput, 2 workers",
            f"{two_rate:.1f} accounts/s ({two:.0f} s)",
            f"1 worker: {one_rate:.1f}/s",
            f"{two_rate / one_rate:.2f}x",
        ),
        (
            f"worker memory, {accounts + 20 + samples} accounts live",
            f"{rss_now:.0f} MiB now, {rss_peak:.0f} MiB peak",
            "goal: 1024 MiB",
            f"{rss_peak / 1024:.2f}x of the goal",
        ),
        (
            f"health drop -> alert email, {samples} samples",
            f"under load: {spread(loaded)}",
            f"empty server: {spread(empty)}",
            f"p99 {percentile(loaded, 99) / percentile(empty, 99):.2f}x",
        ),
    ]
    table = "\n".join(f"| {' | '.join(row)} |" for row in rows)
    body = f"""\
{accounts} accounts per phase ({live} account workflows by the end, most with a live
journey); {IN_FLIGHT} signal-with-start calls in flight; the worker is a separate `playbook
worker` process with the real actions (SQLite store, SMTP to a catcher on loopback).

| measure | engine | baseline | ratio |
| --- | --- | --- | --- |
{table}

Each engine enrollment is one signal (the event's attributes and contract.signed, as the
HTTP API sends one event), an account workflow task (the plan from the worker's memory), a
child workflow (tech-touch onboarding) and its first workflow task, and the welcome email
activity; the bare baseline is one workflow and one activity, the bare-with-child
baseline a parent workflow task, a child start, the child's first task and one activity (both
baselines' workers run in this driver process, the engine's in its own). The two-worker row
shares the machine's 2 cores with the dev server and this process, so it shows how far one
machine goes, not how a cluster scales.
"""
    print(body)
    write("scale", "Scale on one machine", body + "\n" + ANALYSIS)


ANALYSIS = """\
Goals: worker memory <= 1 GiB: **met**. The worker keeps at most its cache of workflows
in memory (PLAYBOOK_WORKER_CACHED_WORKFLOWS, 2,000 by default since issue 20; the rest
wait in Temporal and are replayed when they next have work), so its memory follows the
cache, not the number of accounts: 333 MiB with 530 accounts live in the last run, 416 MiB
with 570 the day before (its garbage collection tuned, workers.worker.tune_gc), 770 MiB
with 1,050 (2,080 account workflows, most with a journey) before that; with the SDK's
1,000 before, 487 MiB with 2,070 accounts and 499 MiB peak with 10,070 (runs of
2026-11-24). About 0.25 MiB more per cached workflow. Latency under load: the alert with
the accounts live is as fast as on the empty server (10 samples each: the tail is one or
two samples).

Throughput against the floor of our own architecture (bare with child: a parent task, a
child start, the child's first task, an activity), goal >= 0.8x: **missed** in the last
run: 0.74x (500 accounts, nothing else running, 2026-12-06, release 0.2.0 with plans by
hash; 12.1 against 16.3 accounts/s). The same day: 0.82x (12.1 against 14.7) with the four
patches vouched and the payload passes skipped, before plans by hash; 0.81x at 400 accounts
(13.7 against 17.0) before either; 0.69x and 0.68x in the night (7.8 against 11.4, an hour
when every row ran slower); 0.70x the day before, 0.49-0.52x before the history sends went
into workflow tasks, 0.26x before issue 20's second round. The engine's rate held at 12.0
to 12.1 a second in all three runs of the afternoon, whatever changed (with plans by hash
vouched for as the next release will, tried once: 12.0 against 16.3, 0.73x); the baseline
moved from 14.7 to 16.3 between runs, and the ratio with it. So the engine's enrollment is
bound by something none of these touched: the dev server (about 1.2x the bare's CPU per
enrollment, every persistence write through one SQLite file) and the writes each enrollment
makes beyond the baseline's: per enrollment a visibility update for each workflow task that
upserts a search attribute (the account's AccountId, then its segment and owner; the run's
step, each time it moves) where the baseline makes none but its starts, and the decision
log's local activities. Fewer of those (the attributes known at the first event set with
the start, as the runs' are) is what is left to try.

Since the night's runs: 0.2.0 vouches for the four patches the account and run asked about
(five markers and five TemporalChangeVersion upserts fewer per enrollment), the SDK's no-op
payload passes are skipped in both workers (workers.payload_passes), and an account enrolls
with the plan from the worker's memory by hash, without the resolve_plan local activity
(engine.journeys._plan_cache), asking about that new patch once per account run until the
next release. One signal per account instead of two (an event's parts in one
CombinedEvent, as the API sends `set` with `event`) did not move the ratio either. The
second worker adds nothing (0.91x): the dev server, on the same 2 cores, is the bottleneck.
"""


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=50)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.accounts, arguments.samples))
