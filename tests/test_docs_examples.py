"""The language reference, docs/language.md, against the language itself.

Its complete examples must stay valid, and every key the models accept must be documented,
so neither the examples nor the reference can drift from the code unnoticed.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

import engine
from engine import EmailTemplate, HealthModel, Playbook
from engine.language._calendar import Calendar
from engine.language._cel import CEL_VARIABLES
from engine.language._contact import ContactPolicy
from engine.language._fields import ACCOUNT_ATTRIBUTES, HEALTH_FIELDS, TOP_LEVEL

DOC = Path(__file__).resolve().parent.parent / "docs" / "language.md"
_BLOCK = re.compile(r"^```yaml\n(# example: (\S+)\n.*?)^```$", re.DOTALL | re.MULTILINE)


def examples() -> dict[str, str]:
    """The documented complete examples, by file name."""
    found: dict[str, str] = {}
    for match in _BLOCK.finditer(DOC.read_text(encoding="utf-8")):
        text, name = match.group(1), match.group(2)
        assert name not in found, f"two examples are named {name}"
        found[name] = text
    return found


def models(root: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """Every model reachable from ``root`` through its fields' annotations."""
    seen: set[type[BaseModel]] = set()
    todo: list[object] = [root]
    while todo:
        tp = todo.pop()
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in seen:
                continue
            seen.add(tp)
            yield tp
            todo += [field.annotation for field in tp.model_fields.values()]
        else:
            todo += typing.get_args(tp)


def field_keys() -> set[str]:
    """Every key a document may contain, as written in YAML (aliases, not attribute names)."""
    return {
        field.alias or name
        for root in (Playbook, HealthModel, EmailTemplate, ContactPolicy, Calendar)
        for model in models(root)
        for name, field in model.model_fields.items()
    }


def literal_values() -> set[str]:
    """Every fixed choice a key accepts (step types, stages, policies, outcomes, ...)."""
    out: set[str] = set()
    for root in (Playbook, HealthModel, EmailTemplate, ContactPolicy, Calendar):
        for model in models(root):
            for field in model.model_fields.values():
                todo: list[object] = [field.annotation]
                while todo:
                    tp = todo.pop()
                    if typing.get_origin(tp) is typing.Literal:
                        out |= {str(v) for v in typing.get_args(tp)}
                    elif not (isinstance(tp, type) and issubclass(tp, BaseModel)):
                        todo += typing.get_args(tp)
    return out


def test_documented_examples_validate(tmp_path: Path) -> None:
    """Every complete example in the reference validates, together, with no diagnostics."""
    found = examples()
    assert len(found) >= 4
    kinds = {k for t in found.values() for k in re.findall(r"^kind: (\w+)$", t, re.MULTILINE)}
    assert kinds == {"Playbook", "HealthModel", "EmailTemplate", "ContactPolicy", "Calendar"}
    for name, text in found.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    result, diagnostics = engine.check([tmp_path])
    assert [str(d) for d in diagnostics] == []
    for name in result.playbooks:
        assert result.plan(name).hash.startswith("sha256:")


def test_every_key_is_documented() -> None:
    """Every key of every document kind, steps and conditions included, appears in backticks."""
    text = DOC.read_text(encoding="utf-8")
    keys = field_keys()
    assert {"for", "if", "else", "all", "any", "not", "in", "on_timeout", "ack_sla"} <= keys
    assert sorted(k for k in keys if f"`{k}`" not in text) == []


def test_every_choice_is_documented() -> None:
    """Every fixed value a key accepts (step type, stage, policy, outcome...) is in backticks."""
    text = DOC.read_text(encoding="utf-8")
    choices = literal_values()
    assert {"wait_for", "start_playbook", "renormalize", "cooldown", "urgent"} <= choices
    assert sorted(c for c in choices if f"`{c}`" not in text) == []


def test_every_condition_name_is_documented() -> None:
    """Every field a condition can read and every CEL variable appears in backticks."""
    text = DOC.read_text(encoding="utf-8")
    names = {f"health.{n}" for n in HEALTH_FIELDS} | {f"account.{n}" for n in ACCOUNT_ATTRIBUTES}
    names |= {*TOP_LEVEL, *CEL_VARIABLES, "health.components.NAME", "account.attributes.NAME"}
    assert sorted(n for n in names if f"`{n}`" not in text) == []
