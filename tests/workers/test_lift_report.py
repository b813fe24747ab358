"""`playbook report` measures experiments from the store's decision log: the arm each run
recorded, the lifecycle events after it, per arm, with the difference's interval, in the
terminal lines and in --json; on the dev server and a real SQLite store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from engine.client._attributes import register
from engine.journeys._messages import Decision, DecisionRecord, HistoryChange, HistoryRequest
from tests.support import fresh_namespace
from workers import history
from workers.store import open_store

PLAYBOOK = Path(sys.executable).parent / "playbook"


def _fill(database: str, start: datetime) -> None:
    """120 accounts enrolled in rescue 200 days ago; half held out; 30 held-out and 12
    treated accounts cancel 40 days after enrolling."""
    decisions, changes = [], []
    for i in range(120):
        account, arm = f"a{i:03d}", ("holdout" if i % 2 else "treated")
        index = i // 2
        decision = Decision(
            at=start,
            kind="experiment",
            rule="experiment.q1",
            playbook="rescue",
            version=1,
            hash="sha256:x",
            seen={"experiment": "q1", "arm": arm, "bucket": 0.5},
            detail=f"arm {arm}",
            seq=2,
        )
        decisions.append(
            DecisionRecord(
                key=f"playbook/rescue/{account}/1/why/2",
                account_id=account,
                workflow_id=f"playbook/rescue/{account}/1",
                decision=decision,
            )
        )
        if index < (30 if arm == "holdout" else 12):
            changes.append(
                HistoryChange(
                    key=f"{account}/cancel",
                    account_id=account,
                    at=start + timedelta(days=40),
                    kind="lifecycle",
                    new="contract.cancelled",
                )
            )
    with open_store(database) as store:
        history.record(store, HistoryRequest(changes=changes, decisions=decisions))


async def test_the_report_compares_arms_with_an_interval(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = await fresh_namespace(dev_env)
    await register(client, client.namespace)
    database = f"sqlite:///{tmp_path / 'playbook.db'}"
    _fill(database, datetime.now(UTC) - timedelta(days=200))
    command = [str(PLAYBOOK), "report", "--database", database, "--namespace", client.namespace]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOK_")},
        "PLAYBOOK_TEMPORAL_ADDRESS": client.service_client.config.target_host,
    }
    done = subprocess.run(
        [*command, "--json", "--horizon", "90d"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    [experiment] = json.loads(done.stdout)["experiments"]
    assert experiment["playbook"] == "rescue" and experiment["reference"] == "holdout"
    arms = {a["arm"]: a for a in experiment["arms"]}
    assert (arms["holdout"]["churned"], arms["treated"]["churned"]) == (30, 12)
    churn = next(c for c in experiment["comparisons"] if c["metric"] == "churn_rate")
    assert abs(churn["difference"] + 0.3) < 1e-9
    assert churn["high"] < 0 and churn["verdict"] == "difference"
    assert "Newcombe" in churn["method"]
    # Over a horizon shorter than the churns' 40 days, no arm churned.
    short = subprocess.run(
        [*command, "--json", "--horizon", "30d"], capture_output=True, text=True, env=env
    )
    [within] = json.loads(short.stdout)["experiments"]
    assert sum(a["churned"] for a in within["arms"]) == 0
    lines = subprocess.run(command, capture_output=True, text=True, env=env).stdout
    assert "== Experiment q1 (rescue): outcomes 90d after enrollment" in lines
    assert "treated vs holdout\tchurn_rate\t-30.0 pts" in lines
    bad = subprocess.run([*command, "--horizon", "3mo"], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "horizon '3mo'" in bad.stderr
