"""The lock files agree with pyproject.toml, so what is installed cannot drift from what is
declared: every dependency (runtime, dev tools, embedded servers) is pinned in
requirements/lock.txt within its range, with hashes, and the image's requirements/runtime.txt
is the runtime part of that same resolution. Regenerate both with `make lock`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"
RUNTIME = ROOT / "requirements" / "runtime.txt"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
_PIN = re.compile(r"^([A-Za-z0-9._-]+)(\[[^\]]*\])?==([^\s;\\]+)")


def _pins(path: Path) -> dict[str, Version]:
    """``name -> version`` for every ``name==version`` line; fails on a line pinned otherwise."""
    pins: dict[str, Version] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith((" ", "#", "\t")):
            continue
        found = _PIN.match(line)
        assert found, f"{path.name}: not an exact pin: {line}"
        pins[canonicalize_name(found.group(1))] = Version(found.group(3))
    return pins


def _declared(group: str | None) -> list[Requirement]:
    texts = (
        PYPROJECT["dependencies"] if group is None else PYPROJECT["optional-dependencies"][group]
    )
    return [Requirement(text) for text in texts]


GROUPS = [None, *PYPROJECT["optional-dependencies"]]


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g or "runtime")
def test_the_lock_pins_every_declared_dependency_within_its_range(group: str | None) -> None:
    pins = _pins(LOCK)
    for requirement in _declared(group):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in {LOCK.name}: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{LOCK.name} pins {name}=={pins[name]}, outside {requirement}: run `make lock`"
        )


def test_the_runtime_lock_is_the_runtime_part_of_the_lock() -> None:
    """Same versions as the whole lock, every runtime dependency, and no dev tool or server."""
    pins, runtime = _pins(LOCK), _pins(RUNTIME)
    for name, version in runtime.items():
        assert pins.get(name) == version, (
            f"{RUNTIME.name} pins {name}=={version}, lock {pins.get(name)}"
        )
    for requirement in _declared(None):
        assert canonicalize_name(requirement.name) in runtime, requirement
    for group in ("dev", "servers"):
        for requirement in _declared(group):
            assert canonicalize_name(requirement.name) not in runtime, (
                f"{requirement.name} ({group}) would be installed in the image"
            )


@pytest.mark.parametrize("path", [LOCK, RUNTIME], ids=lambda p: p.name)
def test_every_pin_carries_its_hashes(path: Path) -> None:
    """pip --require-hashes refuses a file where one pin has no hash: checked here first."""
    blocks = re.split(r"\n(?=[A-Za-z0-9])", path.read_text(encoding="utf-8"))
    for block in blocks:
        if block.startswith("#") or not block.strip():
            continue
        assert "--hash=sha256:" in block, f"{path.name}: no hash for {block.splitlines()[0]}"


def test_make_and_the_image_install_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"install .*--require-hashes -r \$\(LOCK\)", makefile)
    assert re.search(r"install .*--no-deps -e \.", makefile)
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"--require-hashes .*-r /src/requirements/runtime\.txt", dockerfile)
    assert re.search(r"pip install --no-deps /src(\s|$)", dockerfile)
