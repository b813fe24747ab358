"""``playbook worker``: the engine's workflows and activities, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from engine.client._connect import TemporalSettings
from engine.language._errors import PlaybookError
from playbook_cli._base import _Failed, _run, app, connected

if TYPE_CHECKING:
    from temporalio.client import Client


# How long in-flight activities get to finish after Ctrl-C or SIGTERM before they are
# cancelled; their retries then run on another worker, keyed so nothing is sent twice.
_GRACE = timedelta(seconds=10)
_log = logging.getLogger("playbook.worker")


@app.command()
@connected()
def worker(
    *,
    settings: TemporalSettings,
    register_search_attributes: Annotated[
        bool,
        typer.Option(
            "--register-search-attributes",
            help="First register the engine's search attributes on the namespace"
            " (self-hosted clusters; Temporal Cloud creates them in its UI or tcld).",
        ),
    ] = False,
) -> None:
    """Run the engine's workflows and activities until Ctrl-C or SIGTERM."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from workers.log import configure

    configure()
    _run(_serve(settings, register_search_attributes))
    _log.info("stopped")


async def _serve(settings: TemporalSettings, register_attributes: bool) -> None:
    from engine.client._connect import connect
    from workers.activities import Actions
    from workers.directory import DirectoryError
    from workers.metrics import serve_sdk_metrics
    from workers.probe import bind
    from workers.settings import METRICS_PORT_VAR, Settings
    from workers.worker import build_worker, tune_gc

    try:
        # Before connecting: a bad SMTP, store or directory setting is the first thing to say.
        full = Settings.from_env(temporal=settings)
        actions = Actions.from_settings(full)
    except (PlaybookError, DirectoryError, ValueError) as error:
        raise _Failed(str(error)) from None
    probe = None
    try:
        if full.metrics.port is not None:
            try:
                sock = bind(full.metrics.host, full.metrics.port)
            except OSError as error:
                where = f"{full.metrics.host}:{full.metrics.port}"
                raise _Failed(
                    f"cannot serve metrics on {where} ({METRICS_PORT_VAR}): {error.strerror}"
                ) from None
            probe = (sock, serve_sdk_metrics())  # before the client: the runtime takes it
        client = await connect(settings)
        if register_attributes:
            await _register(client, settings)
        worker = build_worker(
            client,
            settings.task_queue,
            actions.activities(),
            graceful_shutdown_timeout=_GRACE,
            max_cached_workflows=full.worker.cached_workflows,
        )
        tune_gc(worker.config()["max_cached_workflows"])
        await _work(worker, settings, probe)
    finally:
        if probe is not None:
            probe[0].close()
        await actions.aclose()


async def _work(worker: Any, settings: TemporalSettings, probe: Any = None) -> None:
    from workers.metrics import METRICS
    from workers.probe import probe_app, serve_probe
    from workers.worker import WORKFLOWS

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    running = asyncio.create_task(worker.run())
    stopping = asyncio.create_task(stop.wait())
    probe_stop = asyncio.Event()
    if probe is not None:
        sock, sdk = probe
        app = probe_app(worker.client, worker, METRICS, sdk)
        serving = asyncio.create_task(serve_probe(app, sock, probe_stop))
        host, port = sock.getsockname()[:2]
        _log.info("metrics at http://%s:%s/metrics, health at /healthz and /readyz", host, port)
    _log.info(
        "serving task queue %s in %s: %s, up to %s kept in memory (Ctrl-C to stop)",
        settings.task_queue,
        settings.where(),
        ", ".join(w.__name__ for w in WORKFLOWS),
        worker.config()["max_cached_workflows"],
    )
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # A second Ctrl-C during the shutdown below interrupts it (exit 130).
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        stopping.cancel()
    if not running.done():
        _log.info("stopping: in-flight activities get up to %ss", _GRACE.seconds)
        await worker.shutdown()
    if probe is not None:
        probe_stop.set()
        await serving
    error = running.exception()
    if error is not None:
        cause = f": {error.__cause__}" if error.__cause__ else ""
        raise _Failed(f"worker stopped: {error}{cause}")


async def _register(client: Client, settings: TemporalSettings) -> None:
    from temporalio.service import RPCError

    from engine.client._attributes import register
    from engine.journeys._search import ALL

    try:
        await register(client, settings.namespace)
    except RPCError as exc:
        raise _Failed(
            f"could not register search attributes on namespace {settings.namespace}:"
            f" {exc.message} (on Temporal Cloud, add them with tcld or the Cloud UI)"
        ) from None
    _log.info("search attributes registered: %s", ", ".join(key.name for key in ALL))
