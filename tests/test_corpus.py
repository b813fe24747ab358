"""The corpus of invalid playbooks: each case gives exactly its expected one-line errors.

Each directory ``tests/corpus/NN-name/`` holds the input file(s) and ``expected.txt``, the exact
stdout of ``playbook validate tests/corpus/NN-name tests/corpus/_shared`` run from the repo root;
a file ``args`` (one argument per line) replaces those arguments. ``_shared`` is a valid set
(health model, templates, a playbook) the cases refer to. Inputs git cannot or should not keep
(a binary file, a 10 MB file, an empty directory, a named pipe, symlinks) are generated here in
``tmp_path``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
SHARED = "tests/corpus/_shared"
CASES = sorted(p for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith("_"))


def validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "playbook_cli", "validate", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )


def assert_rejected(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.stdout == expected
    assert result.returncode == 1


def arguments(case: Path) -> list[str]:
    args = case / "args"
    if args.exists():
        return [line for line in args.read_text().splitlines() if line]
    return [case.relative_to(ROOT).as_posix(), SHARED]


def test_shared_context_is_valid() -> None:
    """The shared health model, templates and playbook validate cleanly on their own."""
    result = validate(SHARED)
    assert (result.returncode, result.stdout) == (0, "")


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every selected committed case, run at once: one process each, several side by side.

    Each run starts a fresh interpreter (about a second, mostly imports), so running them
    in parallel keeps the corpus fast without giving up the real command line.
    """
    wanted = [
        item.callspec.params["case"]
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.originalname == "test_case_gives_exactly_its_expected_errors"
    ]
    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 1) + 1) as pool:
        results = pool.map(lambda case: validate(*arguments(case)), wanted)
        return {case.name: result for case, result in zip(wanted, results, strict=True)}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_gives_exactly_its_expected_errors(
    case: Path, outcomes: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    """A committed case prints exactly its expected.txt, exits 1 and shows no traceback."""
    assert_rejected(outcomes[case.name], (case / "expected.txt").read_text())


def _binary_file(tmp: Path) -> tuple[Path, str]:
    path = tmp / "logo.yaml"  # a PNG saved under a playbook's name
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10")
    return path, f"{path}:1:1: not a UTF-8 text file (byte 1 cannot be read as text) [FILE_BINARY]"


def _nul_in_text(tmp: Path) -> tuple[Path, str]:
    path = tmp / "playbook.yaml"
    path.write_bytes(b"kind: Playbook\nname: caf\xc3\xa9\x00\n")
    return (
        path,
        f"{path}:2:11: not a UTF-8 text file (byte 27 cannot be read as text) [FILE_BINARY]",
    )


def _ten_megabytes(tmp: Path) -> tuple[Path, str]:
    path = tmp / "huge.yaml"
    line = b"# " + b"x" * 1021 + b"\n"
    path.write_bytes(b"kind: Playbook\n" + line * (10 * 1024 - 1) + b"x" * (1024 - 15))
    assert path.stat().st_size == 10 * 1024 * 1024
    return path, (
        f"{path}:1:1: file is 10,485,760 bytes; a playbook file may hold at most 1,000,000"
        " [FILE_TOO_LARGE]"
    )


def _empty_directory(tmp: Path) -> tuple[Path, str]:
    path = tmp / "playbooks"
    path.mkdir()
    return path, f"{path}: no playbook files (*.yaml, *.yml) here [NO_PLAYBOOKS]"


def _named_pipe(tmp: Path) -> tuple[Path, str]:
    path = tmp / "playbooks"  # found by the directory walk: reading it would block forever
    path.mkdir()
    os.mkfifo(path / "pipe.yaml")
    return path, (
        f"{path / 'pipe.yaml'}:1:1: a named pipe, not a regular file; playbooks are read from"
        " plain files only [FILE_NOT_REGULAR]"
    )


def _symlink_to_dev_zero(tmp: Path) -> tuple[Path, str]:
    path = tmp / "playbooks"  # reading it would fill memory: /dev/zero never ends
    path.mkdir()
    (path / "zero.yaml").symlink_to("/dev/zero")
    return path, (
        f"{path / 'zero.yaml'}:1:1: a character device, not a regular file; playbooks are read"
        " from plain files only [FILE_NOT_REGULAR]"
    )


def _symlink_loops(tmp: Path) -> tuple[Path, str]:
    path = tmp / "playbooks"
    path.mkdir()
    (path / "loop.yaml").symlink_to("loop.yaml")
    (path / "again").symlink_to(".", target_is_directory=True)  # a loop the walk must not enter
    return path, (
        f"{path / 'loop.yaml'}:1:1: cannot read: a symlink loop (too many levels of symbolic"
        " links) [FILE_UNREADABLE]"
    )


GENERATED: dict[str, Callable[[Path], tuple[Path, str]]] = {
    "50-binary-file": _binary_file,
    "50b-nul-byte-in-text": _nul_in_text,
    "51-ten-megabyte-file": _ten_megabytes,
    "52b-empty-directory": _empty_directory,
    "89-named-pipe-in-directory": _named_pipe,
    "90-symlink-to-dev-zero": _symlink_to_dev_zero,
    "91-symlink-loops": _symlink_loops,
}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_case_gives_exactly_its_expected_error(name: str, tmp_path: Path) -> None:
    """A generated input (binary, 10 MB, empty directory, pipe, device, symlink loop) gives its
    one line, exit 1."""
    path, line = GENERATED[name](tmp_path)
    assert_rejected(validate(str(path), SHARED), line + "\n")


def test_corpus_has_at_least_30_cases() -> None:
    """The corpus holds at least 30 cases, committed and generated together."""
    assert len(CASES) + len(GENERATED) >= 30
