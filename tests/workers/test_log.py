"""The worker's logs print no secret: httpx is quiet, every other line is masked.

Set up as ``playbook worker`` and ``playbook dev`` do (a root handler, then
``workers.log.configure``), a real HTTP API on loopback and a real outbound chat call write
their lines; no password, token or API key from a URL reaches them.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import structlog

from tests.workers.test_outbound import serve as http_server
from workers.api import serve
from workers.log import configure
from workers.outbound import OutboundSettings, notify_chat
from workers.outbound._guard import OutboundClient
from workers.settings import Settings

SECRET = "s3cr3tpw"


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What the root handler and structlog print, with the process's set-up restored after."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    root = logging.getLogger()
    saved = (root.level, structlog.get_config(), logging.getLogger("httpx").level)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    configure(json=True)
    # structlog prints to the stderr it was given; the test reads the same buffer instead.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(out))
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        structlog.configure(**saved[1])
        logging.getLogger("httpx").setLevel(saved[2])
        logging.getLogger("httpcore").setLevel(logging.NOTSET)


async def test_access_log_masks_query_secrets(logged: io.StringIO) -> None:
    """uvicorn's access line for a request with ?token= shows the path, not the token."""
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve(Settings(), port=0, stop=stop, on_ready=ready.set_result))
    try:
        async with httpx.AsyncClient(base_url=await ready, timeout=30) as http:
            answered = await http.get("/healthz", params={"token": SECRET, "tier": "critical"})
            assert answered.status_code == 200
    finally:
        stop.set()
        await server
    lines = logged.getvalue()
    assert "/healthz?token=***&tier=critical" in lines
    assert SECRET not in lines


async def test_outbound_calls_and_structured_events_print_no_secret(logged: io.StringIO) -> None:
    """httpx's request line (full URL) is not printed, and structlog values are masked."""
    with http_server() as receiver:
        url = receiver.url(f"/chat?api_key={SECRET}").replace("://", f"://bot:{SECRET}@")
        settings = OutboundSettings.from_env(
            {"PLAYBOOK_CHAT_DEFAULT_WEBHOOK": url, "PLAYBOOK_OUTBOUND_ALLOW": "127.0.0.1"}
        )
        client = OutboundClient(settings)
        try:
            await notify_chat(
                settings, channel="#cs", text="hi", idempotency_key="k", client=client
            )
        finally:
            await client.aclose()
        assert receiver.paths() == [f"/chat?api_key={SECRET}"]  # the receiver gets it
    structlog.get_logger("playbook.actions").warning(
        "action failed", error=f"cannot reach postgresql://app:{SECRET}@db/cs?password={SECRET}"
    )
    printed = logged.getvalue()
    assert SECRET not in printed
    assert "HTTP Request" not in printed
    events = [json.loads(line) for line in printed.splitlines() if line.startswith("{")]
    assert events[-1]["error"] == "cannot reach postgresql://app:***@db/cs?password=***"
