"""Reading a set's files: only regular files, never more than the size limit, never a hang.

The corpus runs the directory cases through the command line; these name each kind of path
directly, and check that a file beside the one named (its context) cannot hang the reader.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from engine import Code, check
from engine.language import _loader

BASIC = Path(__file__).parents[2] / "fixtures" / "basic"


def problems(*paths: Path) -> list[tuple[str, int, Code, str]]:
    _, diagnostics = check(list(paths))
    return [(Path(d.path).name, d.line, d.code, d.message) for d in diagnostics]


def test_a_named_pipe_is_refused_not_waited_on(tmp_path: Path) -> None:
    """A FIFO named *.yaml is FILE_NOT_REGULAR at once; nobody ever writes to it."""
    os.mkfifo(tmp_path / "pipe.yaml")
    [(name, line, code, message)] = problems(tmp_path / "pipe.yaml")
    assert (name, line, code) == ("pipe.yaml", 1, Code.FILE_NOT_REGULAR)
    assert message.startswith("a named pipe, not a regular file")


def test_a_pipe_beside_a_named_file_does_not_hang_it(tmp_path: Path) -> None:
    """A FIFO among the siblings read for context is skipped quietly; the named file is fine."""
    shutil.copytree(BASIC, tmp_path / "set")
    os.mkfifo(tmp_path / "set" / "pipe.yaml")
    assert problems(tmp_path / "set" / "care.yaml") == []


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/null"])
def test_a_device_behind_a_yaml_symlink_is_refused(tmp_path: Path, target: str) -> None:
    """A .yaml symlink to a device (/dev/zero never ends) is refused without reading it."""
    (tmp_path / "zero.yaml").symlink_to(target)
    [(name, _, code, message)] = problems(tmp_path / "zero.yaml")
    assert (name, code) == ("zero.yaml", Code.FILE_NOT_REGULAR)
    assert message.startswith("a character device")


def test_a_symlink_loop_named_directly_is_unreadable(tmp_path: Path) -> None:
    """A symlink that points at itself is FILE_UNREADABLE, saying it loops."""
    (tmp_path / "loop.yaml").symlink_to("loop.yaml")
    [(name, line, code, message)] = problems(tmp_path / "loop.yaml")
    assert (name, line, code) == ("loop.yaml", 0, Code.FILE_UNREADABLE)
    assert "symlink loop" in message


def test_a_broken_symlink_in_a_directory_is_unreadable(tmp_path: Path) -> None:
    """A *.yaml symlink to nothing, found in a directory, is one FILE_UNREADABLE line."""
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    [(name, line, code, _)] = problems(tmp_path)
    assert (name, line, code) == ("gone.yaml", 1, Code.FILE_UNREADABLE)


def test_a_file_larger_than_it_claims_is_refused_at_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose size reads 0 (as /proc files do) is still refused past the limit."""
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * 200 + "\n")
    real = os.fstat

    def zero_size(fd: int) -> os.stat_result:
        info = list(real(fd))
        info[6] = 0  # st_size
        return os.stat_result(info)

    monkeypatch.setattr(_loader, "MAX_FILE_BYTES", 100)
    monkeypatch.setattr(_loader.os, "fstat", zero_size)
    assert problems(path) == [
        (
            "big.yaml",
            1,
            Code.FILE_TOO_LARGE,
            "file holds over 100 bytes, the most a playbook file may hold",
        )
    ]
