"""Serving the API: bind the socket ourselves, then hand it to uvicorn.

Binding first turns "address already in use" into one line before anything starts (uvicorn
would log it and ``sys.exit``), tells the caller the real port when it asked for port 0,
and lets ``playbook dev`` run the API beside a worker in one event loop: uvicorn's own
signal handling is switched off and the caller's stop event ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import socket
from collections.abc import Callable, Generator

import uvicorn

from engine.language._errors import PlaybookError
from workers._listen import listen
from workers.api._app import create_app
from workers.api._limits import deadline_protocol
from workers.settings import API_HMAC_VAR, API_TOKENS_VAR, Settings


class ApiRefused(PlaybookError):
    """The API cannot start as configured; the message says why in one line."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    try:
        return listen(host, port)
    except OSError as error:
        raise ApiRefused(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


class _Embedded(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The caller owns SIGINT/SIGTERM (see serve); uvicorn must not take them over.
        yield


async def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the API until ``stop`` is set (or, without one, until Ctrl-C or SIGTERM).

    ``on_ready`` gets the base URL once the socket listens. Raises :class:`ApiRefused` when
    the API would be open to the network, or the address cannot be bound.
    """
    host = host or settings.api.host
    port = settings.api.port if port is None else port
    if settings.api.open and not is_loopback(host):
        raise ApiRefused(
            f"the API has no credentials and would listen on {host}: set {API_TOKENS_VAR} or "
            f"{API_HMAC_VAR}, or listen on 127.0.0.1"
        )
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    seconds = settings.api.request_timeout
    config = uvicorn.Config(
        create_app(settings, request_seconds=seconds),
        log_config=None,
        lifespan="off",
        # Our h11 protocol, whatever else is installed: it times out unfinished headers.
        http=deadline_protocol(seconds),
    )
    server = _Embedded(config)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)

    async def stopper() -> None:
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(stopper())
    shown = f"[{host}]" if ":" in host else host
    if on_ready is not None:
        on_ready(f"http://{shown}:{bound_port}")
    try:
        await server.serve(sockets=[sock])
    finally:
        watcher.cancel()
        sock.close()
