"""`playbook worker` and `playbook publish` as an operator runs them, on the real dev server.

Each test that publishes works in a namespace of its own: the catalog is one workflow per
namespace, so tests sharing the session's dev server would otherwise share it too.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from engine.client._start import account_workflow_id, send
from engine.journeys._account import AccountWorkflow
from engine.journeys._account_state import AccountStatus
from engine.journeys._messages import HealthEvent
from tests.support import fresh_namespace

PLAYBOOK = Path(sys.executable).parent / "playbook"
JOURNEYS = Path(__file__).parents[1] / "fixtures" / "journeys"
DEADLINE = 30.0


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without PLAYBOOK_TEMPORAL_* settings, plus ``extra``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_TEMPORAL_")}
    return {**inherited, **(extra or {})}


def playbook(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PLAYBOOK), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=environment(env),
    )


def address(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


def wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        if process.poll() is not None:
            raise AssertionError(f"worker exited {process.returncode}:\n{log.read_text()}")
        time.sleep(0.05)
    raise AssertionError(f"worker never logged {text!r}:\n{log.read_text()}")


async def test_worker_runs_what_publish_sends(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """Worker up (keeping as many workflows in memory as PLAYBOOK_WORKER_CACHED_WORKFLOWS
    says), set published (twice), an account enrolls, Ctrl-C stops it cleanly."""
    client = await fresh_namespace(dev_env)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"acme-{queue[-6:]}"
    connection = {"PLAYBOOK_TEMPORAL_ADDRESS": address(dev_env)}
    cache = {"PLAYBOOK_WORKER_CACHED_WORKFLOWS": "123"}
    log = tmp_path / "worker.err"
    with log.open("w") as stderr:
        worker = subprocess.Popen(
            [
                str(PLAYBOOK),
                "worker",
                *("--namespace", client.namespace, "--task-queue", queue),
                "--register-search-attributes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=environment({**connection, **cache}),
        )
    try:
        wait_for_line(log, f"serving task queue {queue}", worker)
        assert "up to 123 kept in memory" in log.read_text()
        assert "search attributes registered: AccountId" in log.read_text()

        flags = ("--namespace", client.namespace, "--task-queue", queue)
        first = playbook("publish", str(JOURNEYS), *flags, env=connection)
        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines()[-1].endswith(": rescue v1, upsell v1")
        assert "rescue\tv1\tsha256:" in first.stdout
        again = playbook("publish", str(JOURNEYS), *flags, env=connection)
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines()[-1].endswith(": no version changes")

        await send(client, account, HealthEvent(score=30), queue)
        handle = client.get_workflow_handle(account_workflow_id(account))
        deadline = time.monotonic() + DEADLINE
        status: AccountStatus = await handle.query(AccountWorkflow.status)
        while "rescue" not in status.enrollments:
            assert time.monotonic() < deadline, f"rescue never enrolled: {status.why}"
            await asyncio.sleep(0.1)
            status = await handle.query(AccountWorkflow.status)
        assert status.enrollments["rescue"].version == 1

        worker.send_signal(signal.SIGINT)
        assert worker.wait(timeout=DEADLINE) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    errors = log.read_text()
    assert "Traceback" not in errors
    assert errors.splitlines()[-1].endswith("playbook.worker: stopped")


EVENTS = Path(__file__).parents[1] / "fixtures" / "events" / "one.jsonl"


@pytest.mark.parametrize(
    "command",
    [
        ["worker"],
        ["publish", str(JOURNEYS)],
        ["event", "acme", "--score", "40"],
        ["ingest", str(EVENTS)],
        ["status", "acme"],
        ["why", "acme"],
        ["accounts", "--tier", "critical"],
        ["ack", "acme", "--by", "maria"],
        ["exit", "acme", "onboarding"],
        ["pause", "acme", "--by", "maria"],
        ["resume", "acme", "--by", "maria"],
    ],
    ids=lambda command: command[0],
)
def test_unreachable_server_is_one_line(command: list[str]) -> None:
    """Nothing listens on port 1: every command that talks to Temporal says so in one line
    naming the address, exit 1, no traceback."""
    result = playbook(*command, "--address", "127.0.0.1:1")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "playbook: Temporal is not reachable at 127.0.0.1:1 (namespace default): Connection refused"
    ]


def test_bad_setting_in_environment_is_one_line() -> None:
    result = playbook("worker", env={"PLAYBOOK_TEMPORAL_TLS": "maybe"})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "playbook: PLAYBOOK_TEMPORAL_TLS: Input should be a valid boolean, unable to interpret"
        " input"
    ]


def test_missing_certificate_is_named(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    result = playbook("worker", "--tls-cert", str(cert), "--tls-key", str(tmp_path / "k.pem"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"playbook: {cert}: no such file (given by --tls-cert or PLAYBOOK_TEMPORAL_TLS_CERT)"
    ]


def test_invalid_set_is_not_published(tmp_path: Path) -> None:
    """Diagnostics as `playbook validate` prints them; no connection is even tried."""
    shutil.copytree(JOURNEYS, tmp_path / "set")
    rescue = tmp_path / "set" / "rescue.yaml"
    rescue.write_text(rescue.read_text().replace("type: task", "type: tsk"))
    result = playbook("publish", str(tmp_path / "set"), "--address", "127.0.0.1:1")
    validate = playbook("validate", str(tmp_path / "set"))
    assert result.returncode == 1
    assert result.stdout == validate.stdout
    assert f"{rescue}:" in result.stdout
    assert "not reachable" not in result.stderr
    assert "Traceback" not in result.stderr


def test_set_without_playbooks_is_not_published(tmp_path: Path) -> None:
    """Publishing a set with no playbooks would retire every playbook: refused."""
    shutil.copy(JOURNEYS / "health.yaml", tmp_path)
    result = playbook("publish", str(tmp_path), "--address", "127.0.0.1:1")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"playbook: nothing to publish: no playbooks in {tmp_path}"
    ]


async def test_publish_without_worker_or_on_another_queue(dev_env: WorkflowEnvironment) -> None:
    """No worker: a bounded wait and advice. Another queue than the catalog's: named."""
    client = await fresh_namespace(dev_env)
    connection = ("--address", address(dev_env), "--namespace", client.namespace)
    nobody = playbook("publish", str(JOURNEYS), *connection, "--task-queue", "a", "--wait", "0.5")
    assert nobody.returncode == 1
    assert nobody.stderr.splitlines() == [
        "playbook: no worker took the publish within 0.5s on task queue a in"
        f" {address(dev_env)} (namespace {client.namespace}): start `playbook worker` there"
        " and publish again (publishing twice is harmless)"
    ]
    other = playbook("publish", str(JOURNEYS), *connection, "--task-queue", "b")
    assert other.returncode == 1
    assert other.stderr.splitlines() == [
        f"playbook: catalog/default in namespace {client.namespace} runs on task queue a,"
        " not b: publish with --task-queue a"
    ]
