"""The language's limits: what validates can run, and the edge of each limit is accepted.

The corpus pins one refusal of each limit to its exact line; these tests walk both sides of
each boundary, and the inputs that used to crash the validator (RecursionError, ValueError)
or pass it and then fail every run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from engine import Code, check
from engine.language._cel import MAX_LENGTH, MAX_NESTING, check_expression
from engine.language._durations import DateOffsetText, Duration
from engine.language._yaml import YamlProblem, load

BASIC = Path(__file__).parents[2] / "fixtures" / "basic"


def refusal(text: str) -> YamlProblem:
    with pytest.raises(YamlProblem) as caught:
        load(text)
    return caught.value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
        ("0x7fffffffffffffff", 2**63 - 1),
        ("0o777", 511),
        ("000000000000000000000000000042", 42),
        ("1.7e308", 1.7e308),
        ("-2.5", -2.5),
        ("!!int '12'", 12),
        ("!!float '1e3'", 1000.0),
    ],
)
def test_numbers_inside_the_limits_are_read(text: str, value: object) -> None:
    """Whole numbers up to the 64-bit edges and finite floats are read as numbers."""
    assert load(f"a: {text}\n")[0] == {"a": value}


@pytest.mark.parametrize(
    "text",
    [
        "9223372036854775808",
        "-9223372036854775809",
        "0x8000000000000000",
        "9" * 5000,
        "!!int '99999999999999999999'",
        ".inf",
        "-.Inf",
        ".nan",
        "1e999",
        "!!float 'nan'",
        "!!float '-inf'",
    ],
)
def test_numbers_outside_the_limits_are_refused_where_they_stand(text: str) -> None:
    """A whole number past 64 bits or a number that is not finite is refused at its place."""
    problem = refusal(f"kind: Playbook\nversion: {text}\n")
    assert (problem.code, problem.line, problem.column, problem.loc) == (
        Code.NUMBER_OUT_OF_RANGE,
        2,
        10,
        ("version",),
    )
    assert "\n" not in problem.message and len(problem.message) < 200


@pytest.mark.parametrize(
    "text",
    [
        "- " * 1000 + "x",  # a 2 kB block sequence, past libyaml's own limit of 1,000
        "a: " + "[" * 1000 + "]" * 1000,
        "a: " + "{a: " * 900 + "1" + "}" * 900,
        "- " * 200 + "x",  # deeper than 64, shallower than libyaml's limit
        "- " * 100_000 + "x",
    ],
)
def test_deep_nesting_is_refused_without_recursion_error(text: str) -> None:
    """Nesting far past 64 levels is YAML_TOO_COMPLEX at the first level too deep."""
    problem = refusal(text + "\n")
    assert problem.code is Code.YAML_TOO_COMPLEX
    assert "64 levels" in problem.message


def test_nesting_of_64_levels_is_read() -> None:
    """64 levels of nesting, the limit, are still a document."""
    data, _ = load("a: " + "[" * 63 + "]" * 63 + "\n")
    for _ in range(63):
        data = data["a"] if isinstance(data, dict) else data[0]
    assert data == []


def _duration(text: str) -> str:
    return str(TypeAdapter(Duration).validate_python(text))


def _offset(text: str) -> str:
    return str(TypeAdapter(DateOffsetText).validate_python(text))


@pytest.mark.parametrize("text", ["7300d", "1040w2d", "175200h", "630720000s", "0d", "1d12h"])
def test_durations_up_to_20_years_are_accepted(text: str) -> None:
    """A duration of at most 20 years (7300 days) in any unit is accepted."""
    assert _duration(text) == text


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("7301d", Code.DURATION_INVALID),
        ("1043w", Code.DURATION_INVALID),
        ("9" * 5000 + "d", Code.DURATION_INVALID),
        ("3d\n", Code.DURATION_INVALID),
        ("\n3d", Code.DURATION_INVALID),
        ("3d ", Code.DURATION_INVALID),
    ],
)
def test_durations_past_20_years_or_with_a_trailing_newline_are_refused(
    text: str, code: Code
) -> None:
    """Over 20 years, thousands of digits, or anything after the unit: one-line refusal."""
    with pytest.raises(ValidationError) as caught:
        _duration(text)
    error = caught.value.errors()[0]
    assert error["type"] == code
    assert "\n" not in error["msg"] and len(error["msg"]) < 200


@pytest.mark.parametrize("text", ["enrolled + 7300d", "renewal_date - 7300d", "start_date"])
def test_date_offsets_up_to_20_years_are_accepted(text: str) -> None:
    """An offset reaching at most 20 years from its anchor is accepted."""
    assert _offset(text) == text


@pytest.mark.parametrize(
    "text",
    ["enrolled + 9999999d", "renewal_date - 7301d", "start_date + 1" + "0" * 5000 + "s"],
)
def test_date_offsets_past_20_years_are_refused(text: str) -> None:
    """An offset reaching past 20 years, which overflows a run's date arithmetic, is refused."""
    with pytest.raises(ValidationError) as caught:
        _offset(text)
    error = caught.value.errors()[0]
    assert error["type"] == Code.DATE_OFFSET_INVALID
    assert "20 years" in error["msg"] and len(error["msg"]) < 200


