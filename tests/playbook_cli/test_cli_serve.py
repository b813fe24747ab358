"""`playbook dev`, `playbook api` and `playbook settings` as a user runs them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support import stops_on_ctrl_c

PLAYBOOK = Path(sys.executable).parent / "playbook"
ROOT = Path(__file__).parents[2]


def _env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_")}
    return {**clean, **extra}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def playbook(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PLAYBOOK), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or _env(),
        check=False,
        cwd=ROOT,
    )


def test_dev_runs_everything_until_ctrl_c(tmp_path: Path) -> None:
    """`playbook dev` publishes the shipped playbooks and serves Temporal, a worker and the
    API: an event through the API starts a journey that `playbook status` shows, its email
    is printed by the mail catcher; Ctrl-C stops it with exit 0, and a second start resumes
    the same account from the state directory."""
    port, api_port = _free_port(), _free_port()
    state = tmp_path / "state"
    command = [
        str(PLAYBOOK),
        "dev",
        "--dir",
        str(state),
        "--port",
        str(port),
        "--ui-port",
        "0",
        "--api-port",
        str(api_port),
        "--people",
        str(ROOT / "demo" / "people.yaml"),
    ]
    address = f"127.0.0.1:{port}"
    for run in range(2):
        said = tmp_path / f"dev-{run}.stderr"
        with said.open("w") as errors:
            dev = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                env=_env(),
                cwd=ROOT,
            )
        try:
            assert dev.stdout is not None
            for line in dev.stdout:
                if "Ctrl-C to stop" in line:
                    break
            else:
                raise AssertionError(f"playbook dev never came up: {said.read_text()[-2000:]}")
            if run == 0:
                sent = httpx.post(
                    f"http://127.0.0.1:{api_port}/v1/accounts/initech/events",
                    json={
                        "id": "dev-1",
                        "score": 45,
                        "set": {
                            "segment": "smb",
                            "name": "Initech",
                            "owner": "rita@cs.example",
                            "contact_email": "bill@initech.example",
                        },
                    },
                    timeout=30,
                )
                assert sent.status_code == 202, sent.text
            for _ in range(100):
                status = playbook("status", "initech", "--address", address)
                if "churn-prevention v1 cycle 1: running" in status.stdout:
                    break
                time.sleep(0.2)
            assert "account initech: health 45 (at-risk" in status.stdout, status.stderr
            assert "churn-prevention v1 cycle 1: running" in status.stdout
            database = f"sqlite:///{state / 'playbook.db'}"
            for _ in range(100):
                with_tasks = playbook(
                    "status", "initech", "--address", address, "--database", database
                )
                if "open tasks (" in with_tasks.stdout:
                    break
                time.sleep(0.2)
            assert "rita@cs.example: At-risk account" in with_tasks.stdout, with_tasks.stdout
            if run == 0:
                for line in dev.stdout:
                    if line.startswith("mail  to "):
                        break
                assert "bill@initech.example" in line or "rita@cs.example" in line
        finally:
            stops_on_ctrl_c(dev, said)
        assert dev.stdout.read().rstrip().endswith("stopped")


def test_ctrl_c_at_a_terminal_stops_the_worker_then_the_server_quietly(tmp_path: Path) -> None:
    """Ctrl-C at a terminal signals the whole foreground process group: the dev server is
    not in it, so the worker stops first, then the server; exit 0 at once and not one line
    from the SDK's core (before: the server died first, 20 s and ~160 WARN lines)."""
    port = _free_port()
    command = [str(PLAYBOOK), "dev", "--dir", str(tmp_path / "state"), "--port", str(port)]
    command += ["--ui-port", "0", "--api-port", str(_free_port())]
    # A session of its own, as a shell gives a job: killpg below is the terminal's Ctrl-C.
    dev = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        assert dev.stdout is not None
        for line in dev.stdout:
            if "Ctrl-C to stop" in line:
                break
        else:
            raise AssertionError("playbook dev never came up")
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        out, err = dev.communicate(timeout=15)
    assert dev.returncode == 0, err
    assert out.splitlines()[-2:] == ["stopping...", "stopped"]
    assert "WARN" not in err and "temporal_sdk_core" not in err, err
    with socket.socket() as sock:  # the server is gone with it
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_lines_from_the_catchers_threads_print_whole(capfd: pytest.CaptureFixture[str]) -> None:
    """Mail and chat lines come from two threads; each line comes out whole."""
    from playbook_cli._serve import _say

    def talk(name: str) -> None:
        for n in range(300):
            _say(f"{name} line {n} " + "x" * 50)

    threads = [threading.Thread(target=talk, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = capfd.readouterr().out.splitlines()
    assert len(lines) == 1200
    assert all(line.count(" line ") == 1 and line.endswith("x" * 50) for line in lines)


def test_dev_port_in_use_is_one_line(tmp_path: Path) -> None:
    """A port already taken is named with the flag that changes it; nothing starts."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        result = playbook("dev", "--dir", str(tmp_path), "--port", str(taken), "--ui-port", "0")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"playbook: port {taken} for the Temporal dev server is in use (another `playbook dev`?):"
        " give --port"
    ]


def test_api_settings_mistakes_are_one_line() -> None:
    """A short token, or an open API on a public address, is refused before serving."""
    short = playbook("api", env=_env(PLAYBOOK_API_TOKENS="abc"))
    assert short.returncode == 1
    assert short.stderr.splitlines() == [
        "playbook: PLAYBOOK_API_TOKENS: each token needs at least 16 characters"
        " (`openssl rand -hex 32` makes a good one)"
    ]
    public = playbook("api", "--host", "0.0.0.0", "--port", "0")
    assert public.returncode == 1
    assert public.stderr.splitlines()[-1] == (
        "playbook: the API has no credentials and would listen on 0.0.0.0: set "
        "PLAYBOOK_API_TOKENS or PLAYBOOK_API_HMAC_SECRET, or listen on 127.0.0.1"
    )
    assert "Traceback" not in public.stderr


def test_settings_shows_values_and_masks_secrets() -> None:
    """`playbook settings` lists every PLAYBOOK_* variable with its value; secrets and the
    database password never show."""
    shown = playbook(
        "settings",
        env=_env(
            PLAYBOOK_TEMPORAL_ADDRESS="temporal.internal:7233",
            PLAYBOOK_API_TOKENS="a-very-long-token-value",
            DATABASE_URL="postgresql://playbook:hunter2@db:5432/playbook",
        ),
    )
    assert shown.returncode == 0, shown.stderr
    lines = {line.split()[0]: line for line in shown.stdout.splitlines()}
    assert "temporal.internal:7233" in lines["PLAYBOOK_TEMPORAL_ADDRESS"]
    assert "(set)" in lines["PLAYBOOK_API_TOKENS"]
    assert "a-very-long-token-value" not in shown.stdout
    assert "hunter2" not in shown.stdout
    assert "db:5432/playbook" in lines["PLAYBOOK_DATABASE_URL"]
    bad = playbook("settings", env=_env(PLAYBOOK_SMTP_PORT="seventy"))
    assert bad.returncode == 1
    assert bad.stderr.startswith("playbook: PLAYBOOK_SMTP_PORT:")


@pytest.mark.parametrize("value", ["0", "-1", "soon", "301", "nan"])
def test_bad_request_timeout_names_the_variable(value: str) -> None:
    """PLAYBOOK_API_REQUEST_TIMEOUT takes seconds above 0 and up to 300; anything else is one
    line naming it."""
    bad = playbook("settings", env=_env(PLAYBOOK_API_REQUEST_TIMEOUT=value))
    assert bad.returncode == 1
    assert bad.stderr.startswith("playbook: PLAYBOOK_API_REQUEST_TIMEOUT:"), bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    good = playbook("settings", env=_env(PLAYBOOK_API_REQUEST_TIMEOUT="2.5"))
    assert good.returncode == 0 and "2.5" in good.stdout


@pytest.mark.parametrize("value", ["-1", "lots", "1.5"])
def test_bad_worker_cache_names_the_variable(value: str) -> None:
    """PLAYBOOK_WORKER_CACHED_WORKFLOWS takes a whole number of workflows, 0 or more; anything
    else is one line naming it, from `playbook settings` and `playbook worker` alike (before
    the worker connects)."""
    for command in ("settings", "worker"):
        bad = playbook(command, env=_env(PLAYBOOK_WORKER_CACHED_WORKFLOWS=value))
        assert bad.returncode == 1
        assert bad.stderr.startswith("playbook: PLAYBOOK_WORKER_CACHED_WORKFLOWS:"), bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
    good = playbook("settings", env=_env(PLAYBOOK_WORKER_CACHED_WORKFLOWS="30000"))
    assert good.returncode == 0 and "30000" in good.stdout
    default = playbook("settings", env=_env())
    assert "(default 2000)" in default.stdout
