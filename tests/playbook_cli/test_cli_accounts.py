"""`playbook event`, `status` and `why` as an operator runs them, against the real dev server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._attributes import register
from engine.client._start import publish
from engine.journeys._catalog import build_catalog
from tests.support import Recorder, fresh_namespace
from workers.worker import build_worker

PLAYBOOK = Path(sys.executable).parent / "playbook"
JOURNEYS = Path(__file__).parents[1] / "fixtures" / "journeys"


async def test_event_status_and_why(dev_env: WorkflowEnvironment) -> None:
    """An event starts the account, status shows its journey, why shows the reason; a
    re-sent event id changes nothing; mistakes are one line and exit 1."""
    client = await fresh_namespace(dev_env)
    await register(client, client.namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_")},
        "PLAYBOOK_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "PLAYBOOK_TEMPORAL_NAMESPACE": client.namespace,
        "PLAYBOOK_TEMPORAL_TASK_QUEUE": queue,
    }

    async def playbook(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [str(PLAYBOOK), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )

    book = load([JOURNEYS])
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, build_catalog(book.plans(), book.health_plan()), queue)  # type: ignore[arg-type]
        sent = await playbook(
            "event", account, "--set", "segment=enterprise", "--score", "30", "--id", "e1"
        )
        assert sent.returncode == 0, sent.stderr
        for _ in range(100):
            shown = await playbook("status", account)
            if "rescue v1 cycle 1: running" in shown.stdout:
                break
            await asyncio.sleep(0.1)
        assert shown.returncode == 0, shown.stderr
        assert f"account {account}: health 30 (critical" in shown.stdout
        assert "segment: enterprise" in shown.stdout
        assert "rescue v1 cycle 1: running" in shown.stdout

        again = await playbook("event", account, "--score", "30", "--id", "e1")
        assert again.returncode == 0, again.stderr
        why = await playbook("why", account)
        assert why.returncode == 0, why.stderr
        enrolled = [line for line in why.stdout.splitlines() if " enrolled " in line]
        assert len(enrolled) == 1
        assert "rescue v1" in enrolled[0] and "rescue.entry.when" in enrolled[0]
        assert '"health.tier": "critical"' in enrolled[0]

        acked = await playbook("ack", account, "--by", "maria")
        assert acked.returncode == 0, acked.stderr
        assert (
            acked.stdout == f"{account}: nothing to acknowledge: rescue has no escalation engaged\n"
        )
        ended = await playbook(
            "exit", account, "rescue", "--by", "maria", "--reason", "handled by phone"
        )
        assert ended.returncode == 0, ended.stderr
        assert ended.stdout == f"{account}: ended rescue (cycle 1): handled by phone (by maria)\n"
        for _ in range(100):
            shown = await playbook("status", account)
            if "rescue v1 cycle 1: ended " in shown.stdout:
                break
            await asyncio.sleep(0.1)
        assert "stopped: handled by phone (by maria) (neutral)" in shown.stdout
        why = await playbook("why", account)
        assert "handled by phone" in why.stdout

    for args, words in (
        (("status", "nobody-here"), "no account 'nobody-here'"),
        (("ack", "nobody-here"), "no account 'nobody-here'"),
        (("event", account), "nothing to send"),
        (("event", account, "--score", "150"), "score: Input should be less than or equal to 100"),
        (("event", account, "--set", "segment"), "write it as name=value"),
    ):
        result = await playbook(*args)
        assert result.returncode == 1, (args, result.stdout)
        assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


async def test_accounts_are_found_by_tier_playbook_and_owner(dev_env: WorkflowEnvironment) -> None:
    """`playbook accounts` filters through visibility: tier, owner, running playbook."""
    client = await fresh_namespace(dev_env)
    await register(client, client.namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_")},
        "PLAYBOOK_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "PLAYBOOK_TEMPORAL_NAMESPACE": client.namespace,
        "PLAYBOOK_TEMPORAL_TASK_QUEUE": queue,
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PLAYBOOK), *args], capture_output=True, text=True, timeout=60, env=env, check=False
        )

    book = load([JOURNEYS])
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, build_catalog(book.plans(), book.health_plan()), queue)  # type: ignore[arg-type]
        for account, score, owner in (
            ("red", "30", "o'brien@cs.example"),
            ("green", "90", "sam@cs.example"),
        ):
            sent = await asyncio.to_thread(
                run,
                "event",
                account,
                "--set",
                f"owner={owner}",
                "--set",
                "segment=smb",
                "--score",
                score,
            )
            assert sent.returncode == 0, sent.stderr

        async def listed(*args: str) -> list[str]:
            result = await asyncio.to_thread(run, "accounts", *args)
            assert result.returncode == 0, result.stderr
            return [line.split("\t")[0] for line in result.stdout.splitlines()]

        for args, expected in (
            (("--tier", "critical"), ["red"]),
            (("--owner", "o'brien@cs.example"), ["red"]),
            (("--playbook", "rescue"), ["red"]),
            (("--segment", "smb"), ["green", "red"]),
        ):
            for _ in range(100):  # visibility is eventually consistent
                if await listed(*args) == expected:
                    break
                await asyncio.sleep(0.1)
            assert await listed(*args) == expected, args


async def test_ingest_sends_rows_in_order_reports_bad_ones_and_does_not_double_count(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """JSONL and CSV rows reach their accounts; bad rows are named by line; a second ingest
    of the same file changes nothing."""
    client = await fresh_namespace(dev_env)
    await register(client, client.namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_")},
        "PLAYBOOK_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "PLAYBOOK_TEMPORAL_NAMESPACE": client.namespace,
        "PLAYBOOK_TEMPORAL_TASK_QUEUE": queue,
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PLAYBOOK), *args], capture_output=True, text=True, timeout=60, env=env, check=False
        )

    jsonl = tmp_path / "health.jsonl"
    jsonl.write_text(
        '{"account": "acme", "set": {"segment": "smb", "arr": "12000"}}\n'
        '{"account": "acme", "score": 30}\n'
        "not json\n"
        '{"account": "acme", "score": 130}\n'
        '{"account": "globex", "components": {"usage": 90, "engagement": 80, "support": 90,'
        ' "nps": 70, "billing": 95}}\n'
    )
    table = tmp_path / "changes.csv"
    table.write_text("account,id,score,set.owner,event\ninitech,c1,55,rita@cs.example,\n,c2,40,,\n")
    book = load([JOURNEYS])
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, build_catalog(book.plans(), book.health_plan()), queue)  # type: ignore[arg-type]
        first = await asyncio.to_thread(run, "ingest", str(jsonl))
        assert first.returncode == 1
        assert first.stdout.strip() == "sent 3 row(s) to 2 account(s); 2 row(s) refused"
        assert f"{jsonl}:3: not JSON" in first.stderr
        assert f"{jsonl}:4: score: Input should be less than or equal to 100" in first.stderr
        again = await asyncio.to_thread(run, "ingest", str(jsonl))
        assert again.stdout == first.stdout
        csv_run = await asyncio.to_thread(run, "ingest", str(table))
        assert csv_run.returncode == 1 and f"{table}:3: no account" in csv_run.stderr

        async def settled() -> str:
            out = await asyncio.to_thread(run, "status", "globex")
            return out.stdout if "health 86" in out.stdout else ""

        # 30% usage 90, 20% engagement 80, 15% support 90, 15% nps 70, 20% billing 95.
        for _ in range(30):
            if await settled():
                break
            await asyncio.sleep(0.2)
        assert await settled()
        acme = await asyncio.to_thread(run, "status", "acme")
        assert "health 30 (critical" in acme.stdout and "arr: 12000" in acme.stdout
        assert "rescue v1 cycle 1: running" in acme.stdout
        why = await asyncio.to_thread(run, "why", "acme")
        assert sum(" enrolled " in line for line in why.stdout.splitlines()) == 1
        initech = await asyncio.to_thread(run, "status", "initech")
        assert "owner: rita@cs.example" in initech.stdout and "health 55" in initech.stdout
    missing = await asyncio.to_thread(run, "ingest", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert "cannot read" in missing.stderr


async def test_ingest_reports_each_hostile_row_and_sends_every_good_one(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A 10,000-character account id, a 3 MB attribute, a 5,000-digit number, a renewal date
    in the year 1, an account id with a slash: each one line naming its row; the good rows
    around them are all sent; a CSV that starts with a byte order mark is read."""
    client = await fresh_namespace(dev_env)
    await register(client, client.namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_")},
        "PLAYBOOK_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "PLAYBOOK_TEMPORAL_NAMESPACE": client.namespace,
        "PLAYBOOK_TEMPORAL_TASK_QUEUE": queue,
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PLAYBOOK), *args], capture_output=True, text=True, timeout=90, env=env, check=False
        )

    rows = [
        {"account": "good-1", "score": 70},
        {"account": "x" * 10_000, "score": 50},
        {"account": "good-2", "set": {"notes": "y" * 3_000_000}},
        "BIGNUMBER",
        {"account": "good-3", "set": {"renewal_date": "0001-01-05"}},
        {"account": "a/b", "score": 40},
        {"account": "good-4", "score": 65},
    ]
    lines = [
        '{"account": "good-2", "set": {"arr": ' + "9" * 5_000 + "}}"
        if row == "BIGNUMBER"
        else json.dumps(row)
        for row in rows
    ]
    jsonl = tmp_path / "hostile.jsonl"
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = tmp_path / "bom.csv"
    table.write_bytes(
        "\ufeffaccount,score,set.arr\nbom-1,61,7000\nbom-2,62,99999999999999999999999\n".encode()
    )
    book = load([JOURNEYS])
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, build_catalog(book.plans(), book.health_plan()), queue)  # type: ignore[arg-type]
        result = await asyncio.to_thread(run, "ingest", str(jsonl))
        assert result.returncode == 1
        assert result.stdout.strip() == "sent 2 row(s) to 2 account(s); 5 row(s) refused"
        errors = result.stderr.strip().splitlines()
        assert [e.split(":")[1] for e in errors] == ["2", "3", "4", "5", "6"], errors
        assert "the account id of 10,000 characters (at most 200)" in errors[0]
        assert "set.notes: text of 3,000,000 characters" in errors[1]
        assert "not a usable JSON object" in errors[2] or "beyond" in errors[2]
        assert "set.renewal_date: 0001-01-05 is outside 1900-01-01..2199-12-31" in errors[3]
        assert "has a slash" in errors[4]
        assert all(len(e) < 300 for e in errors)
        csv_run = await asyncio.to_thread(run, "ingest", str(table))
        assert csv_run.returncode == 1, csv_run.stdout + csv_run.stderr
        assert csv_run.stdout.strip() == "sent 1 row(s) to 1 account(s); 1 row(s) refused"
        assert f"{table}:3: 99999999999999999999999: a number beyond +-1e15" in csv_run.stderr

        async def applied(account: str, score: str) -> bool:
            out = await asyncio.to_thread(run, "status", account)
            return f"health {score}" in out.stdout

        for account, score in (("good-1", "70"), ("good-4", "65"), ("bom-1", "61")):
            for _ in range(50):
                if await applied(account, score):
                    break
                await asyncio.sleep(0.2)
            assert await applied(account, score), account
