"""The Temporal UI in a real browser: an operator opens a run and reads what it is doing.

The dev server's own Web UI (the one `playbook dev` serves), loaded in headless Chromium
(Debian's, driven by Playwright): a churn-prevention run's page shows the summary it was
started with, its activities and timers in words, and, under User Metadata, its current
details. A screenshot of each page is kept in .artifacts/.
"""

from __future__ import annotations

import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.async_api import async_playwright
from temporalio.testing import WorkflowEnvironment

from engine.client._attributes import DEV_SERVER_ARGS
from engine.client._converter import DATA_CONVERTER
from tests.browser import chromium, sees
from tests.engine.journeys.test_operator_words import churning_account
from tests.support import Recorder
from workers.worker import build_worker

ROOT = Path(__file__).parents[3]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def ui_env(tmp_path: Path) -> AsyncIterator[tuple[WorkflowEnvironment, int]]:
    """A dev server with its Web UI on a free loopback port."""
    port = _free_port()
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=str(BIN / "temporal"),
        dev_server_extra_args=[
            *DEV_SERVER_ARGS,
            "--db-filename",
            str(tmp_path / "dev.db"),
            "--ui-ip",
            "127.0.0.1",
            "--ui-disable-news-fetch",
        ],
        ui=True,
        ui_port=port,
    )
    try:
        yield env, port
    finally:
        await env.shutdown()


async def test_an_operator_reads_a_run_in_words_in_the_temporal_ui(
    ui_env: tuple[WorkflowEnvironment, int],
) -> None:
    """The run's page: its summary, activity and timer summaries; User Metadata: details."""
    env, port = ui_env
    client = env.client
    queue = f"q-{uuid.uuid4().hex[:8]}"
    account = f"initech-{queue[-6:]}"
    artifacts = ROOT / ".artifacts"
    artifacts.mkdir(exist_ok=True)
    async with build_worker(client, queue, actions=Recorder().activities()):
        run = await churning_account(client, queue, account)
        run_id = (await run.describe()).run_id
        base = f"http://127.0.0.1:{port}/namespaces/{client.namespace}/workflows"
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                page = await browser.new_page(viewport={"width": 1600, "height": 2400})
                # The run's id has slashes (playbook/NAME/ACCOUNT/CYCLE): one path segment.
                await page.goto(f"{base}/{quote(run.id, safe='')}/{run_id}/history")
                await sees(page, f"churn-prevention v1 for {account} (cycle 1)")
                await sees(page, "email customer, cc csm: churn-outreach")
                await sees(page, "ack SLA of tier csm: 2d")
                await page.screenshot(path=artifacts / "temporal-ui-run.png", full_page=True)
                await page.get_by_role("tab", name="User Metadata").click()
                await sees(page, "Step: turnaround, waiting for its condition")
                await sees(page, "Escalation: tier csm engaged, ack SLA runs out")
                await sees(page, "Entered by entry.when, seeing")
                await page.screenshot(path=artifacts / "temporal-ui-metadata.png", full_page=True)
            finally:
                await browser.close()
