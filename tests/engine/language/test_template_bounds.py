"""Rendering bounds: every way a template grows a value or runs long stops at a bound.

Each refusal happens before the work is done, so neither time nor memory is spent on it;
ordinary templates (loops over data, formatting, joining, small repetitions) render as before.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import pytest

from engine.language._template_bounds import (
    MAX_SIZE,
    TemplateTooCostly,
    deadline,
    render_text,
    weight,
)
from engine.language._templates import check_source, environment

TEXT = environment(autoescape=False)
HTML = environment(autoescape=True)
DATA: dict[str, Any] = {
    "account": {"name": "Acme <Corp>", "tags": ["a", "b", "c"], "arr": 12000},
    "big": "x" * 900_000,
    "tab": "\t" * 1000,
}


def render(source: str, seconds: float = 1.0, html: bool = False) -> str:
    with deadline(seconds):
        return render_text((HTML if html else TEXT).from_string(source), DATA)


@pytest.mark.parametrize(
    ("source", "bound"),
    [
        ("{{ 'x' * 400000000 }}", "'*'"),
        ("{{ ['x'] * 400000000 }}", "'*'"),
        ("{{ [big] * 2 }}", "'*'"),
        ("{{ 2 ** 100000000 }}", "'**'"),
        ("{{ big + big }}", "'+'"),
        ("{{ big ~ big }}", "'~'"),
        ("{{ [big, big] }}", "an output"),
        ("{{ [big, big]|join }}", "join filter"),
        ("{{ '-'.join([big, big]) }}", "str.join"),
        ("{{ 'x'|center(400000000) }}", "center filter"),
        ("{% filter center(400000000) %}x{% endfilter %}", "center filter"),
        ("{{ 'x'.ljust(400000000) }}", "str.ljust"),
        ("{{ big.replace('x', 'yy') }}", "str.replace"),
        ("{{ big|replace('x', 'yy') }}", "replace filter"),
        ("{{ tab.expandtabs(10000) }}", "str.expandtabs"),
        ("{{ big|wordwrap(1, wrapstring='--') }}", "wordwrap filter"),
        ("{{ account.tags|join(big) }}", "join filter"),
        ("{{ '%400000000s' % 1 }}", "'%'"),
        ("{{ '%*s' % (400000000, 1) }}", "'%'"),
        ("{{ '{:>400000000}'.format(1) }}", "str.format"),
        ("{{ '{:{}}'.format(1, 400000000) }}", "str.format"),
        ("{{ '%400000000s'|format(1) }}", "format filter"),
        ("{{ [big, big]|tojson }}", "tojson filter"),
        ("{% for i in range(100000) %}{% endfor %}", "range"),
    ],
)
def test_growth_is_refused_before_it_happens(source: str, bound: str) -> None:
    """Each way of building a value over the size bound is refused, in no time or memory."""
    tracemalloc.start()
    began = time.monotonic()
    try:
        with pytest.raises(TemplateTooCostly) as refused:
            render(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert bound in str(refused.value)
    assert peak < 20 * MAX_SIZE
    assert time.monotonic() - began < 1


@pytest.mark.parametrize(
    "source",
    [
        "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}",
        "{% for a in big %}{% for b in big %}{% endfor %}{% endfor %}",
        "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
        "{% for a in range(10000) %}{% for b in account.tags * 10000 %}{% endfor %}{% endfor %}",
    ],
)
def test_long_renders_stop_at_the_deadline(source: str) -> None:
    """Loops and recursion check the clock: a render past its deadline stops itself."""
    began = time.monotonic()
    with pytest.raises(TemplateTooCostly, match=r"longer than 0\.3 s"):
        render(source, seconds=0.3)
    assert time.monotonic() - began < 3  # stopped, not run to its end (minutes to forever)


def test_output_over_the_bound_stops_as_it_passes_it() -> None:
    """Many small outputs adding up past the bound stop the render there."""
    source = "{% for i in range(10000) %}{{ 'y' * 1000 }}{% endfor %}"
    with pytest.raises(TemplateTooCostly, match="rendered text"):
        render(source, seconds=5)


def test_ordinary_templates_render_as_before() -> None:
    """Loops over data, formatting, joining and small repetitions are untouched."""
    source = (
        "{{ account.name }}: {{ account.tags|join(', ') }};"
        " {% for t in account.tags %}{{ loop.index }}{{ t|upper }}{% endfor %};"
        " {{ '%.1f' % 3.14159 }} {{ '{:>4}'.format('ab') }} {{ 'ab' * 3 }} {{ 2 ** 10 }}"
        " {{ account.arr * 2 }} {{ [1, 2] + [3] }} {{ 'a' ~ 'b' }} {{ range(3)|list }}"
        " {{ 'x'|center(5) }}|"
    )
    assert render(source) == (
        "Acme <Corp>: a, b, c; 1A2B3C; 3.1   ab ababab 1024 24000 [1, 2, 3] ab [0, 1, 2]   x  |"
    )


def test_html_stays_escaped_through_concatenation() -> None:
    """``~`` goes through the bounded join and still escapes in HTML."""
    assert render("{{ account.name ~ '!' }}", html=True) == "Acme &lt;Corp&gt;!"


def test_without_a_deadline_only_sizes_are_bounded() -> None:
    """Outside :func:`deadline` (the validator's compile) no clock is read."""
    template = TEXT.from_string("{% for i in range(3) %}{{ i }}{% endfor %}")
    assert render_text(template, {}) == "012"


def test_validating_a_bomb_costs_no_memory() -> None:
    """Validation no longer folds constants: ``'x' * 400000000`` is refused, not computed."""
    tracemalloc.start()
    try:
        found = check_source("{{ 'x' * 400000000 }} {{ 'y'|center(400000000) }}", ("text",))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000
    assert [f.code for f in found] == ["TEMPLATE_COST", "TEMPLATE_COST"]


def test_weight_counts_nested_values_and_stops_early() -> None:
    """Weight adds texts inside lists and dicts, and stops once past its limit."""
    assert weight({"a": ["xy", "z"]}) == 1 + 1 + 2 + 2 + 1
    assert weight(["x" * 10] * 1000) == 11_000
    assert 50 < weight(["x" * 10] * 1000, limit=50) < 11_000
