"""The shipped playbooks as the benchmarks on a real clock run them: without the company
calendar.

The shipped set holds customer emails to business hours in the account's zone (send
windows, playbooks/calendars/company.yaml). On the dev server's real clock a benchmark run
on a weekend evening would wait until Monday 09:00 for its first welcome email and measure
the calendar, not the engine. Windows are tested on their own (tests/engine/journeys/
test_windows.py); the simulation, on a time-skipping server, keeps them.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from engine import PlaybookSet, load

SHIPPED = Path(__file__).parents[1] / "playbooks"
# Kept for the life of the process: plans name the files they were read from.
_COPY = tempfile.TemporaryDirectory(prefix="bench-playbooks-")


def shipped_on_a_real_clock() -> PlaybookSet:
    """The shipped set without its calendars (so without send windows)."""
    copy = Path(_COPY.name) / "playbooks"
    if not copy.exists():
        shutil.copytree(SHIPPED, copy, ignore=shutil.ignore_patterns("calendars"))
    return load([copy])
