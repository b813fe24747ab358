"""`make demo` end to end: the demo finishes on its own and shows what the README promises."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


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
        assert "churn-prevention v1 cycle 1: ended (success)" in hooli
        assert "to walter@cs.example: [Churn risk] Acme Corp" in out
        assert "to sam@cs.example: [At risk] Hooli" in out
        assert "#cs-exec-escalations" in out
        assert "Traceback" not in done.stderr
