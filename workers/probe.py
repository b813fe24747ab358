"""The worker's own HTTP endpoint: ``/metrics``, ``/healthz`` (liveness), ``/readyz`` (readiness).

A worker has no port of its own otherwise, so an orchestrator could only check that its
process exists, and Prometheus could not scrape it. Readiness means what a worker is for: it
polls its task queue. Temporal lists the pollers it has seen on a queue, so ``/readyz`` asks it
(``DescribeTaskQueue``) and answers 200 only when this worker's identity is among them; that
proves Temporal is reachable, the namespace exists and the polls arrive. ``playbook worker``
serves it when ``PLAYBOOK_METRICS_PORT`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from datetime import timedelta

import uvicorn
from fastapi import FastAPI, Response, status
from fastapi.responses import JSONResponse
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from workers._listen import listen
from workers.metrics import CONTENT_TYPE, EngineMetrics, exposition

_ASK_TIMEOUT = timedelta(seconds=5)


async def readiness(client: Client, worker: Worker) -> str | None:
    """None when ``worker`` runs and Temporal has seen it poll its task queue; else why not."""
    if not worker.is_running:
        return "the worker is not running"
    try:
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(
                    name=worker.task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
                ),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            ),
            timeout=_ASK_TIMEOUT,
        )
    except RPCError as error:
        return f"Temporal did not answer: {error.status.name} {error.message}"
    identity = worker.config().get("identity") or client.identity
    if not any(poller.identity == identity for poller in described.pollers):
        return f"not polling task queue {worker.task_queue} yet"
    return None


def probe_app(
    client: Client, worker: Worker, metrics: EngineMetrics, sdk_metrics: str | None
) -> FastAPI:
    """The endpoint's routes; ``sdk_metrics`` is where the SDK serves its own page, if it does."""
    app = FastAPI(title="playbook worker", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """Liveness: the process answers and its worker has not stopped."""
        if worker.is_shutdown:
            return JSONResponse({"status": "stopped"}, status.HTTP_503_SERVICE_UNAVAILABLE)
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Readiness: Temporal has seen this worker poll its task queue."""
        problem = await readiness(client, worker)
        if problem is not None:
            return JSONResponse({"detail": problem}, status.HTTP_503_SERVICE_UNAVAILABLE)
        return JSONResponse({"status": "ready", "task_queue": worker.task_queue})

    @app.get("/metrics")
    async def metrics_page() -> Response:
        return Response(await exposition(metrics.registry, sdk_metrics), media_type=CONTENT_TYPE)

    return app


class _Quiet(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The worker's command owns SIGINT/SIGTERM: it drains activities before stopping.
        yield


def bind(host: str, port: int) -> socket.socket:
    """The endpoint's socket, bound before the worker starts: a port in use is one line
    (OSError) then, not a log line from uvicorn while the worker already runs."""
    return listen(host, port)


async def serve_probe(app: FastAPI, sock: socket.socket, stop: asyncio.Event) -> None:
    """Serve ``app`` on the bound ``sock`` until ``stop`` is set."""
    # No access log: an orchestrator asks every few seconds.
    config = uvicorn.Config(app, log_config=None, lifespan="off", access_log=False)
    server = _Quiet(config)
    sockets = [sock]

    async def stopper() -> None:
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(stopper())
    try:
        await server.serve(sockets=sockets)
    finally:
        watcher.cancel()
        for sock in sockets:
            sock.close()
