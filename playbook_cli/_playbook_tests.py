"""``playbook test``: run the PlaybookTests of a set on the real workflows, pytest-like.

The tests are found with the playbooks (``kind: PlaybookTest`` files among them, validated
with the set); each runs as a simulation of its own (``workers.simulate.suite``). A failed
expectation is one positioned line, ``file:line:col: expected ...; found ...``, followed by
the timeline where it should have happened. ``--junit-xml`` writes the report CI systems read.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from xml.etree import ElementTree

import typer

from engine.language._errors import PlaybookError
from playbook_cli._base import _err, _fail, _out, _run, app
from playbook_cli._playbooks import _checked
from playbook_cli._simulate import AsJson, People, Playbooks, _directory

if TYPE_CHECKING:
    from workers.simulate.suite import Outcome


@app.command(name="test")
def test_(
    playbooks: Playbooks = None,
    junit_xml: Annotated[
        Path | None,
        typer.Option("--junit-xml", help="Also write a JUnit XML report here.", metavar="FILE"),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", help="Tests run at once (default: one per CPU).", min=1),
    ] = None,
    as_json: AsJson = False,
    people: People = None,
) -> None:
    """Run the PlaybookTests among the playbooks on a time-skipping server; exit 1 on a failure.

    Each test's account goes through the real account and journey workflows, months in
    seconds, nothing sent; every expectation is checked against the timeline it produced.
    """
    from workers.simulate.suite import run_tests

    found = _checked(playbooks or [Path("playbooks")])
    if not found.tests:
        _fail(
            f"no PlaybookTest in {' '.join(map(str, playbooks or [Path('playbooks')]))}:"
            " write one (kind: PlaybookTest) beside the playbooks"
        )
    directory = _directory(people)
    began = time.perf_counter()

    def show(outcome: Outcome) -> None:
        if not as_json:
            mark = "ok" if outcome.ok else ("ERROR" if outcome.error else "FAILED")
            arms = "".join(f" [arm {arm}]" for arm in outcome.arms)
            _out.print(
                f"{outcome.path} {outcome.name} {mark} ({outcome.seconds:.1f}s){arms}",
                markup=False,
            )

    try:
        outcomes = _run(run_tests(found, directory=directory, jobs=jobs, progress=show))
    except PlaybookError as error:
        _fail(str(error).splitlines()[0])
    seconds = time.perf_counter() - began
    if junit_xml is not None:
        _write_junit(junit_xml, outcomes, seconds)
    if as_json:
        print(json.dumps([_as_dict(o) for o in outcomes], indent=2))
    else:
        _report(outcomes, seconds)
    if not all(o.ok for o in outcomes):
        raise typer.Exit(1)


def _report(outcomes: list[Outcome], seconds: float) -> None:
    bad = [o for o in outcomes if not o.ok]
    for outcome in bad:
        _out.print(f"\n{'=' * 8} {outcome.name} ({outcome.path})", markup=False)
        if outcome.error:
            _out.print(f"{outcome.path}: could not run: {outcome.error}", markup=False)
        for failure in outcome.failures:
            _out.print(str(failure), markup=False)
    failed = sum(1 for o in bad if o.failures)
    errors = sum(1 for o in bad if o.error)
    parts = [f"{len(outcomes) - len(bad)} passed"]
    if failed:
        parts.append(f"{failed} failed")
    if errors:
        parts.append(f"{errors} could not run")
    _out.print(f"\n{', '.join(parts)} in {seconds:.1f}s", markup=False)


def _as_dict(outcome: Outcome) -> dict[str, object]:
    return {
        "name": outcome.name,
        "path": outcome.path,
        "ok": outcome.ok,
        "passed": outcome.passed,
        "seconds": round(outcome.seconds, 3),
        "error": outcome.error,
        "arms": outcome.arms,
        "failures": [
            {
                "path": f.path,
                "line": f.line,
                "column": f.column,
                "expected": f.expected,
                "found": f.found,
                "timeline": f.context,
            }
            for f in outcome.failures
        ],
    }


def _write_junit(path: Path, outcomes: list[Outcome], seconds: float) -> None:
    suite = ElementTree.Element(
        "testsuite",
        name="playbook test",
        tests=str(len(outcomes)),
        failures=str(sum(1 for o in outcomes if o.failures)),
        errors=str(sum(1 for o in outcomes if o.error)),
        time=f"{seconds:.3f}",
    )
    for outcome in outcomes:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=outcome.path,
            name=outcome.name,
            time=f"{outcome.seconds:.3f}",
        )
        if outcome.error:
            ElementTree.SubElement(case, "error", message=outcome.error)
        for failure in outcome.failures:
            element = ElementTree.SubElement(
                case, "failure", message=f"expected {failure.expected}; {failure.found}"
            )
            element.text = str(failure)
    try:
        ElementTree.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
    except OSError as error:
        _err.print(f"playbook: cannot write {path}: {error.strerror}", markup=False)
        raise typer.Exit(1) from None
