"""The profile summary a daily-refresh results file quotes, read from py-spy's collapsed stacks."""

from __future__ import annotations

from pathlib import Path

import bench
from bench._profile import summary

ROOT = Path(bench.__file__).parents[1]

SITE = "/work/x/.venv/lib/python3.11/site-packages"
LOOP = "run (asyncio/base_events.py:600);_run_once (asyncio/base_events.py:1900)"
ACTIVATE = f"activate ({SITE}/temporalio/worker/workflow_sandbox/_runner.py:120)"
ACCOUNT = f"apply ({ROOT}/engine/journeys/_intake.py:60)"
DUMP = f"to_payload ({SITE}/temporalio/converter/_payload.py:40)"


def _raw(tmp_path: Path, *lines: str) -> Path:
    raw = tmp_path / "profile.txt"
    raw.write_text("\n".join(lines) + "\n")
    return raw


def test_shares_count_each_sample_once_per_cost_and_function(tmp_path: Path) -> None:
    """A stack that passes a frame twice counts once for it; shares are of all samples."""
    raw = _raw(
        tmp_path,
        f"{LOOP};{ACTIVATE};{ACCOUNT};{ACCOUNT} 3",
        f"{LOOP};{DUMP} 1",
    )
    text = summary(raw, 2)
    assert text.startswith("4 samples")
    assert "(20.0 ms each" in text  # 4 samples at 100 a second over 2 events
    account = "AccountWorkflow code (engine/journeys/_account*, its intake, enrolling, forwarding)"
    assert f"| {account} | 75.0% |" in text
    assert "| the sandbox: new instances and activations, all of it | 75.0% |" in text
    assert "| payload conversion (to and from JSON) | 25.0% |" in text
    assert "| `engine/journeys/_intake.py:apply` | 75.0% |" in text


def test_event_loop_frames_are_left_out_of_the_inclusive_table(tmp_path: Path) -> None:
    """Every sample passes through the event loop; naming it as a cost would say nothing."""
    text = summary(_raw(tmp_path, f"{LOOP};{DUMP} 2"), 2)
    inclusive = text.split("(inclusive")[1].split("(self")[0]
    assert "asyncio" not in inclusive
    assert "`temporalio/converter/_payload.py:to_payload` | 100.0%" in inclusive


def test_self_time_is_the_innermost_frame(tmp_path: Path) -> None:
    """The self table names the line that was running, not its callers."""
    text = summary(_raw(tmp_path, f"{LOOP};{ACTIVATE};{ACCOUNT} 5"), 5)
    own = text.split("(self")[1]
    assert "`engine/journeys/_intake.py:apply` | 100.0%" in own
    assert "_runner.py:activate" not in own


def test_an_empty_recording_says_so(tmp_path: Path) -> None:
    """No samples (py-spy attached to an idle worker) is a sentence, not a division by zero."""
    assert summary(_raw(tmp_path, ""), 1) == "py-spy recorded no samples."


def test_threads_waiting_for_work_are_left_out(tmp_path: Path) -> None:
    """A pool thread blocked on its queue is not a cost, whatever py-spy took it for."""
    pool = "/usr/lib/python3.11/concurrent/futures/thread.py"
    waiting = f"_bootstrap (threading.py:1002);_worker ({pool}:81)"
    text = summary(_raw(tmp_path, f"{waiting} 9", f"{LOOP};{DUMP} 1"), 1)
    assert text.startswith("1 samples")
    assert "9 samples of threads waiting for work left out" in text
