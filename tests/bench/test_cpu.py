"""Reading a process's CPU-seconds from /proc, as the daily-refresh benchmark does for workers."""

from __future__ import annotations

import os

import pytest

from bench._cpu import child_named, cpu_seconds


def test_cpu_seconds_of_a_process_are_its_user_plus_system_time() -> None:
    """/proc's count for this process agrees with what the process itself reports."""
    sum(range(200_000))  # some CPU time to count
    times = os.times()
    assert cpu_seconds(os.getpid()) == pytest.approx(times.user + times.system, abs=0.05)


def test_a_process_that_is_not_a_child_is_not_found() -> None:
    """child_named looks only at this process's children, never at the rest of the machine."""
    assert child_named("python", parent=-1) is None
