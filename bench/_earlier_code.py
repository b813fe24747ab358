"""The engine as an earlier commit had it, unpacked from git into a directory of its own.

A goal stated against "today's code" (issue 20: the backtest's CPU 40% under what it was)
is only a ratio when both codes run in the same sitting: this machine's speed moves by a
quarter within minutes. So the benchmark rebuilds that code from the repository's history,
with the fixes it could not run without applied, and runs it beside this tree's. Nothing is
installed: the earlier code runs on this tree's virtual environment, by ``PYTHONPATH``.
"""

from __future__ import annotations

import compileall
import io
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).parents[1]


class Unavailable(Exception):
    """The earlier code cannot be had here (no git, a shallow clone, an export)."""


def unpack(commit: str, fixes: list[str], into: Path) -> Path:
    """``commit``'s tree in ``into``, with each of ``fixes`` (commits) applied on top and its
    bytecode compiled, so neither side pays compilation inside the measurement."""
    archive = _git("archive", "--format=tar", commit)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    for fix in fixes:
        patch = _git("diff", "--binary", f"{fix}^", fix)
        applied = subprocess.run(
            ["git", "apply", "--whitespace=nowarn", "-"],
            input=patch,
            cwd=into,
            capture_output=True,
            check=False,
        )
        if applied.returncode != 0:
            raise Unavailable(f"{fix} does not apply to {commit}: {_last(applied.stderr)}")
    for package in ("engine", "workers", "playbook_cli"):
        if (into / package).is_dir():
            compileall.compile_dir(into / package, quiet=2)
    return into


def _git(*args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=False)
    except OSError as error:
        raise Unavailable(f"git: {error.strerror}") from None
    if done.returncode != 0:
        raise Unavailable(f"git {args[0]}: {_last(done.stderr)}")
    return done.stdout


def _last(stderr: bytes) -> str:
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "failed"
