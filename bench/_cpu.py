"""CPU-seconds of one process, read from /proc, and waiting until a process goes idle.

A benchmark that compares the work per event of two workers reads each worker's own CPU
(user + system) before and after; wall time alone hides a worker that keeps both cores busy.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU-seconds ``pid`` has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; the fields after its ")" are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def child_named(word: str, parent: int | None = None) -> int | None:
    """The pid of a child of ``parent`` (this process by default) whose command line holds
    ``word``: the dev server the SDK starts has no handle that tells its pid."""
    parent = os.getpid() if parent is None else parent
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent and word in command:
            return int(entry.name)
    return None


async def until_idle(pids: list[int], quiet: float = 0.05, seconds: int = 2) -> None:
    """Return once every process in ``pids`` used under ``quiet`` CPU-seconds in each of
    ``seconds`` consecutive seconds (a worker's idle polls cost about 0.01 a second)."""
    calm = 0
    last = [cpu_seconds(pid) for pid in pids]
    while calm < seconds:
        await asyncio.sleep(1)
        now = [cpu_seconds(pid) for pid in pids]
        calm = calm + 1 if all(b - a < quiet for a, b in zip(last, now, strict=True)) else 0
        last = now