def test_cel_at_the_limits_is_checked_as_usual() -> None:
    """An expression of exactly 2,000 characters and 32 brackets deep parses and is checked."""
    nested = "(" * MAX_NESTING + "health.score < 40" + ")" * MAX_NESTING
    assert check_expression(nested) == []
    long = "health.score < 40" + " " * (MAX_LENGTH - 17)
    assert len(long) == MAX_LENGTH
    assert check_expression(long) == []


@pytest.mark.parametrize(
    ("expression", "where"),
    [
        ("(" * 33 + "true" + ")" * 33, (1, 33)),
        ("[" * 40 + "]" * 40, (1, 33)),
        ("size(" * 100 + "[]" + ")" * 100, (1, 165)),
        ("true &&\n" + "(" * 200 + "true" + ")" * 200, (2, 33)),
        ("1" + " + 1" * 5000, (1, 1)),
        ("(" * 1000 + "1" + ")" * 999, (1, 33)),  # unbalanced, too: the limit speaks first
    ],
)
def test_cel_too_long_or_too_deep_is_one_positioned_problem(
    expression: str, where: tuple[int, int]
) -> None:
    """Past 2,000 characters or 32 brackets: CEL_TOO_COMPLEX, before the library sees it."""
    [problem] = check_expression(expression)
    assert problem.kind == "limit"
    assert (problem.line, problem.column) == where
    assert "\n" not in problem.message


def test_brackets_inside_cel_strings_do_not_count() -> None:
    """Brackets inside a quoted string are text, not nesting."""
    expression = f'account.name == "{"(" * 100}"'
    assert check_expression(expression) == []


def _codes(tmp_path: Path, steps: str) -> list[tuple[Code, str]]:
    shutil.copytree(BASIC, tmp_path / "set")
    (tmp_path / "set" / "probe.yaml").write_text(
        "kind: Playbook\nname: probe\nversion: 1\ndescription: d\nowner: o\nstage: retain\n"
        "entry: {event: contract.signed}\nsteps:\n" + steps
    )
    _, diagnostics = check([tmp_path / "set"])
    return [(d.code, d.field) for d in diagnostics]


def test_a_playbook_cannot_start_itself(tmp_path: Path) -> None:
    """start_playbook naming its own playbook is REF_PLAYBOOK: its run is still going."""
    steps = "  - {id: again, type: start_playbook, playbook: probe}\n"
    assert _codes(tmp_path, steps) == [(Code.REF_PLAYBOOK, "steps[0].playbook")]


def test_a_playbook_can_start_another(tmp_path: Path) -> None:
    """start_playbook naming another playbook of the set (the fixture's care) is fine."""
    steps = "  - {id: other, type: start_playbook, playbook: care}\n"
    assert _codes(tmp_path, steps) == []


@pytest.mark.parametrize(
    ("version", "ok"), [(1, True), (2_147_483_647, True), (2_147_483_648, False)]
)
def test_version_fits_the_search_attribute_and_the_store(
    tmp_path: Path, version: int, ok: bool
) -> None:
    """A version of 1 to 2**31-1 validates; one more is FIELD_VALUE at version."""
    shutil.copytree(BASIC, tmp_path / "set")
    (tmp_path / "set" / "probe.yaml").write_text(
        f"kind: Playbook\nname: probe\nversion: {version}\ndescription: d\nowner: o\n"
        "stage: retain\nentry: {event: contract.signed}\n"
        "steps:\n  - {id: t, type: task, title: x, assignee: csm, due: 1d}\n"
    )
    _, diagnostics = check([tmp_path / "set"])
    assert [(d.code, d.field) for d in diagnostics] == (
        [] if ok else [(Code.FIELD_VALUE, "version")]
    )
