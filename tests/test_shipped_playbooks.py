"""The shipped playbook set in playbooks/: valid, schema-clean, and a tour of the whole language.

CS ops copy these files as examples, so the set must keep using every feature of the language;
the coverage test fails when someone deletes the only use of one.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import engine

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOKS = ROOT / "playbooks"
# Not resolved: in a virtualenv, python is a symlink and the tools sit beside the link.
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")

FEATURES = (
    "metadata.name",
    "metadata.version",
    "metadata.description",
    "metadata.owner",
    "metadata.segments",
    "metadata.stage",
    "entry.when",
    "entry.event",
    "entry.at per segment",
    "exit",
    "goal",
    "reentry.never",
    "reentry.cooldown",
    "reentry.always",
    "priority",
    "suppresses",
    "roles: a declared role is used",
    "step.wait.for",
    "step.wait.until",
    "step.wait_for with on_met and on_timeout",
    "step.branch",
    "step.email",
    "step.task with due and priority",
    "step.notify",
    "step.webhook",
    "step.start_playbook",
    "step.escalate",
    "step.goto back to a wait with for",
    "step.end with outcome",
    "step.if",
    "step.on_failure escalate",
    "escalation with 3+ tiers",
    "escalation.ack_sla",
    "escalation tier when",
    "escalation.recovery with for",
    "condition.all",
    "condition.any",
    "condition.not",
    "condition.field health.score",
    "condition.field health.tier",
    "condition.field health.trend",
    "condition.field health.components",
    "condition.field account attribute",
    "condition.field days_since_enrollment",
    "condition.field days_to_renewal",
    "condition.change",
    "condition.count",
    "condition.cel",
)

TEMPLATE_VARIABLES = {
    "account.name",
    "account.renewal_date",
    "csm.name",
    "account.arr",
    "health.score",
    "health.tier",
    "recipient.name",
    "days_to_renewal",
}

MODELINES = {
    PLAYBOOKS: "# yaml-language-server: $schema=../schemas/playbook.schema.json",
    PLAYBOOKS
    / "templates": "# yaml-language-server: $schema=../../schemas/email-template.schema.json",
    PLAYBOOKS / "models": "# yaml-language-server: $schema=../../schemas/health-model.schema.json",
    PLAYBOOKS / "tests": "# yaml-language-server: $schema=../../schemas/playbook-test.schema.json",
    PLAYBOOKS
    / "policies": "# yaml-language-server: $schema=../../schemas/contact-policy.schema.json",
    PLAYBOOKS / "calendars": "# yaml-language-server: $schema=../../schemas/calendar.schema.json",
}


@pytest.fixture(scope="module")
def shipped() -> engine.PlaybookSet:
    return engine.load([PLAYBOOKS])


def _as_written(document: Any) -> dict[str, Any]:
    """A document as its author wrote it: YAML key names, defaults left out."""
    dumped: dict[str, Any] = document.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return dumped


def _mappings(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping in a dumped document, depth first; webhook bodies are free-form, skipped."""
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            if not (key == "body" and node.get("type") == "webhook"):
                yield from _mappings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _mappings(item)


def _steps(book: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in _mappings(book["steps"]) if "type" in m and "id" in m]


def _features(book: dict[str, Any]) -> set[str]:
    """The language features one playbook uses, named as in FEATURES."""
    found = {
        f"metadata.{key}"
        for key in ("name", "version", "description", "owner", "segments", "stage")
        if book.get(key)
    }
    entry = book["entry"]
    found |= {f"entry.{key}" for key in ("when", "event") if key in entry}
    if isinstance(entry.get("at"), dict) and len(entry["at"]) > 1:
        found.add("entry.at per segment")
    found |= {key for key in ("exit", "goal", "priority", "suppresses") if book.get(key)}
    if "reentry" in book:
        found.add(f"reentry.{book['reentry'].get('policy', 'never')}")

    steps = _steps(book)
    by_id = {step["id"]: step for step in steps}
    people: set[str] = set()
    for step in steps:
        kind = step["type"]
        people |= {step.get("assignee", ""), *step.get("to", []), *step.get("cc", [])}
        if kind == "wait":
            found.add("step.wait.for" if "for" in step else "step.wait.until")
        elif kind == "wait_for" and step.get("on_met") and step.get("on_timeout"):
            found.add("step.wait_for with on_met and on_timeout")
        elif kind == "task" and "due" in step and "priority" in step:
            found.add("step.task with due and priority")
        elif kind == "goto":
            target = by_id.get(step["step"], {})
            if target.get("type") == "wait" and "for" in target:
                found.add("step.goto back to a wait with for")
        elif kind == "end" and "outcome" in step:
            found.add("step.end with outcome")
        elif kind in ("branch", "email", "notify", "webhook", "start_playbook", "escalate"):
            found.add(f"step.{kind}")
        if "if" in step:
            found.add("step.if")
        if step.get("on_failure") == "escalate":
            found.add("step.on_failure escalate")

    ladder = book.get("escalation")
    if ladder:
        tiers = ladder["tiers"]
        people |= {role for tier in tiers for role in tier["notify"]}
        if len(tiers) >= 3:
            found.add("escalation with 3+ tiers")
        if any("ack_sla" in tier for tier in tiers):
            found.add("escalation.ack_sla")
        if any("when" in tier for tier in tiers):
            found.add("escalation tier when")
        if "for" in ladder.get("recovery", {}):
            found.add("escalation.recovery with for")
    if set(book.get("roles", {})) & people:
        found.add("roles: a declared role is used")

    for mapping in _mappings(book):
        found |= {f"condition.{key}" for key in ("all", "any", "not", "cel") if key in mapping}
        if "change" in mapping and "over" in mapping:
            found.add("condition.change")
        if isinstance(mapping.get("count"), dict) and "over" in mapping["count"]:
            found.add("condition.count")
        name = mapping.get("field")
        if not isinstance(name, str):
            continue
        if name.startswith("health.components."):
            found.add("condition.field health.components")
        elif name.startswith("account."):
            found.add("condition.field account attribute")
        else:
            found.add(f"condition.field {name}")
    return found


