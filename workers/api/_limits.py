"""What the API refuses before a route sees the request: slow, large or garbled requests.

Three doors a client could otherwise hold open or break through:

- **Time.** uvicorn times out idle keep-alive connections, but not a request that is still
  arriving: a client that sends half its headers, or headers and then half its body, held a
  connection (and a slot of the server) forever. :func:`deadline_protocol` gives each
  request's headers a deadline, and :class:`ReadBody` gives its body one; past either the
  client gets ``408`` and the connection is closed.
- **Size.** A body over ``MAX_BODY_BYTES`` is ``413`` whether it declares its length or
  arrives chunked. The body is read here, whole, before the route runs; a route that read it
  itself (FastAPI parsing JSON) would turn our refusal into its own ``400``.
- **Control characters in query parameters.** A NUL in a filter reached Temporal's SQL
  visibility store, whose error text went back to the client; such a value is ``400`` here,
  for every route.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import unicodedata
from typing import ClassVar
from urllib.parse import parse_qsl

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_BODY_BYTES = 1024 * 1024
"""A batch of 1,000 events fits easily; anything bigger is refused before it is parsed."""

DRAIN_BYTES = 32 * MAX_BODY_BYTES
"""How much of a refused body is read and dropped so the client sees its 413 (see _drain)."""

DEFAULT_REQUEST_SECONDS = 10.0
"""How long a client has to send a request's headers, and then again its body."""


def _problem(detail: str, *, close: bool = False) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and body of a ``{"detail": ...}`` answer."""
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        # The client may still be sending; h11 then ends the connection after the answer.
        headers.append((b"connection", b"close"))
    return headers, body


async def _answer(send: Send, status: int, detail: str, *, close: bool = False) -> None:
    headers, body = _problem(detail, close=close)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def control_character(text: str) -> str | None:
    """The first control character in ``text`` as ``U+0000``, or None.

    Categories Cc (NUL, newline, DEL, C1) and Cs (lone surrogates): no tier, segment, owner,
    playbook or period has them, and a visibility query must not carry them.
    """
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs"):
            return f"U+{ord(char):04X}"
    return None


class ReadBody:
    """Reads each request's body, within the size limit and the deadline, before the app.

    The app then gets the body as one message, as if the client had sent it at once; what it
    would read after (a disconnect) still comes from the connection.
    """

    def __init__(self, app: ASGIApp, *, seconds: float = DEFAULT_REQUEST_SECONDS) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = _bad_query(scope.get("query_string", b""))
        if refused:
            await _answer(send, 400, refused)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        # h11 has checked the header: digits, or absent (chunked, or no body).
        size = int(declared) if declared.isdigit() else 0
        over = size > MAX_BODY_BYTES
        if over and (headers.get(b"expect", b"").lower() == b"100-continue" or size > DRAIN_BYTES):
            # The client waits for our word before sending, or would send too much to drain.
            await _answer(send, 413, _too_large(), close=True)
            return
        try:
            async with asyncio.timeout(self.seconds):
                body, disconnected = await _read(receive, MAX_BODY_BYTES if not over else -1)
        except TimeoutError:
            await _answer(
                send,
                408,
                f"the request body did not arrive within {self.seconds:g} s; send it whole",
                close=True,
            )
            return
        except _TooLarge:
            await _drain(receive, self.seconds)
            await _answer(send, 413, _too_large(), close=True)
            return
        if disconnected:
            return  # nobody to answer
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class _TooLarge(Exception):
    pass


def _too_large() -> str:
    return f"body over {MAX_BODY_BYTES} bytes: send at most 1,000 events per batch"


async def _read(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The whole body, and whether the client went away instead of finishing it; raises
    ``_TooLarge`` once it passes ``limit`` bytes (at once when ``limit`` is negative)."""
    if limit < 0:
        raise _TooLarge
    parts: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > limit:
            raise _TooLarge
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts), False


async def _drain(receive: Receive, seconds: float) -> None:
    """Read and drop the rest of a refused body, up to ``DRAIN_BYTES`` and ``seconds``.

    Most clients read the answer only once they have sent the whole body; closing the
    connection while they still send makes the kernel reset it, and the reset destroys the
    413 before they read it. Bounded, so a client cannot keep the connection by sending on.
    """
    drained = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while drained <= DRAIN_BYTES:
                message = await receive()
                drained += len(message.get("body", b""))
                if message["type"] == "http.disconnect" or not message.get("more_body", False):
                    return


def _bad_query(raw: bytes) -> str | None:
    # Decoded as starlette decodes it, so what is checked is what a route would get.
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        for text in (name, value):
            found = control_character(text)
            if found:
                return (
                    f"query parameter {name[:40]!r} holds a control character ({found}); "
                    "filters and periods are plain text"
                )
    return None


def deadline_protocol(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing a connection whose request headers are not complete
    within ``seconds`` of the connection opening or of the previous response."""
    return type("DeadlinedH11Protocol", (_DeadlinedH11Protocol,), {"header_seconds": seconds})


class _DeadlinedH11Protocol(H11Protocol):
    header_seconds: ClassVar[float] = DEFAULT_REQUEST_SECONDS
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def _watch(self) -> None:
        # Waiting for a request line and headers: the deadline runs from the first moment of
        # waiting and is not renewed by each byte, or a trickle would hold it open for ever.
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if not waiting:
            self._stop()
        elif self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_seconds, self._expire)

    def _stop(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expire(self) -> None:
        self._header_timer = None
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            return
        if self.conn.trailing_data[0]:
            # Part of a request arrived: say why it ends (an idle connection is just closed).
            headers, body = _problem(
                f"the request headers did not arrive within {self.header_seconds:g} s",
                close=True,
            )
            head = b"".join(k + b": " + v + b"\r\n" for k, v in headers)
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\n" + head + b"\r\n" + body)
        self.transport.close()
