"""Rebuilding the code a goal was stated against from git, as bench.simulation does."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench._earlier_code import ROOT, Unavailable, unpack
from bench.simulation import EARLIER, EARLIER_FIXES

_SHALLOW = (
    subprocess.run(
        ["git", "rev-parse", "--is-shallow-repository"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    != "false"
)
needs_history = pytest.mark.skipif(_SHALLOW, reason="needs the repository's full history")


@needs_history
def test_the_earlier_code_is_its_commit_with_the_fixes_applied_and_compiled(
    tmp_path: Path,
) -> None:
    """The issue's code comes back with the timer fix (a module that commit did not have)
    and bytecode for its packages, so neither side compiles inside the measurement."""
    tree = unpack(EARLIER, EARLIER_FIXES, tmp_path / "code")
    assert (tree / "engine" / "__init__.py").is_file()
    assert (tree / "workers" / "simulate" / "timers.py").is_file()
    assert not (tree / "bench" / "_earlier_code.py").exists()
    assert list((tree / "engine" / "__pycache__").glob("*.pyc"))


@needs_history
def test_without_the_fixes_the_commit_is_as_it_was(tmp_path: Path) -> None:
    tree = unpack(EARLIER, [], tmp_path / "code")
    assert not (tree / "workers" / "simulate" / "timers.py").exists()


def test_a_commit_the_repository_does_not_have_is_unavailable(tmp_path: Path) -> None:
    """A clone without that history (or a typo) says so in one line instead of failing."""
    with pytest.raises(Unavailable, match=r"^git archive: "):
        unpack("0" * 40, [], tmp_path / "code")


@needs_history
def test_a_fix_that_does_not_apply_is_unavailable(tmp_path: Path) -> None:
    """A fix already in the tree (applied twice) is refused, never half applied in silence."""
    with pytest.raises(Unavailable, match=rf"^{EARLIER_FIXES[0]} does not apply to "):
        unpack(EARLIER_FIXES[0], EARLIER_FIXES, tmp_path / "code")
