"""`make demo` end to end: the demo finishes on its own and shows what the README promises."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support import stops_on_ctrl_c


def test_demo_drives_the_journeys_and_reports_them(tmp_path: Path) -> None:
    """An account climbs to the executive, one recovers, emails arrive; twice in a row."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        ui_port = sock.getsockname()[1]
    env = {**os.environ, "PLAYBOOK_DEMO_UI_PORT": str(ui_port)}
    for _ in range(2):  # a second run starts fresh and tells the same story
        done = subprocess.run(
            [sys.executable, "-m", "workers.demo", "--dir", str(tmp_path / "demo")],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
            cwd=Path(__file__).parents[1],
        )
        assert done.returncode == 0, done.stderr[-2000:]
        out = done.stdout
        assert "churn-prevention v1 cycle 1: running, at step" in out
        assert "escalation tier executive" in out
        hooli = out[out.index("account hooli") :]
        ended = next(line for line in hooli.splitlines() if line.startswith("churn-prevention"))
        assert ended.startswith("churn-prevention v1 cycle 1: ended "), ended
        assert ", goal: " in ended and ended.endswith(" (success)"), ended
        escalations = out[out.index("== escalations") : out.index("== emails")]
        assert "acme      churn-prevention  escalated (escalation.tiers.executive)" in escalations
        assert "hooli     churn-prevention  escalated (escalation.tiers.csm)" in escalations
        assert (
            "hooli     churn-prevention  de-escalated (goal): goal reached: stood down from"
            " tier csm, its open items closed" in escalations
        )
        assert "to walter@cs.example: [Churn risk] Acme Corp" in out
        assert "to sam@cs.example: [At risk] Hooli" in out
        assert "#cs-exec-escalations" in out
        assert "Traceback" not in done.stderr


def test_operator_commands_against_the_running_demo(tmp_path: Path) -> None:
    """With the demo up (--stay): accounts --escalation executive finds Acme, status and why
    show it, ack stops its ladder, `playbook report` shows the demo's accounts and
    escalations, and Ctrl-C brings everything down cleanly."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        ui_port = sock.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_")},
        "PLAYBOOK_DEMO_UI_PORT": str(ui_port),
    }
    said = tmp_path / "demo.stderr"
    with said.open("w") as errors:
        demo = subprocess.Popen(
            [sys.executable, "-m", "workers.demo", "--dir", str(tmp_path / "demo"), "--stay"],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=env,
            cwd=Path(__file__).parents[1],
        )
    try:
        address = None
        assert demo.stdout is not None
        for line in demo.stdout:
            if "--address" in line:
                address = line.split("--address", 1)[1].split()[0]
            if "staying up" in line:
                break
        assert address, "the demo never said where its server is"
        playbook = Path(sys.executable).parent / "playbook"

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(playbook), *args, "--address", address],
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
                check=False,
            )

        listed = run("accounts", "--escalation", "executive")
        for _ in range(50):  # visibility is eventually consistent
            if listed.stdout.startswith("acme\t"):
                break
            time.sleep(0.2)
            listed = run("accounts", "--escalation", "executive")
        assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["acme"]
        assert "escalation tier executive" in run("status", "acme").stdout
        assert "escalation.tiers.executive" in run("why", "acme").stdout
        acked = run("ack", "acme", "--by", "walter@cs.example")
        assert acked.returncode == 0, acked.stderr
        for _ in range(50):
            shown = run("status", "acme").stdout
            if "acknowledged by walter@cs.example" in shown:
                break
            time.sleep(0.2)
        assert "acknowledged by walter@cs.example" in shown
        database = f"sqlite:///{tmp_path / 'demo' / 'playbook.db'}"
        shown = run("report", "--database", database).stdout
        escalations = shown[shown.index("== Escalations now") :]
        assert escalations.splitlines()[1] == "acme\tchurn-prevention\texecutive"
        assert "== Health distribution (5 accounts)" in shown
        assert "acme\tcritical\t$420,000" in shown  # at risk, with its ARR from the store
        assert "initech\t" in shown[shown.index("== Up for renewal") :]
    finally:
        stops_on_ctrl_c(demo, said)
