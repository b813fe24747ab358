"""The JSON Schemas for editors: current, documented, and precise about the wrong field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.language._schema import SCHEMAS, drifted, render

ROOT = Path(__file__).parents[3]
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")


def test_committed_schemas_match_the_models() -> None:
    """schemas/ is what the models generate; run `playbook schema` after changing a model."""
    assert drifted(ROOT / "schemas") == []


def test_drift_is_detected(tmp_path: Path) -> None:
    """A schema that differs from the models is reported, and `schema --check` exits 1."""
    for filename, model in SCHEMAS.items():
        (tmp_path / filename).write_text(render(model, filename))
    (tmp_path / "playbook.schema.json").write_text("{}\n")
    assert drifted(tmp_path) == [tmp_path / "playbook.schema.json"]
    result = subprocess.run(
        [sys.executable, "-m", "playbook_cli", "schema", "--check", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "schemas out of date" in result.stderr


def _properties(node: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for name, value in node.get("properties", {}).items():
            found.append((f"{path}.{name}", value))
        for key, value in node.items():
            found += _properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _properties(value, f"{path}[{i}]")
    return found


@pytest.mark.parametrize("filename", list(SCHEMAS))
def test_every_field_has_a_description(filename: str) -> None:
    """Editors show a description for every key of every document kind."""
    schema = json.loads((ROOT / "schemas" / filename).read_text())
    missing = [
        path
        for path, prop in _properties(schema)
        if "description" not in prop and "/if" not in path and "/else" not in path
    ]
    assert missing == []


BAD_STEP = """\
kind: Playbook
name: demo
version: 1
description: d
owner: o
stage: onboard
entry: {event: contract.signed}
steps:
  - id: hello
    type: email
    templat: welcome
    to: [customer]
  - id: later
    type: wait
    for: 3 days
"""


def test_check_jsonschema_names_the_wrong_field_of_a_step(tmp_path: Path) -> None:
    """check-jsonschema reports the misspelt key and the bad duration, not 'any of'."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_STEP)
    result = subprocess.run(
        [
            str(CHECK_JSONSCHEMA),
            "--schemafile",
            str(ROOT / "schemas" / "playbook.schema.json"),
            str(bad),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "$.steps[0]: Additional properties are not allowed ('templat' was unexpected)" in (
        result.stdout
    )
    assert "$.steps[1].for: '3 days' does not match" in result.stdout
    assert "is not valid under any of the given schemas" not in result.stdout


def test_unknown_step_type_lists_the_types(tmp_path: Path) -> None:
    """An unknown step type fails on the type field with the list of types."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_STEP.replace("type: email", "type: emial"))
    result = subprocess.run(
        [
            str(CHECK_JSONSCHEMA),
            "--schemafile",
            str(ROOT / "schemas" / "playbook.schema.json"),
            str(bad),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "$.steps[0].type: 'emial' is not one of ['wait', 'wait_for', 'branch', 'email'" in (
        result.stdout
    )