@pytest.fixture(scope="module")
def used_features(shipped: engine.PlaybookSet) -> dict[str, list[str]]:
    used: dict[str, list[str]] = {}
    for name, book in sorted(shipped.playbooks.items()):
        for feature in _features(_as_written(book)):
            used.setdefault(feature, []).append(name)
    return used


def test_validate_exits_0_and_prints_nothing_on_stdout() -> None:
    """`playbook validate playbooks` accepts the shipped set: exit 0, no problem lines."""
    result = subprocess.run(
        [sys.executable, "-m", "playbook_cli", "validate", "playbooks"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_the_set_holds_the_expected_documents(shipped: engine.PlaybookSet) -> None:
    """The set ships the eight playbooks, a health model and a template for every email."""
    assert sorted(shipped.playbooks) == [
        "adoption",
        "churn-prevention",
        "expansion",
        "onboarding",
        "onboarding-tech-touch",
        "qbr",
        "renewal",
    ]
    assert shipped.health_model is not None


@pytest.mark.parametrize("feature", FEATURES)
def test_every_language_feature_is_used(feature: str, used_features: dict[str, list[str]]) -> None:
    """Each language feature is used by at least one shipped playbook."""
    assert feature in used_features, f"no shipped playbook uses {feature!r} any more"


def test_coverage_walker_knows_every_feature_it_reports(
    used_features: dict[str, list[str]],
) -> None:
    """The coverage walker reports no feature name missing from FEATURES (catches typos)."""
    assert set(used_features) <= set(FEATURES)


def test_health_model_is_the_documented_default(shipped: engine.PlaybookSet) -> None:
    """The default health model has the three segments, seven components, four tiers and trend."""
    model = shipped.health_model
    assert model is not None
    assert model.segments == ["enterprise", "mid-market", "smb"]
    assert set(model.components) == {
        "usage",
        "engagement",
        "support",
        "nps",
        "billing",
        "relationship",
        "outcomes",
    }
    assert set(model.weights) == {"default", "enterprise", "smb"}
    assert model.weights["enterprise"]["relationship"] > model.weights["default"]["relationship"]
    assert model.weights["enterprise"]["outcomes"] > model.weights["default"]["outcomes"]
    assert model.weights["smb"]["usage"] > model.weights["default"]["usage"]
    assert [(t.name, t.min) for t in model.tiers] == [
        ("healthy", 80),
        ("good", 60),
        ("at-risk", 40),
        ("critical", 0),
    ]
    assert (model.trend.window, model.trend.threshold) == ("30d", 5)
    assert model.missing == "renormalize"


def test_templates_use_only_provided_variables_and_are_all_sent(
    shipped: engine.PlaybookSet,
) -> None:
    """Every template is sent by some playbook and uses only the variables the renderer gives."""
    sent: set[str] = set()
    for book in shipped.playbooks.values():
        written = _as_written(book)
        sent |= {step["template"] for step in _steps(written) if step["type"] == "email"}
        for tier in written.get("escalation", {}).get("tiers", []):
            sent |= {tier["template"]} if "template" in tier else set()
    assert sorted(shipped.templates) == sorted(sent)
    for name, template in shipped.templates.items():
        for part in (template.subject, template.text, template.html or ""):
            for expression in re.findall(r"\{\{(.*?)\}\}", part, flags=re.DOTALL):
                variable = expression.split("|")[0].strip()
                assert variable in TEMPLATE_VARIABLES, f"{name}: unknown variable {variable!r}"


@pytest.mark.parametrize(
    ("schema", "pattern"),
    [
        ("playbook.schema.json", "*.yaml"),
        ("email-template.schema.json", "templates/*.yaml"),
        ("health-model.schema.json", "models/*.yaml"),
        ("contact-policy.schema.json", "policies/*.yaml"),
        ("calendar.schema.json", "calendars/*.yaml"),
    ],
)
def test_check_jsonschema_accepts_the_shipped_files(schema: str, pattern: str) -> None:
    """check-jsonschema, as an editor or CI would run it, accepts every shipped file."""
    files = sorted(PLAYBOOKS.glob(pattern))
    assert files, f"no files match playbooks/{pattern}"
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--schemafile", str(ROOT / "schemas" / schema), *map(str, files)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "path",
    sorted(PLAYBOOKS.rglob("*.yaml")),
    ids=lambda p: str(p.relative_to(PLAYBOOKS)),
)
def test_every_shipped_file_starts_with_its_schema_modeline(path: Path) -> None:
    """Each shipped YAML file's first line points editors at the schema for its kind."""
    assert path.parent in MODELINES, f"{path} is in a folder with no known schema"
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    assert first_line == MODELINES[path.parent]


def test_qbr_cadence_loops_past_its_guarded_end(shipped: engine.PlaybookSet) -> None:
    """In the QBR plan, the end guarded by `if:` continues the loop when its guard fails."""
    nodes = shipped.plan("qbr").nodes
    assert nodes["moved-to-smb"].when is not None
    assert nodes["moved-to-smb"].next == "until-next-review"
    assert nodes["until-next-review"].type == "wait"
