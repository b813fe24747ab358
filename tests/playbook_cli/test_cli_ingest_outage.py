"""`playbook ingest` cut off by a Temporal outage: one line saying how many rows went, the
first that did not, and that running it again is safe; exit 75, no Rust WARN lines.

A dev server of its own (the shared one must survive), stopped while the command runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from engine.client._attributes import DEV_SERVER_ARGS
from engine.client._converter import DATA_CONVERTER
from tests.support import eventually

BIN = Path(sys.executable).parent
ROWS = 3000


async def test_an_outage_midway_says_what_was_sent_and_what_was_not(tmp_path: Path) -> None:
    """The server stops after some rows: exit 75 and one line naming the count sent, the
    first row not sent (file:line) and that a re-run is safe; nothing in stdout or stderr
    from the SDK's core."""
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=str(BIN / "temporal"),
        dev_server_extra_args=[*DEV_SERVER_ARGS, "--db-filename", str(tmp_path / "t.db")],
        ui=False,
    )
    rows = tmp_path / "health.jsonl"
    rows.write_text(
        "".join(
            json.dumps({"account": f"acct-{i}", "score": 50 + i % 40}) + "\n" for i in range(ROWS)
        )
    )
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_")},
        "PLAYBOOK_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "PLAYBOOK_TEMPORAL_TASK_QUEUE": "nobody-polls",
    }
    command = subprocess.Popen(
        [str(BIN / "playbook"), "ingest", str(rows)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        async def some_sent() -> bool:
            return (await env.client.count_workflows()).count >= 20

        await eventually(some_sent, "some rows sent", seconds=60)
    finally:
        await env.shutdown()
    out, err = await asyncio.to_thread(command.communicate, timeout=120)
    assert command.returncode == 75, err
    assert out == ""
    [line] = err.splitlines()
    found = re.fullmatch(
        r"playbook: Temporal stopped answering after (\d+) of 3000 row\(s\) were sent; the first"
        rf" row not sent is {re.escape(str(rows))}:(\d+) \(account acct-(\d+)\): .+\. Running the"
        r" same ingest again is safe: rows already sent are recognised by their ids and ignored",
        line,
    )
    assert found, line
    sent, first_line, first_account = map(int, found.groups())
    assert 20 <= sent < ROWS and first_line == sent + 1 and first_account == sent
    assert "WARN" not in err and "\x1b[" not in err
