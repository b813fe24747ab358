"""Recorded event histories of representative journeys, replayed by
tests/engine/journeys/test_replay.py.

Each ``<name>.json`` is one workflow run's history exactly as ``WorkflowHistory.to_json``
writes it. That JSON does not say which workflow it belongs to, and the replayer gives the
workflow code its id (``workflow.info().workflow_id``), so ``workflow_ids.toml`` keeps the id
of each. ``python -m tests.histories.record`` writes both.

A package rather than a test directory, so the recorder runs with ``python -m``; pytest
collects nothing here because no file is named ``test_*.py``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from temporalio.client import WorkflowHistory

HERE = Path(__file__).resolve().parent
WORKFLOW_IDS = HERE / "workflow_ids.toml"


def recorded() -> list[Path]:
    """Every recorded history, by name."""
    return sorted(HERE.glob("*.json"))


def workflow_ids() -> dict[str, str]:
    """The workflow id of each recorded history, by file stem."""
    if not WORKFLOW_IDS.exists():
        return {}
    return {str(k): str(v) for k, v in tomllib.loads(WORKFLOW_IDS.read_text()).items()}


def load_history(path: Path, ids: dict[str, str] | None = None) -> WorkflowHistory:
    """The history in ``path`` with its workflow id, as the replayer takes it."""
    workflow_id = (workflow_ids() if ids is None else ids).get(path.stem)
    if workflow_id is None:
        raise LookupError(
            f"{path.name} has no workflow id in {WORKFLOW_IDS.name}; "
            "record histories with `python -m tests.histories.record`"
        )
    return WorkflowHistory.from_json(workflow_id, path.read_text())
