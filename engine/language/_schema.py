"""JSON Schemas for editors, generated from the language models.

pydantic writes a tagged union as ``oneOf``, and a JSON Schema validator can then only say a
step "is not valid under any of the given schemas". Editors and ``check-jsonschema`` do much
better with ``if``/``then``/``else`` chains keyed on the tag: only the matching branch is
checked, so the error names the real wrong field. That rewrite is the reason this module exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from engine.language._calendar import Calendar
from engine.language._conditions import CONDITION_KEYS
from engine.language._contact import ContactPolicy
from engine.language._documents import EmailTemplate, HealthModel, Playbook
from engine.language._tests import PlaybookTest

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMAS: dict[str, type[Any]] = {
    "playbook.schema.json": Playbook,
    "health-model.schema.json": HealthModel,
    "email-template.schema.json": EmailTemplate,
    "playbook-test.schema.json": PlaybookTest,
    "contact-policy.schema.json": ContactPolicy,
    "calendar.schema.json": Calendar,
}


class _Generator(GenerateJsonSchema):
    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        # Optional keys are left out, not written as null; dropping the null branch turns
        # "is not valid under any of the given schemas" into the real complaint.
        return self.generate_inner(schema["schema"])

    def tagged_union_schema(self, schema: core_schema.TaggedUnionSchema) -> JsonSchemaValue:
        choices = {str(tag): self.generate_inner(sub) for tag, sub in schema["choices"].items()}
        key = schema["discriminator"]
        if isinstance(key, str):
            # Tagged by a field (a step's type): unknown tags fail on that field's enum.
            last: JsonSchemaValue = {
                "required": [key],
                "properties": {key: {"enum": list(choices)}},
            }
            for tag in reversed(list(choices)):
                last = {
                    "if": {"required": [key], "properties": {key: {"const": tag}}},
                    "then": choices[tag],
                    "else": last,
                }
            return self._named("Step" if key == "type" else "Document", last)
        # Tagged by which key is present (a condition): a comparison is the fallback, so a
        # mistyped key still gets a precise "required"/"unexpected" error.
        order = [k for k in CONDITION_KEYS if k in choices and k != "field"]
        last = choices["field"]
        for tag in reversed(order):
            last = {"if": {"required": [tag]}, "then": choices[tag], "else": last}
        return self._named("Condition", last)

    def union_schema(self, schema: core_schema.UnionSchema) -> JsonSchemaValue:
        # A value or a mapping of it by segment (engine.language._by_segment): keyed on
        # whether it is a mapping, so "3 days" fails on the duration's pattern, not on
        # "not valid under any of the given schemas".
        generated = super().union_schema(schema)
        choices = generated.get("anyOf")
        if not isinstance(choices, list):
            return generated
        mappings = [c for c in choices if c.get("type") == "object"]
        rest = [c for c in choices if c.get("type") != "object"]
        if len(mappings) != 1 or not rest:
            return generated
        return {
            "if": {"type": "object"},
            "then": mappings[0],
            "else": rest[0] if len(rest) == 1 else {"anyOf": rest},
        }

    def _named(self, name: str, body: JsonSchemaValue) -> JsonSchemaValue:
        # Marked with a title here, hoisted into $defs by _hoist once generation is done.
        return {"title": name, "type": "object", **body}


_HOISTED = ("Condition", "Step")


def _hoist(node: Any, defs: dict[str, Any]) -> Any:
    """Move the marked unions, inlined wherever they are used, into one named definition."""
    if isinstance(node, list):
        return [_hoist(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _hoist(value, defs) for key, value in node.items()}
    if out.get("title") in _HOISTED and "if" in out:
        # What pydantic merged in from the field (its description, default) stays at the use.
        local = {k: out.pop(k) for k in ("description", "default") if k in out}
        defs[out["title"]] = out
        return {"$ref": f"#/$defs/{out['title']}", **local}
    return out


def schema_for(model: type[Any], filename: str) -> dict[str, Any]:
    """The JSON Schema of one document kind."""
    generated = TypeAdapter(model).json_schema(schema_generator=_Generator)
    hoisted: dict[str, Any] = {}
    body = _hoist(generated, hoisted)
    body["$defs"] = dict(sorted({**body.get("$defs", {}), **hoisted}.items()))
    return {"$schema": DIALECT, **body}


def render(model: type[Any], filename: str) -> str:
    """The schema as committed: indented JSON with a final newline."""
    return json.dumps(schema_for(model, filename), indent=2, ensure_ascii=False) + "\n"


def write(directory: Path) -> list[Path]:
    """Write every schema into ``directory``; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, model in SCHEMAS.items():
        path = directory / filename
        path.write_text(render(model, filename), encoding="utf-8")
        written.append(path)
    return written


def drifted(directory: Path) -> list[Path]:
    """Schemas in ``directory`` that are missing or differ from the models."""
    out = []
    for filename, model in SCHEMAS.items():
        path = directory / filename
        if not path.is_file() or path.read_text(encoding="utf-8") != render(model, filename):
            out.append(path)
    return out
