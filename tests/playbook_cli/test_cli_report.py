"""`playbook report` refuses bad input in one line with exit 1, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PLAYBOOK = Path(sys.executable).parent / "playbook"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--period", "soon"], "playbook: period 'soon': write 30d, 90d or START..END"),
        (["--period", "2026-02-30..2026-03-01"], "'2026-02-30' is not a date (YYYY-MM-DD)"),
        (["--period", "0001-01-01..9999-12-31"], "'0001-01-01' is not a date (YYYY-MM-DD)"),
        (["--period", "2026-03-01..2026-02-01"], "the end must come after the start"),
        (["--period", "99999d"], "period '99999d': from 1d to 3660d"),
        (["--database", "mysql://x"], "'mysql://x' is not a database URL this engine knows"),
        (
            ["--address", "127.0.0.1:1"],
            "playbook: Temporal is not reachable at 127.0.0.1:1 (namespace default)",
        ),
    ],
)
def test_bad_input_is_one_line(args: list[str], says: str, tmp_path: Path) -> None:
    """A bad period, database URL or an unreachable Temporal: one line naming it, exit 1."""
    result = subprocess.run(
        [str(PLAYBOOK), "report", "--database", f"sqlite:///{tmp_path / 'p.db'}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
