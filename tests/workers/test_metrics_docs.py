"""docs/metrics.md lists every metric the engine defines, and the Grafana dashboard in deploy/
queries only metrics that exist (the engine's, or the SDK's names as the SDK serves them)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from workers.metrics import EngineMetrics

ROOT = Path(__file__).parents[2]
DOCS = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
DASHBOARD = json.loads((ROOT / "deploy" / "grafana" / "playbook-engine.json").read_text())


def _engine_names() -> set[str]:
    registry = CollectorRegistry()
    EngineMetrics(registry)
    names = set()
    for family in registry.collect():
        suffix = "_total" if family.type == "counter" else ""
        names.add(family.name + suffix)
    return names


def test_every_engine_metric_is_documented_and_nothing_else() -> None:
    documented = set(re.findall(r"^\| `(playbook_[a-z_]+)` \|", DOCS, flags=re.MULTILINE))
    assert documented == _engine_names()


def test_the_dashboard_queries_known_metrics() -> None:
    engine = _engine_names()
    queried = {
        name
        for panel in DASHBOARD["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b((?:playbook|temporal)_[a-z_]+)", target["expr"])
    }
    assert {n for n in queried if n.startswith("playbook_")} <= engine | {
        "playbook_action_duration_seconds_bucket"
    }
    documented_sdk = set(re.findall(r"`(temporal_[a-z_]+)`", DOCS))
    for name in (n for n in queried if n.startswith("temporal_")):
        assert name.removesuffix("_bucket") in documented_sdk, name
