"""`playbook dev`'s stack: its namespace's retention, set at every start; how it stops."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from workers import dev
from workers.dev import RETENTION, running, stop_signals, stopped


async def test_the_dev_namespace_keeps_closed_journeys_for_the_set_retention(
    tmp_path: Path,
) -> None:
    """The dev server's own default (a day) is replaced by RETENTION (30 days)."""
    async with running(tmp_path, ui_port=0) as stack:
        described = await stack.client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=stack.client.namespace)
        )
    assert described.config.workflow_execution_retention_ttl.seconds == RETENTION.total_seconds()
    assert RETENTION.days == 30


async def test_ctrl_c_delivered_to_another_thread_still_wakes_the_idle_loop() -> None:
    """The SDK runs threads of its own, and the kernel may hand a process its SIGINT on any
    of them: the stop event is set at once, without waiting for other work to wake the loop."""
    stop = stop_signals()
    ready = threading.Event()
    other = threading.Thread(target=ready.wait, args=(5,))
    other.start()
    try:
        assert other.ident is not None
        signal.pthread_kill(other.ident, signal.SIGINT)
        watch = await asyncio.wait_for(stopped(stop), timeout=2)
        watch.cancel()
    finally:
        ready.set()
        other.join()


async def test_a_stop_that_hangs_says_what_it_waits_for(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Past STOPPING_SECONDS after the signal, every task's stack is printed to stderr."""
    monkeypatch.setattr(dev, "STOPPING_SECONDS", 0.05)
    stop = stop_signals()
    stop.set()
    await stopped(stop)

    async def shutting_down_forever() -> None:
        await asyncio.Event().wait()

    hanging = asyncio.create_task(shutting_down_forever())
    await asyncio.sleep(0.3)
    hanging.cancel()
    said = capfd.readouterr().err
    assert "still stopping after 0 s; waiting on:" in said
    assert "shutting_down_forever" in said
