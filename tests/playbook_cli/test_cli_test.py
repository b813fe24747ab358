"""`playbook test` as CS ops run it: real processes, each test on its own time-skipping server.

The shipped playbooks' tests pass (so `make test` holds the shipped playbooks to them); a
covered change to a shipped playbook fails them at the right line; a failing expectation, a
bad test document and a name that does not resolve are each reported as positioned lines.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).parents[2]


def playbook(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "playbook_cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=300,
    )


def copy_of_playbooks(tmp_path: Path) -> Path:
    target = tmp_path / "playbooks"
    shutil.copytree(ROOT / "playbooks", target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_playbooks_pass_their_tests() -> None:
    """Every PlaybookTest under playbooks/ passes: one line per test, then the count."""
    result = playbook("test", "playbooks")
    assert result.returncode == 0, result.stdout + result.stderr
    tests = sorted((ROOT / "playbooks" / "tests").glob("*.yaml"))
    assert len(tests) >= 4
    assert f"{len(tests)} passed" in result.stdout.splitlines()[-1]


def test_a_covered_change_to_a_shipped_playbook_fails_at_the_expectation(tmp_path: Path) -> None:
    """The day-7 check-in moved to day 10: the onboarding test fails at its day-7 line."""
    books = copy_of_playbooks(tmp_path)
    edit(books / "onboarding.yaml", "until: enrolled + 7d", "until: enrolled + 10d")
    result = playbook("test", str(books))
    assert result.returncode == 1
    test = books / "tests" / "onboarding.yaml"
    line = next(
        n
        for n, text in enumerate(test.read_text(encoding="utf-8").splitlines(), 1)
        if "day: 7, email: onboarding-check-in" in text
    )
    expected = (
        f"{test}:{line}:14: expected email onboarding-check-in to customer on day 7; found 0,"
        " nothing within 2 days; the nearest:"
    )
    lines = result.stdout.splitlines()
    assert expected in lines, result.stdout
    nearest = lines[lines.index(expected) + 1 : lines.index(expected) + 3]
    assert nearest[0].split()[:2] == ["day", "3"] and nearest[1].split()[:2] == ["day", "10"]
    assert "check-in-email" in nearest[1]
    assert "onboarding-first-value-missed FAILED" in result.stdout
    assert "churn-ladder-climbs-and-recovers ok" in result.stdout
    assert result.stdout.splitlines()[-1].startswith(
        f"{len(list(books.glob('tests/*'))) - 1} passed, 1 failed"
    )


def test_a_failure_shows_the_timeline_around_the_expected_day(tmp_path: Path) -> None:
    """Expecting the manager on day 11 (it is day 12): the lines of days 9 to 13 follow."""
    books = copy_of_playbooks(tmp_path)
    test = books / "tests" / "churn-prevention.yaml"
    edit(test, "{day: 12, escalated: manager}", "{day: 11, escalated: manager}")
    result = playbook("test", str(books))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    head = next(i for i, x in enumerate(lines) if "expected escalated to tier manager" in x)
    assert lines[head].endswith("on day 11; found 0, the timeline there:")
    context = []
    for text in lines[head + 1 :]:
        if not text.startswith("    "):
            break
        context.append(text)
    days = {int(text.split()[1]) for text in context}
    assert days <= {9, 10, 11, 12, 13} and {10, 12} <= days
    assert any("escalated  escalation.tiers.manager" in text for text in context)


def test_never_lists_what_happened_anyway(tmp_path: Path) -> None:
    """never: {escalated: csm} fails, showing the escalation it found."""
    books = copy_of_playbooks(tmp_path)
    test = books / "tests" / "churn-prevention.yaml"
    edit(test, "  - {escalated: executive}", "  - {escalated: csm}")
    result = playbook("test", str(books), "--json")
    assert result.returncode == 1
    outcomes = {o["name"]: o for o in json.loads(result.stdout)}
    failure = outcomes["churn-ladder-climbs-and-recovers"]["failures"][0]
    assert failure["expected"] == "never escalated to tier csm on any day"
    assert failure["found"] == "found 1:"
    assert "escalation.tiers.csm" in failure["timeline"][0]


def test_a_bad_test_document_is_one_positioned_line(tmp_path: Path) -> None:
    """An expectation naming two things, a row with no day: each one line, exit 1, no run."""
    books = copy_of_playbooks(tmp_path)
    test = books / "tests" / "churn-prevention.yaml"
    edit(
        test,
        "{day: 10, enrolled: churn-prevention}",
        "{day: 10, enrolled: churn-prevention, goal: churn-prevention}",
    )
    edit(test, "{day: 20, score: 66}", "{score: 66}")
    result = playbook("test", str(books))
    assert result.returncode == 1
    errors = [x for x in result.stdout.splitlines() if x.startswith(str(test))]
    assert len(errors) == 2, result.stdout
    assert "expect[0]: an expectation names one of" in errors[1] or "expect[0]" in errors[0]
    assert any("timeline[3]: give a day (days after start) or a date" in x for x in errors)
    assert "Traceback" not in result.stdout + result.stderr


def test_unknown_step_role_tier_and_template_are_refused_where_written(tmp_path: Path) -> None:
    """A step, a role, a tier, a template and (in the timeline) a playbook the test does not
    run: REF_ lines where each is written, with hints."""
    books = copy_of_playbooks(tmp_path)
    test = books / "tests" / "churn-prevention.yaml"
    edit(test, "{day: 10, task: csm, title: root-cause}", "{day: 10, task: cms}")
    edit(test, "{day: 12, escalated: manager}", "{day: 12, escalated: managr}")
    edit(test, "{email: churn-risk-executive}", "{step: rech-out}")
    edit(
        test,
        "{day: 10, email: churn-outreach, to: customer}",
        "{day: 10, email: onboarding-welcome}",
    )
    edit(
        test,
        "ack: maria@example.com, playbook: churn-prevention",
        "ack: maria@example.com, playbook: churn-prevenion",
    )
    result = playbook("validate", str(books))
    assert result.returncode == 1
    lines = [x for x in result.stdout.splitlines() if x.startswith(str(test))]
    assert any(
        "task: 'cms' is not a role (nor an address) (did you mean 'csm'?) [REF_ROLE]" in x
        for x in lines
    )
    assert any(
        "escalated: 'managr' is not a ladder's tier (did you mean 'manager'?)" in x for x in lines
    )
    assert any(
        "step: 'rech-out' is not a step of the playbooks (did you mean 'reach-out'?) [REF_STEP]"
        in x
        for x in lines
    )
    assert any(
        "email: 'onboarding-welcome' is not a template the playbooks send" in x for x in lines
    )
    assert any(
        "timeline[2].playbook: 'churn-prevenion' is not a tested playbook"
        " (did you mean 'churn-prevention'?) [REF_PLAYBOOK]" in x
        for x in lines
    )
    assert len(lines) == 5


def test_junit_xml_names_each_test_and_its_failures(tmp_path: Path) -> None:
    """--junit-xml: a testsuite with a testcase per test; the failing one has a failure."""
    books = copy_of_playbooks(tmp_path)
    edit(books / "onboarding.yaml", "until: enrolled + 7d", "until: enrolled + 10d")
    report = tmp_path / "junit.xml"
    result = playbook("test", str(books), "--junit-xml", str(report))
    assert result.returncode == 1
    suite = ElementTree.parse(report).getroot()
    assert suite.tag == "testsuite"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert len(cases) == int(suite.get("tests") or 0) >= 4
    failed = cases["onboarding-first-value-missed"].findall("failure")
    assert failed and "onboarding-check-in" in (failed[0].get("message") or "")
    assert not cases["churn-ladder-climbs-and-recovers"].findall("failure")


def test_no_tests_is_an_error_not_a_pass(tmp_path: Path) -> None:
    """A set without PlaybookTests: one line saying so, exit 1."""
    books = copy_of_playbooks(tmp_path)
    shutil.rmtree(books / "tests")
    result = playbook("test", str(books))
    assert result.returncode == 1
    assert "no PlaybookTest in" in result.stderr


def test_every_shipped_playbook_has_a_test() -> None:
    """Each playbook under playbooks/ is named by at least one shipped PlaybookTest."""
    from engine import load

    found = load([ROOT / "playbooks"])
    tested = {name for test in found.tests.values() for name in test.playbooks}
    assert tested >= set(found.playbooks), set(found.playbooks) - tested
