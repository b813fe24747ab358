"""Reaction latency on the embedded dev server: a health drop to the first escalation activity.

For each of N accounts the shipped playbooks run as they would in production: the account
workflow scores the event, enrolls the account in churn-prevention (a child workflow), and the
run's ladder engages its first tier through an activity. The time from sending the health
event to that activity starting is compared with bare Temporal on the same server in the same
run: a workflow waiting for a signal that then runs one activity (the floor).

    .venv/bin/python -m bench.reaction [--accounts N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench._bare import BareReaction
from engine import load
from engine._account import AccountWorkflow
from engine._catalog import build_catalog
from engine._client import account_workflow_id, publish, send
from engine._messages import (
    ActionReceipt,
    ActionRequest,
    AttributeChange,
    CloseRequest,
    HealthEvent,
)
from engine._search import DEV_SERVER_ARGS
from workers.worker import build_worker

PLAYBOOKS = Path(__file__).parents[1] / "playbooks"
BIN = Path(sys.executable).parent
_arrived: dict[str, asyncio.Future[float]] = {}


def _arrive(key: str) -> None:
    future = _arrived.get(key)
    if future is not None and not future.done():
        future.set_result(time.perf_counter())


@activity.defn(name="perform_action")
async def perform_action(request: ActionRequest) -> ActionReceipt:
    if request.step.startswith("escalation."):
        _arrive(request.account_id)
    return ActionReceipt(idempotency_key=request.idempotency_key, detail="measured")


@activity.defn(name="close_items")
async def close_items(request: CloseRequest) -> ActionReceipt:
    return ActionReceipt(idempotency_key=request.workflow_id, detail="closed")


@activity.defn(name="bare_act")
async def bare_act(workflow_id: str) -> None:
    _arrive(workflow_id)


async def _timed(key: str, trigger: Callable[[], Awaitable[object]]) -> float:
    future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    _arrived[key] = future
    start = time.perf_counter()
    await trigger()
    return (await asyncio.wait_for(future, 30)) - start


async def _bare(client: Client, queue: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        workflow_id = f"bare/{uuid.uuid4().hex}"
        handle = await client.start_workflow(BareReaction.run, id=workflow_id, task_queue=queue)
        await asyncio.sleep(0.05)  # let it reach its wait, as an account at rest would be
        samples.append(await _timed(workflow_id, lambda h=handle: h.signal(BareReaction.go)))
    return samples


async def _engine(client: Client, queue: str, n: int) -> list[float]:
    renewal = (datetime.now(UTC) + timedelta(days=200)).date().isoformat()
    samples = []
    for i in range(n):
        account = f"bench-{i}-{uuid.uuid4().hex[:6]}"
        attributes = {"segment": "mid-market", "renewal_date": renewal}
        await send(client, account, AttributeChange(set=attributes), queue)
        await send(client, account, HealthEvent(score=85), queue)
        handle = client.get_workflow_handle(account_workflow_id(account))
        while (await handle.query(AccountWorkflow.status)).health.score != 85:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        samples.append(
            await _timed(account, lambda a=account: send(client, a, HealthEvent(score=25), queue))
        )
    return samples


def _line(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return (
        f"{name:<40} p50 {statistics.median(ms):6.1f} ms   p95 {p95:6.1f} ms   max {ms[-1]:6.1f} ms"
    )


async def main(accounts: int) -> None:
    shipped = load([PLAYBOOKS])
    catalog = build_catalog(shipped.plans(), shipped.health_plan())  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        env = await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter,
            dev_server_existing_path=str(BIN / "temporal"),
            dev_server_extra_args=[*DEV_SERVER_ARGS, "--db-filename", f"{tmp}/bench.db"],
            ui=False,
        )
        try:
            client, queue = env.client, "bench"
            worker = build_worker(client, queue, actions=[perform_action, close_items])
            bare_queue = "bench-bare"
            bare_worker = Worker(
                client, task_queue=bare_queue, workflows=[BareReaction], activities=[bare_act]
            )
            async with worker, bare_worker:
                await publish(client, catalog, queue)
                await _bare(client, bare_queue, 3)  # warm both paths up
                await _engine(client, queue, 3)
                bare = await _bare(client, bare_queue, accounts)
                engine = await _engine(client, queue, accounts)
        finally:
            await env.shutdown()
    print(f"reaction latency on the dev server, {accounts} samples each")
    print(_line("bare Temporal: signal -> activity", bare))
    print(_line("engine: health drop -> first escalation", engine))
    ratio = statistics.median(engine) / statistics.median(bare)
    print(f"ratio engine/bare (p50): {ratio:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=30)
    asyncio.run(main(parser.parse_args().accounts))
