"""`make demo`: the whole engine on one laptop, driven through a small book of accounts.

Starts the laptop stack of ``workers.dev`` (the embedded Temporal dev server with its UI and
the search attributes, state in ``.demo/``; mail and chat catchers on loopback; a worker with
the real action activities; the HTTP API with ``--stay``); publishes the shipped
playbooks, loads demo accounts (enterprise, mid-market, SMB, with owners and renewal dates),
streams the events that move them, and prints what happened and where to look.

    .venv/bin/python -m workers.demo [--dir .demo] [--stay] [--resume]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client

from engine import load
from engine.client._operate import Overview, overview, why_decisions
from engine.client._start import publish, send
from engine.client._status import status_lines
from engine.journeys._catalog import build_catalog
from engine.journeys._messages import AccountEvent, AttributeChange, HealthEvent
from workers.dev import QUEUE, Stack, free_port, running, stop_signals, stopped
from workers.log import configure

ROOT = Path(__file__).parents[1]


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
    ("hooli", "recovers: one good reading is not yet a save", HealthEvent(score=81)),
    (
        "hooli",
        "its CSM confirms the save: the play reaches its goal and stands the escalation down",
        AccountEvent(name="save.confirmed"),
    ),
]


async def _settle(client: Client, ids: list[str], seconds: float = 20) -> dict[str, Overview]:
    """Wait until no account changes its status between two looks (signals are async)."""
    last: dict[str, str] = {}
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        views = {a: await overview(client, a) for a in ids}
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
    catalog = build_catalog(shipped.plans(), shipped.health_plan(), shipped.contact_plan())  # type: ignore[arg-type]
    ui_port = int(os.environ.get("PLAYBOOK_DEMO_UI_PORT", "8233"))
    print(f"starting the Temporal dev server (state in {directory}/temporal.db)...", flush=True)
    async with running(
        directory,
        ui_port=ui_port,
        api_port=free_port() if stay else None,
        people=ROOT / "demo" / "people.yaml",
    ) as stack:
        client = stack.client
        print(await publish(client, catalog, QUEUE), flush=True)
        today = await stack.env.get_current_time()
        book = _accounts(today)
        for account, attributes in book.items():
            await send(client, account, AttributeChange(set=attributes), QUEUE)
        for account, what, message in STORY:
            print(f"  {account:<9} {what}", flush=True)
            await send(client, account, message, QUEUE)
            await asyncio.sleep(1.5)
        views = await _settle(client, list(book))
        _report(views, stack)
        if stay:
            stop = stop_signals()
            print(
                f"\nstaying up (as `playbook dev --dir {directory}` would); Ctrl-C to stop",
                flush=True,
            )
            await stopped(stop)


# The ladder's moves, as the demo prints them per account.
_LADDER = {"escalated", "sla_missed", "acknowledged", "de-escalated", "stood_down"}


def _report(views: dict[str, Overview], stack: Stack) -> None:
    print("\n== journeys")
    for view in views.values():
        print("\n".join(status_lines(view)))
    print("\n== escalations")
    for account, view in views.items():
        for d in why_decisions(view):
            if d.kind in _LADDER:
                detail = f": {d.detail}" if d.detail else ""
                print(f"  {account:<9} {d.playbook:<17} {d.kind} ({d.rule}){detail}")
    print(f"\n== emails the mail catcher received ({len(stack.mail)})")
    for message in stack.mail:
        print(f"  to {message['To']}: {message['Subject']}")
    print(f"\n== chat messages ({len(stack.chat)})")
    for post in stack.chat:
        print(f"  {post.get('channel', '')}: {str(post.get('text', '')).splitlines()[0]}")
    address = stack.temporal_address
    api = (
        f"\n  HTTP API        {stack.api_url}/docs\n  dashboard       {stack.api_url}/dashboard"
        if stack.api_url
        else ""
    )
    print(
        f"""
== where to look
  Temporal UI     {stack.ui_url}  (try the query: EscalationTier = 'executive')
  tasks           .venv/bin/playbook tasks --all --database {stack.database_url}
  an account      .venv/bin/playbook status acme --address {address}   (and: why acme)
  the dashboard   .venv/bin/playbook report --address {address} --database {stack.database_url}{api}
  (the dev server stops with the demo; run with --stay, or `playbook dev --dir {stack.directory}`
   afterwards, to keep exploring the same state)"""
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
