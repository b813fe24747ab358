"""Where a worker's Python time goes: py-spy attached to the worker process, summarised.

py-spy samples the process from outside (no change to the worker, no profiler inside the
workflow sandbox) and writes collapsed stacks; :func:`summary` turns them into the tables a
results file quotes: the functions with the most time inside them (inclusive), the lines
running when sampled (self), and the share of a few known costs of a workflow task. Only
Python frames are seen: time in the SDK's Rust core (its own threads) is not in the samples.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

# Known costs of a workflow task, each found by a frame (file or function) in the stack.
# Shares overlap: a workflow's own code runs inside the sandbox's activation, for one.
COSTS: list[tuple[str, tuple[str, ...]]] = [
    ("the sandbox: new instances and activations, all of it", ("workflow_sandbox/_runner.py:",)),
    (
        "sandbox: builtins restricted around each activation (mostly waiting on its lock)",
        ("_importer.py:Importer._builtins_restricted",),
    ),
    (
        "sandbox: a new workflow instance (first task, or a replay after a cache eviction)",
        ("_runner.py:_Instance._create_instance",),
    ),
    ("sandbox: module imports inside it", ("_importer.py:Importer._import",)),
    ("workflow code and the SDK inside the sandbox", ("_in_sandbox.py:InSandbox.activate",)),
    (
        "AccountWorkflow code (engine/journeys/_account*, its intake, enrolling, forwarding)",
        (
            "engine/journeys/_account",
            "engine/journeys/_intake.py",
            "engine/journeys/_enrolling.py",
            "engine/journeys/_forwarding.py",
            "engine/journeys/_interventions.py",
        ),
    ),
    (
        "PlaybookRun code (engine/journeys/_run*, its steps and actions)",
        ("engine/journeys/_run", "engine/journeys/_steps.py", "engine/journeys/_actions.py"),
    ),
    ("entry rules (engine/journeys/_entries.py)", ("engine/journeys/_entries.py",)),
    ("conditions, facts (engine/language)", ("engine/language/",)),
    ("signals to the journeys (signal_external_workflow)", ("signal_external_workflow",)),
    ("search attribute upserts", ("upsert_search_attributes",)),
    ("payload visitors (activation and completion, outside the sandbox)", ("_visitor.py:",)),
    ("payload conversion (to and from JSON)", ("temporalio/converter/",)),
    ("pydantic (validate, dump)", ("pydantic/", "pydantic_core")),
    ("activities (actions, catalog, store)", ("workers/activities", "workers/catalog")),
]


RATE = 100
"""Samples a second."""
_ROOT = f"{Path(__file__).parents[1]}/"
"""The project's directory, cut from the paths of its frames."""


def py_spy() -> str | None:
    """The py-spy executable beside this interpreter or on PATH, if installed."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recording:
    """py-spy recording ``pid`` from :meth:`start` to :meth:`stop` into ``out``."""

    def __init__(self, pid: int, out: Path) -> None:
        self.pid, self.out = pid, out
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> bool:
        executable = py_spy()
        if executable is None:
            return False
        out = str(self.out)
        self._process = subprocess.Popen(
            # Blocking samples (py-spy pauses the worker for each): only then does it tell
            # idle threads (leave out) from running ones. The profiled round is not timed.
            [executable, "record", "-p", str(self.pid), "-r", str(RATE), "-f", "raw", "-o", out],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return True

    def stop(self) -> Path | None:
        if self._process is None:
            return None
        self._process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        self._process.wait(timeout=60)
        return self.out if self.out.exists() else None


def _frames(stack: str) -> list[str]:
    """``func (path:line)`` frames as ``path:func``, without the directories before
    site-packages or the project, so that names stay short and stable."""
    out = []
    for frame in stack.split(";"):
        name, _, where = frame.partition(" (")
        path = where.rstrip(")").rsplit(":", 1)[0]
        if "site-packages/" in path:
            path = path.split("site-packages/", 1)[1]
        elif path.startswith(_ROOT):
            path = path[len(_ROOT) :]
        out.append(f"{path}:{name}")
    return out


IDLE = ("concurrent/futures/thread.py:_worker", "selectors.py:", "queue.py:", "threading.py:")
"""Innermost frames of a thread waiting for work (py-spy's own idle detection does not
work on every kernel, so waits are told by where they stop)."""


def summary(raw: Path, events: int, top: int = 15) -> str:
    """Markdown tables of the recording in ``raw`` of ``events`` events: the known costs,
    inclusive and self time, each as a share of the busy samples and milliseconds per event."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    costs: Counter[str] = Counter()
    busy = idle = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = _frames(stack)
        if any(wait in frames[-1] for wait in IDLE):
            idle += n
            continue
        busy += n
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
        for cost, needles in COSTS:
            if any(needle in frame for frame in frames for needle in needles):
                costs[cost] += n
    if busy == 0:
        return "py-spy recorded no samples."

    def cells(n: int) -> str:
        return f"{100 * n / busy:.1f}% | {n * 1000 / RATE / max(events, 1):.2f}"

    lines = [
        f"{busy} samples of the worker's Python threads running at {RATE} a second, that is"
        f" {busy / RATE:.1f} s of Python for {events} events ({busy * 1000 / RATE / events:.1f}"
        f" ms each; {idle} samples of threads waiting for work left out).",
        "",
        "| known cost | share | ms per event |",
        "| --- | --- | --- |",
        *(f"| {cost} | {cells(costs[cost])} |" for cost, _ in COSTS),
        "",
        "| function (inclusive: it or what it calls was running) | share | ms per event |",
        "| --- | --- | --- |",
        *(f"| `{frame}` | {cells(n)} |" for frame, n in _interesting(inclusive, top)),
        "",
        "| function (self: its own line was running) | share | ms per event |",
        "| --- | --- | --- |",
        *(f"| `{frame}` | {cells(n)} |" for frame, n in own.most_common(top)),
    ]
    return "\n".join(lines)


def _interesting(inclusive: Counter[str], top: int) -> list[tuple[str, int]]:
    """The top inclusive frames, leaving out the event loop and thread plumbing that every
    sample passes through."""
    plumbing = (
        "asyncio/",
        "threading.py",
        "concurrent/futures",
        "<module>",
        "runpy.py",
        "typer/",
        "click/",
        "playbook_cli/",
    )
    chosen = [(f, n) for f, n in inclusive.most_common() if not any(p in f for p in plumbing)]
    return chosen[:top]
