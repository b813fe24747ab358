"""Helpers for tests that drive real workflows: a recorder for actions, and polling.

Signals are processed asynchronously, so tests poll a query until it shows what they wait
for, with a deadline; the recorder stands in for the action activities (same names) so a
test sees every side effect with its time and idempotency key.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from google.protobuf.duration_pb2 import Duration
from temporalio import activity
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from engine import PlaybookSet, load
from engine.client._attributes import register
from engine.client._connect import TemporalSettings
from engine.client._converter import DATA_CONVERTER
from engine.client._start import publish
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import (
    ActionReceipt,
    ActionRequest,
    CloseRequest,
    HistoryRequest,
    RunInput,
    RunResult,
)
from engine.journeys._run import PlaybookRunWorkflow
from engine.language._facts import Facts
from engine.language._plan import Plan
from workers import history
from workers.activities import Actions
from workers.api import serve
from workers.directory import Directory
from workers.email import SmtpSettings
from workers.outbound import OutboundSettings
from workers.settings import ApiSettings, Settings
from workers.store import Store, open_store
from workers.worker import build_worker

JOURNEYS = Path(__file__).parent / "fixtures" / "journeys"
SHIPPED = Path(__file__).parents[1] / "playbooks"
_SHIPPED_COPY = tempfile.TemporaryDirectory(prefix="shipped-without-calendar-")


@functools.cache
def shipped_without_calendar() -> PlaybookSet:
    """The shipped set without its company calendar, so no customer email waits for a send
    window: for tests of other behaviour that run on a real clock (the dev server) or count
    exact days from today, which would otherwise depend on the weekday and the hour they run.
    The windows themselves are tested with calendars of their own (test_windows.py)."""
    copy = Path(_SHIPPED_COPY.name) / "playbooks"
    shutil.copytree(SHIPPED, copy, ignore=shutil.ignore_patterns("calendars"))
    return load([copy])


@dataclass
class Recorder:
    """Records each action as (scheduled time, playbook, step, idempotency key)."""

    actions: list[tuple[datetime, str, str, str]] = field(default_factory=list)
    closed: list[CloseRequest] = field(default_factory=list)
    history: list[HistoryRequest] = field(default_factory=list)
    store: Store | None = None
    """When given, history is also written to it, as the real activity does."""

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="perform_action")
        async def perform_action(request: ActionRequest) -> ActionReceipt:
            self.actions.append(
                (
                    activity.info().scheduled_time,
                    request.playbook,
                    request.step,
                    request.idempotency_key,
                )
            )
            return ActionReceipt(idempotency_key=request.idempotency_key, detail="recorded")

        @activity.defn(name="close_items")
        async def close_items(request: CloseRequest) -> ActionReceipt:
            self.closed.append(request)
            return ActionReceipt(idempotency_key=request.workflow_id, detail="closed")

        @activity.defn(name="record_history")
        async def record_history(request: HistoryRequest) -> int:
            self.history.append(request)
            return history.record(self.store, request) if self.store is not None else 0

        return [perform_action, close_items, record_history]

    def steps(self, playbook: str) -> list[str]:
        return [step for _, name, step, _ in self.actions if name == playbook]


def store_actions(url: str, smtp: SmtpSettings | None = None) -> Actions:
    """The real action activities writing the store at ``url``, with nobody in the directory
    and email to ``smtp`` (by default a closed port: for journeys that send none)."""
    return Actions(
        store=open_store(url),
        directory=Directory(),
        smtp=smtp or SmtpSettings(host="127.0.0.1", port=9),
        outbound=OutboundSettings(),
    )


async def start_run(
    env: WorkflowEnvironment, plan: Plan, queue: str, facts: Facts, account: str = "acme"
) -> WorkflowHandle[Any, RunResult]:
    """Start a PlaybookRun of ``plan`` for ``account``, enrolled now, on ``queue``."""
    start = await env.get_current_time()
    return await env.client.start_workflow(
        PlaybookRunWorkflow.run,
        RunInput(
            plan=plan,
            account_id=account,
            cycle=1,
            enrolled_at=start,
            facts=facts.model_copy(update={"now": start}),
        ),
        id=f"playbook/{plan.name}/{account}/{queue}",
        task_queue=queue,
        result_type=RunResult,
    )


async def eventually(check: Callable[[], Awaitable[Any]], what: str, seconds: float = 10) -> Any:
    """Poll ``check`` until it returns something truthy, or fail naming ``what``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


async def fresh_namespace(env: WorkflowEnvironment) -> Client:
    """A new namespace on the dev server, with no search attributes registered yet.

    The catalog is one workflow per namespace, so tests that publish on the shared dev
    server each take a namespace of their own.
    """
    name = f"t-{uuid.uuid4().hex[:12]}"
    await env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    return Client(env.client.service_client, namespace=name, data_converter=DATA_CONVERTER)


@activity.defn(name="record_history")
async def ignore_history(request: HistoryRequest) -> int:
    """A stand-in for ``record_history`` in tests that build their own activity list."""
    return 0


@dataclass
class ServedApi:
    """The HTTP API served by uvicorn on loopback, and what it talks to."""

    url: str
    client: Client
    queue: str
    address: str
    http: httpx.AsyncClient

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def account(self) -> str:
        return f"acct-{uuid.uuid4().hex[:8]}"


@contextlib.asynccontextmanager
async def serving_api(
    env: WorkflowEnvironment,
    api: ApiSettings,
    activities: list[Callable[..., Any]],
    playbooks: Path = JOURNEYS,
    database_url: str | None = None,
) -> AsyncIterator[ServedApi]:
    """A fresh namespace with ``playbooks`` published, a worker running ``activities``, and
    the API in front of them (reading the store at ``database_url``; by default an empty
    SQLite store of its own, never the working directory's ``.playbook/``), served until the
    block ends."""
    with tempfile.TemporaryDirectory() as tmp:
        async with _serving_api(
            env, api, activities, playbooks, database_url or f"sqlite:///{tmp}/store.db"
        ) as served:
            yield served


@contextlib.asynccontextmanager
async def _serving_api(
    env: WorkflowEnvironment,
    api: ApiSettings,
    activities: list[Callable[..., Any]],
    playbooks: Path,
    database_url: str,
) -> AsyncIterator[ServedApi]:
    client = await fresh_namespace(env)
    await register(client, client.namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    address = env.client.service_client.config.target_host
    settings = Settings(
        temporal=TemporalSettings(address=address, namespace=client.namespace, task_queue=queue),
        api=api,
        database_url=database_url,
    )
    book = load([playbooks])
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    async with build_worker(client, queue, activities):
        await publish(client, build_catalog(book.plans(), book.health_plan()), queue)  # type: ignore[arg-type]
        server = asyncio.create_task(serve(settings, port=0, stop=stop, on_ready=ready.set_result))
        url = await ready
        served = ServedApi(url, client, queue, address, httpx.AsyncClient(base_url=url, timeout=30))
        try:
            yield served
        finally:
            await served.http.aclose()
            stop.set()
            await server


def stops_on_ctrl_c(process: subprocess.Popen[str], said: Path, seconds: float = 60) -> None:
    """Send ``process`` a SIGINT and assert it exits 0 within ``seconds``; one that does not
    is killed, and the failure shows the end of what it wrote to ``said`` (its stderr)."""
    process.send_signal(signal.SIGINT)
    try:
        stopped: int | None = process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        stopped = None
    assert stopped == 0, f"Ctrl-C: exit {stopped}; it said: {said.read_text()[-3000:]}"
