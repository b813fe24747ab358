"""The positioned YAML reader: YAML 1.2 scalars, positions, and refusals."""

from __future__ import annotations

import pytest

from engine.language._errors import Code
from engine.language._yaml import YamlProblem, load


def test_norway_words_stay_text() -> None:
    """yes, no, on and off are text, as YAML 1.2 says, not booleans."""
    data, _ = load("a: no\nb: on\nc: yes\nd: off\ne: true\n")
    assert data == {"a": "no", "b": "on", "c": "yes", "d": "off", "e": True}


def test_keys_are_always_text() -> None:
    """Keys like on, 1 and null stay the text the author wrote."""
    data, _ = load("on: 1\n1: 2\nnull: 3\n")
    assert data == {"on": 1, "1": 2, "null": 3}


def test_dates_and_numbers() -> None:
    """Dates stay text for the models to parse; YAML 1.2 numbers are numbers."""
    data, _ = load("d: 2026-01-31\ni: 0x1F\nf: 1.5e3\nq: '42'\n")
    assert data == {"d": "2026-01-31", "i": 31, "f": 1500.0, "q": "42"}


def test_positions_of_keys_and_values() -> None:
    """Every key and value is recorded with a 1-based line and column."""
    _, pos = load("steps:\n  - id: a\n    to: [x, y]\n")
    assert pos.keys[("steps",)] == (1, 1)
    assert pos.values[("steps", 0)] == (2, 5)
    assert pos.keys[("steps", 0, "to")] == (3, 5)
    assert pos.values[("steps", 0, "to", 1)] == (3, 13)
    assert pos.of_value(("steps", 0, "nope")) == (2, 5)


@pytest.mark.parametrize(
    ("text", "code", "line", "column"),
    [
        ("a: 1\na: 2\n", Code.YAML_DUPLICATE_KEY, 2, 1),
        ("a:\n\t- x\n", Code.YAML_TAB, 2, 1),
        ("a: [1, 2\n", Code.YAML_SYNTAX, 2, 1),
        ("a: !!python/object x\n", Code.YAML_TAG, 1, 4),
        ("a: &x [*x]\n", Code.YAML_TOO_COMPLEX, 1, 4),
        ("a: 1\n---\nb: 2\n", Code.YAML_MULTIPLE_DOCUMENTS, 2, 1),
        ("<<: {a: 1}\n", Code.YAML_TAG, 1, 1),
    ],
)
def test_refusals_are_positioned(text: str, code: Code, line: int, column: int) -> None:
    """Documents that cannot become data raise a problem with its code and position."""
    with pytest.raises(YamlProblem) as caught:
        load(text)
    assert (caught.value.code, caught.value.line, caught.value.column) == (code, line, column)


def test_alias_bomb_is_refused() -> None:
    """Aliases that expand to millions of values stop at the value limit."""
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(YamlProblem) as caught:
        load("\n".join(levels) + "\n")
    assert caught.value.code is Code.YAML_TOO_COMPLEX


def test_libyaml_is_used_for_valid_files() -> None:
    """Valid files go through libyaml (several times faster); errors re-parse in Python."""
    from engine.language import _yaml

    assert _yaml._FastLoader is not _yaml._PureLoader
