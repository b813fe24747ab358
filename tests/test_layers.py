"""The import contracts in pyproject.toml hold, and each one fails on the import it forbids.

`make test` runs `lint-imports` on the tree; these tests run it on a copy of the packages
with one wrong import added, so a contract that could never fail would be noticed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("engine", "workers", "playbook_cli")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "--config", "pyproject.toml"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the three packages and the contracts, to add a wrong import to."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_as_committed_keeps_every_contract(tree: Path) -> None:
    """The copy is linted like the tree: every contract kept, exit 0."""
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("engine/language/_plan.py", "from workers import store", "Layers"),
        ("engine/language/_plan.py", "from engine.journeys import _messages", "Layers"),
        ("engine/journeys/_new.py", "from engine.client import _connect", "Layers"),
        ("engine/dashboard/_view.py", "from engine.client import _operate", "Layers"),
        ("workers/store.py", "from playbook_cli import _base", "Layers"),
        ("engine/journeys/_scoring.py", "import httpx", "imports nothing that does I/O"),
        ("engine/journeys/_scoring.py", "import sqlite3", "imports nothing that does I/O"),
        ("engine/journeys/_options.py", "from engine.journeys import _run", "No import circles"),
        ("playbook_cli/_base.py", "from playbook_cli import _serve", "No import circles"),
    ],
)
def test_a_wrong_import_breaks_its_contract(
    tree: Path, module: str, line: str, contract: str
) -> None:
    """One added import that the design forbids makes lint-imports fail, naming the contract."""
    path = tree / module
    if not path.exists():  # a module the contract must also cover when it is new
        path.write_text('"""Added by the test."""\n', encoding="utf-8")
    with path.open("a", encoding="utf-8") as file:
        file.write(f"\n{line}  # noqa\n")
    result = _lint(tree)
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
