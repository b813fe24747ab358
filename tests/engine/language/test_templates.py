"""Email templates checked at validation time, positioned inside the template text.

The corpus pins the common mistakes to exact lines; these tests cover what it does not: block
scalars with leading blank lines and other indentations, the contract shared with the
renderer, and templates that are valid though they look suspicious.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine import Code, Diagnostic, check
from engine.language._template_context import TEMPLATE_VARIABLES, template_context
from engine.language._templates import check_source

ROOT = Path(__file__).parents[3]
BASIC = ROOT / "tests" / "fixtures" / "basic"


def diagnose(tmp_path: Path, body: str) -> list[Diagnostic]:
    shutil.copytree(BASIC, tmp_path / "set")
    (tmp_path / "set" / "probe.yaml").write_text("kind: EmailTemplate\nname: probe\n" + body)
    _, diagnostics = check([tmp_path / "set" / "probe.yaml"])
    return diagnostics


def where(diagnostics: list[Diagnostic]) -> list[tuple[int, int, str, Code]]:
    return [(d.line, d.column, d.field, d.code) for d in diagnostics]


def test_shipped_templates_validate() -> None:
    """All shipped templates use only the contract, so the shipped set validates."""
    _, diagnostics = check([ROOT / "playbooks"])
    assert diagnostics == []


def test_literal_block_keeps_lines_and_indentation(tmp_path: Path) -> None:
    """In a | block (with a leading blank line and deeper indentation), the column is exact."""
    body = "subject: Hi\ntext: |-\n\n    Hello {{ recipient.name }},\n      {{ acount.name }}\n"
    found = diagnose(tmp_path, body)
    assert where(found) == [(7, 10, "text", Code.TEMPLATE_UNDEFINED)]
    assert "did you mean 'account'?" in (found[0].hint or "")


def test_syntax_error_points_at_its_line(tmp_path: Path) -> None:
    """A Jinja syntax error names the line of the template inside the YAML file."""
    body = "subject: Hi\ntext: |\n  one\n  two {{ account.name }\n  three\n"
    found = diagnose(tmp_path, body)
    assert where(found) == [(6, 3, "text", Code.TEMPLATE_SYNTAX)]


def test_single_quoted_subject_column(tmp_path: Path) -> None:
    """In a quoted one-line value the column counts past the quote."""
    found = diagnose(tmp_path, "subject: 'Hi {{ who }}'\ntext: x\n")
    assert where(found) == [(3, 17, "subject", Code.TEMPLATE_UNDEFINED)]


def test_folded_block_keeps_the_value_position(tmp_path: Path) -> None:
    """Folded text (>) cannot be mapped back line by line; the value's position is used."""
    found = diagnose(tmp_path, "subject: Hi\ntext: >\n  a\n  b\n\n  {{ who }}\n")
    assert where(found) == [(4, 7, "text", Code.TEMPLATE_UNDEFINED)]


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ account.__dict__ }}",
        "{{ account['_private'] }}",
        "{{ account | attr('__class__') }}",
        "{{ (lambda_ or account).gi_frame }}",
    ],
)
def test_ways_out_of_the_sandbox_are_refused(source: str) -> None:
    """Underscore attributes and items, and the sandbox's other unsafe names, are refused."""
    codes = {f.code for f in check_source(source, ("text",))}
    assert Code.TEMPLATE_UNSAFE in codes


@pytest.mark.parametrize(
    "source",
    [
        "{% for tag in account.tags %}{{ tag }}{% endfor %}",
        "{% set who = recipient.name %}{{ who }}",
        "{{ recipient.get('name', 'there') }}",
        "{{ account.arr | default('n/a') }} {{ health.components.usage }}",
        "{% if days_to_renewal is defined %}{{ days_to_renewal }}{% endif %}",
        "{{ people['implementation-lead'].name }} {{ today.isoformat() }} {{ step }}",
        "{% for recipient in [csm] %}{{ recipient.phone }}{% endfor %}",
        "{{ playbook.name }} v{{ playbook.version }} {% raw %}{{ nope }}{% endraw %}",
    ],
)
def test_valid_templates_pass(source: str) -> None:
    """Loops, set, defaults, dict methods, tests, raw blocks and shadowed names are fine."""
    assert check_source(source, ("text",)) == []


def test_include_is_refused() -> None:
    """A template stands alone: include, import and extends have nothing to load."""
    found = check_source("a\n{% extends 'base.html' %}", ("html",))
    assert [(f.code, f.offset) for f in found] == [(Code.TEMPLATE_SYNTAX, (2, 4))]


def test_context_provides_exactly_the_contract() -> None:
    """The renderer's context has only names the validator accepts, and all of them when the
    data is complete."""
    context = template_context(
        account={"name": "Acme", "renewal_date": "2026-09-01", "start_date": "2025-09-01"},
        health={"score": 42.0, "tier": "at-risk", "trend": "declining"},
        recipient={"name": "Dana", "email": "dana@acme.example", "phone": "hidden"},
        people={
            role: {"name": role.title(), "email": f"{role}@example.com"}
            for role in ("customer", "csm", "manager", "executive", "owner", "sponsor")
        },
        playbook="onboarding",
        version=3,
        step="welcome",
        now=datetime(2026, 6, 1, 9, tzinfo=UTC),
        enrolled_at=datetime(2026, 5, 20, tzinfo=UTC),
    )
    assert set(context) == set(TEMPLATE_VARIABLES)
    assert context["recipient"] == {"name": "Dana", "email": "dana@acme.example"}
    assert (context["days_to_renewal"], context["days_since_enrollment"]) == (92, 12)
    assert context["people"]["sponsor"]["name"] == "Sponsor"


def test_missing_values_stay_undefined() -> None:
    """Without a renewal date there is no days_to_renewal, rather than a None to print."""
    context = template_context(
        account={"name": "Acme"},
        health={},
        recipient={"name": "Dana"},
        people={},
        playbook="p",
        version=1,
        step="s",
        now=datetime(2026, 6, 1, tzinfo=UTC),
    )
    assert "days_to_renewal" not in context and "csm" not in context


def test_every_variable_is_documented() -> None:
    """docs/language.md lists every template variable in its table."""
    doc = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    table = doc[doc.index("### Template variables") :]
    for name in TEMPLATE_VARIABLES:
        assert f"`{name}`" in table, name


@pytest.mark.parametrize(
    "source",
    [
        "{{ " + "(" * 2000 + "1" + ")" * 2000 + " }}",
        "{% if true %}" * 400 + "x" + "{% endif %}" * 400,
        "{{ 1" + " + 1" * 20_000 + " }}",
        "{{ [" * 1000 + "]" * 1000 + " }}",
    ],
)
def test_templates_too_deep_to_compile_are_one_problem(source: str) -> None:
    """Nesting or operator chains that exhaust Jinja's recursion: one TEMPLATE_SYNTAX, no crash."""
    [finding] = check_source(source, ("text",))
    assert finding.code is Code.TEMPLATE_SYNTAX
    assert "nests too deeply" in finding.message


def test_moderate_nesting_still_compiles() -> None:
    """Thirty levels of brackets and blocks are an ordinary template."""
    source = "{% if true %}" * 30 + "{{ " + "(" * 30 + "1" + ")" * 30 + " }}" + "{% endif %}" * 30
    assert check_source(source, ("text",)) == []
