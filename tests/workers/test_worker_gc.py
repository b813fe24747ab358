"""A worker process collects garbage for a long-lived heap (workers.worker.tune_gc)."""

from __future__ import annotations

import json
import subprocess
import sys

from workers.worker import FULL_COLLECTION_EVERY

_PROBE = """
import gc, json
from workers.worker import tune_gc
before = gc.get_threshold()
tune_gc()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_full_collections_wait_and_start_up_objects_are_frozen() -> None:
    """In a process of its own (this one's collector is pytest's): the young generations keep
    their thresholds, full collections come after FULL_COLLECTION_EVERY middle ones, and what
    the process imported is out of every collection's way."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True
    ).stdout
    seen = json.loads(out)
    assert seen["after"][:2] == seen["before"][:2]
    assert seen["after"][2] == FULL_COLLECTION_EVERY > seen["before"][2]
    assert seen["frozen"] > 10_000
