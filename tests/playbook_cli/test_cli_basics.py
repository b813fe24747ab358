"""The CLI's contract on the simplest inputs: exit codes and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


SHARED = Path(__file__).parents[1] / "corpus" / "_shared"


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["publish", "--wait", "nan", str(SHARED)], "--wait"),
        (["publish", "--wait", "inf", str(SHARED)], "--wait"),
        (["publish", "--wait", "1e300", str(SHARED)], "--wait"),
        (["publish", "--wait", "0", str(SHARED)], "--wait"),
        (["publish", "--wait", "-1", str(SHARED)], "--wait"),
        (["schema", "--dir", str(SHARED / "health.yaml")], "--dir"),
        (["api", "--port", "99999"], "--port"),
        (["api", "--port", "-1"], "--port"),
        (["dev", "--port", "70000"], "--port"),
        (["dev", "--api-port", "65536"], "--api-port"),
        (["dev", "--ui-port", "-1"], "--ui-port"),
    ],
)
def test_out_of_range_flags_are_usage_errors(args: list[str], flag: str) -> None:
    """A flag value the command cannot use is a usage error naming the flag: exit 2."""
    result = run(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert f"'{flag}'" in error


def test_publish_wait_in_range_passes_the_flag_check(tmp_path: Path) -> None:
    """--wait 3600, the limit, gets past the flag check to validation (here: no playbooks)."""
    result = run("publish", "--wait", "3600", str(tmp_path))
    assert result.returncode == 1
    assert "NO_PLAYBOOKS" in result.stdout


def test_unreadable_file_is_a_positioned_line_not_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file the user may not read is FILE_UNREADABLE at its path, exit 1, as documented."""
    from typer.testing import CliRunner

    from playbook_cli._main import app

    path = tmp_path / "secret.yaml"
    path.write_text("kind: Playbook\n")
    # Root reads any file whatever its mode, so the refusal is made by the two calls that ask
    # the system: access() (what a usage-error check would ask) and open() (what reading does).
    real_access, real_open = os.access, os.open

    def access(target: object, mode: int, **kwargs: object) -> bool:
        return False if Path(str(target)) == path else real_access(target, mode, **kwargs)  # type: ignore[arg-type]

    def open_(target: object, flags: int, *args: object, **kwargs: object) -> int:
        if Path(str(target)) == path:
            raise PermissionError(13, "Permission denied", str(target))
        return real_open(target, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(os, "open", open_)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    assert f"{path}:1:1: cannot read: Permission denied [FILE_UNREADABLE]" in result.output
