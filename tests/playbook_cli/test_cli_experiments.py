"""Experiments from the command line, as users run them: `generate-book --plant` writes a book
with a known effect and `backtest` recovers it within its interval; `playbook test` shows
the arm its account fell in; bad plant options are one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PLAYBOOK = Path(sys.executable).parent / "playbook"
FIXTURES = Path(__file__).parents[1] / "fixtures"
PLANTED = FIXTURES / "planted"


def playbook(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PLAYBOOK), *args], capture_output=True, text=True, timeout=220, check=False
    )


def test_the_backtest_recovers_a_planted_effect_within_its_interval(tmp_path: Path) -> None:
    """Treated accounts of `save` churn 35 points less by construction (a book of crashing
    accounts, half held out); the backtest's churn difference over 120 days holds -0.35 in
    its Newcombe interval, the interval excludes 0, and every arm is big enough to say so."""
    made = playbook(
        "generate-book",
        *("--out", str(tmp_path), "--accounts", "200", "--days", "300", "--mix", "crash=1"),
        *("--plant", str(PLANTED / "save.yaml"), "--plant-churn", "-0.35"),
    )
    assert made.returncode == 0, made.stderr
    plant = json.loads((tmp_path / "plant.json").read_text())
    assert plant == {
        "playbook": "save",
        "experiment": "save-test",
        "arm": "treated",
        "churn": -0.35,
    }
    done = playbook(
        "backtest",
        str(tmp_path / "book.jsonl"),
        *("--outcomes", str(tmp_path / "outcomes.jsonl"), "--playbooks", str(PLANTED)),
        *("--horizon", "120d", "--json"),
    )
    assert done.returncode == 0, done.stderr
    [experiment] = json.loads(done.stdout)["experiments"]
    assert experiment["reference"] == "holdout"
    assert all(arm["accounts"] >= 30 for arm in experiment["arms"])
    churn = next(c for c in experiment["comparisons"] if c["metric"] == "churn_rate")
    assert churn["low"] <= -0.35 <= churn["high"], churn
    assert churn["high"] < 0 and churn["verdict"] == "difference"
    assert churn["method"].startswith("Newcombe")


def test_an_unplanted_book_is_the_book_it_always_was(tmp_path: Path) -> None:
    """Without --plant or --mix, the same seed writes byte for byte the same book as the
    generator with no plant: the README's backtest figures still describe it."""
    from workers.simulate.book import generate

    assert playbook("generate-book", "--out", str(tmp_path), "--accounts", "30").returncode == 0
    book = generate(30, 365, 7)
    lines = (tmp_path / "book.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == book.rows
    assert not (tmp_path / "plant.json").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--plant", str(FIXTURES / "basic" / "care.yaml")],
            "needs one playbook with an experiment",
        ),
        (
            ["--plant", str(PLANTED / "save.yaml"), "--plant-arm", "brief"],
            "has the arms holdout, treated",
        ),
        (["--mix", "crash=1,boom=2"], "write NAME=SHARE,... with names from improve"),
        (["--mix", "crash=0"], "the shares sum to 0"),
        (["--mix", "crash=x"], "write NAME=SHARE"),
    ],
)
def test_a_bad_plant_or_mix_is_one_line(args: list[str], says: str, tmp_path: Path) -> None:
    """A plant without an experiment, an arm it does not have, or a mix that is not one:
    one line, exit 1, nothing written."""
    done = playbook("generate-book", "--out", str(tmp_path / "out"), *args)
    assert done.returncode == 1 and says in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_playbook_test_shows_the_arm_and_a_held_out_account_gets_no_email(tmp_path: Path) -> None:
    """A PlaybookTest of a held-out account passes with `never: email` and its line names
    the arm; --json lists it."""
    shutil.copytree(FIXTURES / "experiments", tmp_path / "set")
    (tmp_path / "set" / "held.yaml").write_text(
        """\
kind: PlaybookTest
name: held-out-account
playbooks: [rescue]
account: {id: acct-10, start: 2027-03-01, name: Acme, segment: smb, owner: sam@example.com,
          contact_email: ops@acme.example}
days: 5
timeline:
  - {day: 0, score: 30}
expect:
  - {day: 0, task: csm}
never:
  - {email: welcome}
"""
    )
    done = playbook("test", str(tmp_path / "set"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "held-out-account ok" in done.stdout
    assert "[arm rescue rescue-q1:holdout]" in done.stdout
    as_json = playbook("test", str(tmp_path / "set"), "--json")
    [outcome] = json.loads(as_json.stdout)
    assert outcome["arms"] == ["rescue rescue-q1:holdout"]
