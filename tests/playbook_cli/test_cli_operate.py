"""`playbook ack`, `exit`, `pause`, `resume`, `accounts` and `status` say what they did, or
that there was nothing to do, and refuse unknown names: the real CLI against the dev server."""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine import load
from engine.client._attributes import register
from engine.client._start import publish
from engine.journeys._catalog import build_catalog
from tests.support import Recorder, fresh_namespace
from workers.worker import build_worker

PLAYBOOK = Path(sys.executable).parent / "playbook"
OPERATE = Path(__file__).parents[1] / "fixtures" / "operate"

Cli = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]


@asynccontextmanager
async def engine(
    dev_env: WorkflowEnvironment,
) -> AsyncIterator[tuple[Cli, dict[str, str], Client]]:
    """A namespace with the operate fixtures published and a worker; the CLI pointed at it."""
    client = await fresh_namespace(dev_env)
    await register(client, client.namespace)
    queue = f"q-{uuid.uuid4().hex[:8]}"
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

    book = load([OPERATE])
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, build_catalog(book.plans(), book.health_plan()), queue)  # type: ignore[arg-type]
        yield playbook, env, client


async def shown(playbook: Cli, account: str, words: str) -> str:
    """`playbook status` once it shows ``words`` (signals are handled asynchronously)."""
    for _ in range(100):
        out = await playbook("status", account)
        if words in out.stdout:
            return out.stdout
        await asyncio.sleep(0.1)
    raise AssertionError(f"status never showed {words!r}: {out.stdout}{out.stderr}")


def said(result: subprocess.CompletedProcess[str], line: str) -> None:
    """The command exited 0 and printed exactly ``line``."""
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == line, result.stdout


