"""The CLI's contract on the simplest inputs: exit codes and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PLAYBOOK = [sys.executable, "-m", "playbook_cli"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PLAYBOOK, *args], capture_output=True, text=True, cwd=cwd, check=False)


def test_missing_path_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """A path that does not exist gives one line naming it, and exit code 1."""
    result = run("validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert (
        result.stdout.strip()
        == f"{tmp_path / 'nope.yaml'}: no such file or directory [FILE_UNREADABLE]"
    )
    assert "Traceback" not in result.stderr
