"""A worker process collects garbage for a long-lived heap (workers.worker.tune_gc)."""

from __future__ import annotations

import json
import subprocess
import sys

from workers.worker import FULL_COLLECTION_EVERY

_PROBE = """
import gc, json
from workers import evictions
from workers.worker import tune_gc
before = gc.get_threshold()
tune_gc(2_000)
full = []
def seen(phase, info):
    if phase == "stop" and info["generation"] == 2:
        full.append(1)
gc.callbacks.append(seen)
gc.disable()  # Python's own collections out of the count below
for _ in range(499):
    evictions.evicted()
at_499 = len(full)
evictions.evicted()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count(),
                  "at_499": at_499, "at_500": len(full)}))
"""


def test_full_collections_follow_evictions_and_start_up_objects_are_frozen() -> None:
    """In a process of its own (this one's collector is pytest's): the young generations keep
    their thresholds, Python's full collections come after FULL_COLLECTION_EVERY middle ones,
    a full collection follows every quarter of the cache evicted (500 of 2,000), and what the
    process imported is out of every collection's way."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True
    ).stdout
    seen = json.loads(out)
    assert seen["after"][:2] == seen["before"][:2]
    assert seen["after"][2] == FULL_COLLECTION_EVERY > seen["before"][2]
    assert seen["frozen"] > 10_000
    assert (seen["at_499"], seen["at_500"]) == (0, 1)
