"""The sockets the HTTP API and the worker's probe listen on: the connections they accept
send without Nagle's delay (workers._listen)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest

from workers import probe
from workers.api._serve import ApiRefused, bind

BINDS = pytest.mark.parametrize("bind_to", [bind, probe.bind], ids=["api", "probe"])


async def _nodelay_of_accepted(bind_to: Callable[[str, int], socket.socket], host: str) -> int:
    """TCP_NODELAY of a connection accepted the way uvicorn accepts it (the event loop's
    create_server on the socket ``bind`` returns)."""
    loop = asyncio.get_running_loop()
    seen: asyncio.Future[int] = loop.create_future()

    class _Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    listening = bind_to(host, 0)
    server = await loop.create_server(_Probe, sock=listening)
    try:
        _, writer = await asyncio.open_connection(host, listening.getsockname()[1])
        try:
            return await asyncio.wait_for(seen, 10)
        finally:
            writer.close()
    finally:
        server.close()
        await server.wait_closed()


@BINDS
async def test_an_accepted_connection_has_nagle_off(
    bind_to: Callable[[str, int], socket.socket],
) -> None:
    """With Nagle on, a response's body waited for the client's delayed ACK of its headers:
    40 ms on every request of a kept-alive connection but the first."""
    assert await _nodelay_of_accepted(bind_to, "127.0.0.1") != 0


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as trial:
            trial.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
@BINDS
async def test_an_accepted_ipv6_connection_has_nagle_off(
    bind_to: Callable[[str, int], socket.socket],
) -> None:
    assert await _nodelay_of_accepted(bind_to, "::1") != 0


@BINDS
def test_the_listening_socket_is_tcp(bind_to: Callable[[str, int], socket.socket]) -> None:
    with bind_to("127.0.0.1", 0) as listening:
        assert listening.proto == socket.IPPROTO_TCP
        assert listening.type == socket.SOCK_STREAM


def test_a_port_in_use_is_still_one_line() -> None:
    with bind("127.0.0.1", 0) as busy:
        busy.listen()
        with pytest.raises(ApiRefused, match=r"^cannot listen on 127\.0\.0\.1:\d+: "):
            bind("127.0.0.1", busy.getsockname()[1])