def refused(result: subprocess.CompletedProcess[str], words: str) -> None:
    """The command exited 1 with one line on stderr containing ``words`` and no output."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


async def test_ack_says_what_it_acknowledged_or_why_there_was_nothing_to(
    dev_env: WorkflowEnvironment,
) -> None:
    """ack: no journey, a journey with no escalation, an unknown or idle playbook, then a real
    acknowledgement naming the tier, then the same again (already acknowledged by whom)."""
    async with engine(dev_env) as (playbook, _, _client):
        said(await playbook("event", "calm", "--score", "90"), "sent 1 message(s) to account/calm")
        await shown(playbook, "calm", "health 90")
        said(
            await playbook("ack", "calm", "--by", "maria"),
            "calm: nothing to acknowledge: no journey is running",
        )
        await playbook("event", "acme", "--set", "segment=smb", "--score", "30")
        await shown(playbook, "acme", "watch v1 cycle 1: running")
        said(
            await playbook("ack", "acme", "--by", "maria"),
            "acme: nothing to acknowledge: watch has no escalation engaged",
        )
        refused(
            await playbook("ack", "acme", "--playbook", "wacth"),
            "unknown playbook 'wacth' (did you mean 'watch'?): the published catalog has"
            " expand, watch",
        )
        said(
            await playbook("ack", "acme", "--playbook", "expand"),
            "acme: nothing to acknowledge: no journey of expand is running",
        )
        await playbook("event", "acme", "--score", "10")
        await shown(playbook, "acme", "escalation tier csm (unacknowledged, next tier")
        said(
            await playbook("ack", "acme", "--by", "maria", "--playbook", "watch"),
            "acme: acknowledged watch's escalation tier csm as maria",
        )
        said(
            await playbook("ack", "acme", "--by", "rita"),
            "acme: nothing to acknowledge: watch's escalation tier csm is already acknowledged"
            " by maria",
        )
        await shown(playbook, "acme", "escalation tier csm (acknowledged by maria)")
        refused(await playbook("ack", "nobody", "--by", "maria"), "no account 'nobody'")


async def test_pause_and_resume_say_who_holds_the_account(dev_env: WorkflowEnvironment) -> None:
    """pause of a paused account names who paused it and since when (not the caller);
    resume of an account not paused says so; an unknown account is refused."""
    async with engine(dev_env) as (playbook, _, client):
        await playbook("event", "acme", "--score", "30")
        await shown(playbook, "acme", "watch v1 cycle 1: running")
        said(
            await playbook("resume", "acme", "--by", "rita"),
            "acme: nothing to do: not paused",
        )
        said(
            await playbook("pause", "acme", "--by", "maria", "--reason", "renewal talks"),
            "acme: paused by maria: renewal talks",
        )
        again = await playbook("pause", "acme", "--by", "rita")
        assert again.returncode == 0, again.stderr
        assert again.stdout.startswith("acme: nothing to do: already paused by maria"), again
        assert again.stdout.rstrip().endswith("UTC: renewal talks") and "rita" not in again.stdout
        status = await shown(playbook, "acme", "PAUSED by maria")
        assert "watch v1 cycle 1: running, at step hold, waiting 60d, until" in status
        said(await playbook("resume", "acme", "--by", "rita"), "acme: resumed by rita")
        said(await playbook("resume", "acme", "--by", "rita"), "acme: nothing to do: not paused")
        # The refused pause and resume left nothing in the account's history.
        history = await client.get_workflow_handle("account/acme").fetch_history()
        accepted = [
            e
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        ]
        assert len(accepted) == 2
        refused(await playbook("pause", "nobody", "--by", "maria"), "no account 'nobody'")
        refused(await playbook("resume", "nobody", "--by", "maria"), "no account 'nobody'")


async def test_exit_says_what_it_ended_and_status_says_who_ended_it_and_why(
    dev_env: WorkflowEnvironment,
) -> None:
    """exit of an unknown playbook is refused; of a published one never entered, or of an
    ended journey, says there was nothing to end; status shows the health components, and
    who ended the journey and why."""
    async with engine(dev_env) as (playbook, _, _client):
        await playbook("event", "acme", "--component", "usage=20", "--component", "engagement=30")
        await shown(playbook, "acme", "watch v1 cycle 1: running")
        refused(
            await playbook("exit", "acme", "nosuch"),
            "unknown playbook 'nosuch': the published catalog has expand, watch",
        )
        said(
            await playbook("exit", "acme", "expand"),
            "acme: nothing to end: expand has never run for it",
        )
        said(
            await playbook("exit", "acme", "watch", "--by", "maria", "--reason", "by phone"),
            "acme: ended watch (cycle 1): by phone (by maria)",
        )
        again = await playbook("exit", "acme", "watch", "--by", "maria")
        assert again.returncode == 0, again.stderr
        assert again.stdout.startswith("acme: nothing to end: watch (cycle 1)"), again.stdout
        status = await shown(playbook, "acme", "watch v1 cycle 1: ended ")
        assert "  components: engagement 30, usage 20" in status
        journey = next(line for line in status.splitlines() if line.startswith("watch v1"))
        assert journey.endswith(", stopped: by phone (by maria) (neutral)"), journey
        said(
            await playbook("exit", "acme", "watch", "--by", "maria"),
            "acme: nothing to end: watch (cycle 1) already ended "
            + journey.split(": ended ")[1].split(",")[0]
            + " (stopped: by phone (by maria))",
        )
        why = await playbook("why", "acme")
        assert "by phone (by maria)" in why.stdout


async def test_accounts_refuses_unknown_names_and_heads_its_table_on_a_terminal(
    dev_env: WorkflowEnvironment,
) -> None:
    """A tier, segment, playbook or escalation tier the catalog lacks is refused with the
    names it has; a known one that matches nothing says so and exits 0; a terminal gets a
    header, a pipe only the tab-separated rows."""
    async with engine(dev_env) as (playbook, env, _client):
        await playbook("event", "acme", "--set", "segment=smb", "--score", "30")
        await shown(playbook, "acme", "watch v1 cycle 1: running")
        for flag, name, words in (
            ("--tier", "nonsense", "unknown tier 'nonsense': the published catalog has healthy,"),
            ("--tier", "critcal", "unknown tier 'critcal' (did you mean 'critical'?)"),
            ("--segment", "nonsense", "unknown segment 'nonsense': the published catalog has"),
            ("--playbook", "nosuch", "unknown playbook 'nosuch': the published catalog has"),
            ("--escalation", "boss", "unknown escalation tier 'boss': the published catalog has"),
        ):
            refused(await playbook("accounts", flag, name), words)
        idle = await playbook("accounts", "--tier", "healthy")
        assert idle.returncode == 0 and idle.stdout == ""
        assert idle.stderr.strip() == "no accounts match"
        for _ in range(100):  # visibility is eventually consistent
            piped = await playbook("accounts", "--tier", "critical")
            if piped.stdout:
                break
            await asyncio.sleep(0.1)
        assert piped.stdout.split("\t")[:3] == ["acme", "30", "critical"], piped.stdout
        assert "account" not in piped.stdout
        on_terminal = await asyncio.to_thread(
            _on_a_terminal, ["accounts", "--tier", "critical"], env
        )
        lines = [line for line in on_terminal.splitlines() if "acme" in line or "account" in line]
        assert "account" in lines[0] and "score" in lines[0] and "owner" in lines[0], on_terminal
        assert "acme" in lines[1] and "critical" in lines[1], on_terminal


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """What the command prints when its output is a terminal (a pseudo-terminal here)."""
    controller, terminal = pty.openpty()
    with subprocess.Popen(
        [str(PLAYBOOK), *args],
        stdout=terminal,
        stderr=subprocess.DEVNULL,
        env={**env, "COLUMNS": "120", "TERM": "dumb"},
    ) as process:
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the command is done
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=60)
    os.close(controller)
    return b"".join(chunks).decode()


@workflow.defn(name="Account", sandboxed=False)
class _OlderAccount:
    """An account workflow as an engine from before the updates ran it: signals only."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal(name="pause")
    def pause(self, request: dict[str, str]) -> None:
        pass


async def test_a_worker_without_the_update_is_one_line_and_nothing_done(
    dev_env: WorkflowEnvironment,
) -> None:
    """An account run by an older worker (no pause_account update): one line saying nothing
    was done and what to do, exit 1."""
    client = await fresh_namespace(dev_env)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_")},
        "PLAYBOOK_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "PLAYBOOK_TEMPORAL_NAMESPACE": client.namespace,
    }
    async with Worker(client, task_queue=queue, workflows=[_OlderAccount]):
        handle = await client.start_workflow("Account", id="account/acme", task_queue=queue)
        result = await asyncio.to_thread(
            subprocess.run,
            [str(PLAYBOOK), "pause", "acme", "--by", "maria"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        await handle.terminate()
    refused(result, "does not know 'pause_account' yet (an older engine): nothing was done")
