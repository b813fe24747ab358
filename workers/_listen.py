"""A listening TCP socket whose accepted connections send without Nagle's delay.

The HTTP API and the worker's probe endpoint bind their socket before uvicorn starts (a port
in use is then one line). ``socket.create_server`` leaves the socket's proto 0, accepted
connections inherit it, and asyncio turns Nagle's algorithm off (TCP_NODELAY) only on a
socket whose proto says TCP: with Nagle on, a response's body waited for the client's
delayed ACK of its headers, 40 ms on every request of a kept-alive connection but the first.
"""

from __future__ import annotations

import socket


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port`` (IPv6 when ``host`` has a colon); OSError
    when it cannot."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.create_server((host, port), family=family)
    # Wrapped again, the socket reads its proto from the kernel: IPPROTO_TCP.
    return socket.socket(fileno=listening.detach())
