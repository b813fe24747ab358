"""`playbook simulate`, `backtest` and `generate-book` as users run them: real processes, each
starting its own time-skipping server (and the dev server, for the published set)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from engine import load
from engine.client._start import publish
from engine.journeys._catalog import build_catalog
from tests.support import Recorder, fresh_namespace
from workers.worker import build_worker

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples" / "simulate"


def playbook(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "playbook_cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=300,
    )


def simulate_json(*args: str) -> dict[str, Any]:
    result = playbook("simulate", *args, "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_renewal_steps_move_with_a_renewal_date_moved_mid_way() -> None:
    """The date moves from Sep 30 to Oct 30 on May 3: -90/-60/-30 and the day follow it; the
    -90 customer email falls on a Sunday and waits for Monday's send window, with the task
    after it."""
    data = simulate_json(
        "playbooks/renewal.yaml",
        "--account",
        str(EXAMPLES / "acme.yaml"),
        "--timeline",
        str(EXAMPLES / "renewal-moves.jsonl"),
        "--days",
        "310",
    )
    actions = [(e["at"][:10], e["step"]) for e in data["timeline"] if e["kind"] == "action"]
    assert actions == [
        ("2027-04-03", "early-renewal-plan"),
        ("2027-08-01", "open-crm-opportunity"),
        ("2027-08-02", "value-review-email"),
        ("2027-08-02", "value-review-call"),
        ("2027-08-31", "prepare-proposal"),
        ("2027-09-30", "send-contract"),
        ("2027-09-30", "chase-signature"),
        ("2027-10-30", "renewal-overdue"),
        ("2027-10-30", "announce-overdue"),
    ]
    contract = next(e for e in data["timeline"] if e["step"] == "send-contract")
    assert contract["subject"] == "Acme: your renewal contract for review"
    assert contract["to"] == ["ops@acme.example", "cc dana@example.com"]


def _versions(tmp_path: Path, edit: str) -> tuple[Path, Path]:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(ROOT / "playbooks", old)
    shutil.copytree(ROOT / "playbooks", new)
    text = (new / "onboarding.yaml").read_text(encoding="utf-8")
    if edit == "wait":
        changed = text.replace("until: enrolled + 7d", "until: enrolled + 10d")
    elif edit == "version":
        changed = text.replace("\nversion: 1\n", "\nversion: 2\n")
    else:
        changed = text.replace("\n  - id: day-3\n", "\n\n  - id:   day-3   \n") + "\n\n"
    assert changed != text
    (new / "onboarding.yaml").write_text(changed, encoding="utf-8")
    return old / "onboarding.yaml", new / "onboarding.yaml"


def compare(old: Path, new: Path) -> subprocess.CompletedProcess[str]:
    return playbook(
        "simulate",
        "--account",
        str(EXAMPLES / "acme.yaml"),
        "--timeline",
        str(EXAMPLES / "onboarding.jsonl"),
        "--days",
        "30",
        "--compare",
        str(old),
        str(new),
    )


def test_compare_shows_a_wait_moved_from_7_to_10_days(tmp_path: Path) -> None:
    """The day-7 check-in moves to day 10: removed on 7, added on 10."""
    result = compare(*_versions(tmp_path, "wait"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(x.startswith("- day   7") and "check-in-email" in x for x in lines)
    assert any(x.startswith("+ day  10") and "check-in-email" in x for x in lines)
    assert not any("welcome" in x for x in lines)


def test_compare_reports_nothing_for_a_whitespace_only_edit(tmp_path: Path) -> None:
    """Blank lines and spaces change nothing: no differences."""
    result = compare(*_versions(tmp_path, "whitespace"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("no differences")


def test_compare_reports_nothing_for_a_version_bump_alone(tmp_path: Path) -> None:
    """Version 1 against version 2 of the same steps: no differences (versions not compared)."""
    result = compare(*_versions(tmp_path, "version"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("no differences"), result.stdout


def test_bad_account_and_timeline_files_are_one_line_each_with_file_and_line(
    tmp_path: Path,
) -> None:
    """An unknown field, bad JSON and a bad day: each named by file and line, exit 1."""
    account = tmp_path / "account.yaml"
    account.write_text("id: acme\nsegmnt: smb\n", encoding="utf-8")
    result = playbook("simulate", "--account", str(account))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"playbook: {account}:2: segmnt: unknown field (fields: id, start, attributes, name,"
        " segment, owner, renewal_date, arr, csm, contact_email)"
    ]
    timeline = tmp_path / "timeline.jsonl"
    timeline.write_text('{"day": 1, "score": 50}\n{"day": 2, "score": \n{"day": -3}\n')
    result = playbook(
        "simulate", "--account", str(EXAMPLES / "acme.yaml"), "--timeline", str(timeline)
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"playbook: {timeline}:2: not JSON: ")
    assert lines[1] == f"playbook: {timeline}:3: day: -3 is not a whole number of days from 0"
    assert "Traceback" not in result.stderr


def test_bad_book_row_and_outcome_are_named_by_line(tmp_path: Path) -> None:
    """A CSV book row without a date and an unknown outcome: each one line, exit 1."""
    book = tmp_path / "book.csv"
    book.write_text("account,date,score\nacme,2027-01-04,80\nacme,,70\n", encoding="utf-8")
    result = playbook("backtest", str(book))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"playbook: {book}:3: give a day (days after the start) or a date, one of the two"
    )
    good = tmp_path / "good.csv"
    good.write_text("account,date,score\nacme,2027-01-04,80\n", encoding="utf-8")
    outcomes = tmp_path / "outcomes.jsonl"
    outcomes.write_text('{"account": "acme", "outcome": "left", "day": 3}\n', encoding="utf-8")
    result = playbook("backtest", str(good), "--outcomes", str(outcomes))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"playbook: {outcomes}:1: outcome: 'left' is not one of churned, renewed, expanded"
    )


def test_backtest_of_a_generated_book_reports_each_playbook(tmp_path: Path) -> None:
    """20 accounts x 90 days: entries, load, tiers, churners caught; the same report from one
    process and from three shards in two processes (one runs two shards in turn)."""
    made = playbook("generate-book", "--accounts", "20", "--days", "90", "--out", str(tmp_path))
    assert made.returncode == 0, made.stderr
    outcomes = [json.loads(x) for x in (tmp_path / "outcomes.jsonl").read_text().splitlines()]
    reports = []
    for layout in (["--shards", "1"], ["--shards", "3", "--jobs", "2"]):
        result = playbook(
            "backtest",
            str(tmp_path / "book.jsonl"),
            "--outcomes",
            str(tmp_path / "outcomes.jsonl"),
            "--days",
            "90",
            *layout,
            "--json",
        )
        assert result.returncode == 0, result.stderr
        reports.append(json.loads(result.stdout))
    report = reports[0]
    assert (report["accounts"], report["days"]) == (20, 90)
    by_name = {p["playbook"]: p for p in report["playbooks"]}
    churn = by_name["churn-prevention"]
    churned = sum(1 for o in outcomes if o["outcome"] == "churned")
    assert churn["churners"] == churned > 0
    assert 0 < churn["churners_caught"] <= churned
    assert churn["not_churned"] == 20 - churned
    assert 0 < churn["accounts_entered"] <= 20
    assert churn["tiers"]["csm"] >= 1
    assert churn["tasks"] > 0 and churn["per_csm_week_max"] >= churn["per_csm_week_mean"] > 0
    assert sum(churn["entries_by_month"].values()) == churn["enrollments"]
    assert reports[1]["playbooks"] == report["playbooks"]


def test_generate_book_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    """Seeded: two runs with one seed write the same book; another seed another one."""
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        result = playbook(
            "generate-book",
            "--accounts",
            "30",
            "--days",
            "60",
            "--seed",
            seed,
            "--out",
            str(tmp_path / name),
        )
        assert result.returncode == 0, result.stderr
    books = [(tmp_path / n / "book.jsonl").read_text() for n in "abc"]
    assert books[0] == books[1] != books[2]


async def test_published_set_is_what_simulate_runs(dev_env: WorkflowEnvironment) -> None:
    """--published reads the catalog published to Temporal: a set with onboarding alone."""
    client = await fresh_namespace(dev_env)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    shipped = load([ROOT / "playbooks" / "onboarding.yaml"])
    catalog = build_catalog(shipped.plans(), shipped.health_plan())  # type: ignore[arg-type]
    # Queries of the catalog workflow are answered by a worker, as in production.
    async with build_worker(client, queue, Recorder().activities()):
        await publish(client, catalog, queue)
        result = await asyncio.to_thread(
            playbook,
            "simulate",
            "--published",
            "--address",
            dev_env.client.service_client.config.target_host,
            "--namespace",
            client.namespace,
            "--account",
            str(EXAMPLES / "acme.yaml"),
            "--timeline",
            str(EXAMPLES / "onboarding.jsonl"),
            "--days",
            "3",
            "--json",
        )
    assert result.returncode == 0, result.stderr
    steps = [e["step"] for e in json.loads(result.stdout)["timeline"] if e["kind"] == "action"]
    assert steps == ["welcome", "grant-access", "kickoff-call", "initial-training"]
    empty = await fresh_namespace(dev_env)
    result = await asyncio.to_thread(
        playbook,
        "simulate",
        "--published",
        "--address",
        dev_env.client.service_client.config.target_host,
        "--namespace",
        empty.namespace,
        "--account",
        str(EXAMPLES / "acme.yaml"),
    )
    assert result.returncode == 1
    assert "cannot read the published playbooks" in result.stderr
    assert "Traceback" not in result.stderr
