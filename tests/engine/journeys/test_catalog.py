"""The published catalog's hash: what the set means, not where its files were read from."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from engine import load
from engine.journeys._catalog import Catalog, build_catalog

SHIPPED = Path(__file__).parents[3] / "playbooks"


def catalog(path: Path | str) -> Catalog:
    book = load([path])
    health = book.health_plan()
    assert health is not None
    return build_catalog(book.plans(), health)


def test_the_same_set_from_two_directories_has_one_hash(tmp_path: Path) -> None:
    """A copy elsewhere, an absolute path or a relative one: one catalog hash."""
    shutil.copytree(SHIPPED, tmp_path / "copy")
    here = catalog(SHIPPED)
    there = catalog(tmp_path / "copy")
    relative = catalog(os.path.relpath(SHIPPED))
    assert here.hash == there.hash == relative.hash
    # The paths are still there for people, just not in the hash.
    assert here.health.source != there.health.source
    assert {p.source for p in here.plans.values()} != {p.source for p in there.plans.values()}


def test_an_edit_changes_the_catalog_hash(tmp_path: Path) -> None:
    """Changing what a playbook does still changes the catalog hash."""
    shutil.copytree(SHIPPED, tmp_path / "copy")
    before = catalog(tmp_path / "copy")
    onboarding = tmp_path / "copy" / "onboarding.yaml"
    onboarding.write_text(onboarding.read_text().replace("due: 2d", "due: 3d", 1))
    assert catalog(tmp_path / "copy").hash != before.hash
