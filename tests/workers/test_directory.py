"""Roles resolve from account attributes first, then up the directory's manager chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.directory import Directory, DirectoryError

PEOPLE = """
people:
  dana@example.com: {name: Dana Scully, chat: "@dana", manager: fox@example.com}
  fox@example.com: {name: Fox Mulder, chat: "@fox", manager: walter@example.com}
  walter@example.com: {name: Walter Skinner}
"""


@pytest.fixture
def directory(tmp_path: Path) -> Directory:
    path = tmp_path / "people.yaml"
    path.write_text(PEOPLE)
    return Directory.load(path)


def emails(people: list[object]) -> list[str]:
    return [p.email for p in people]  # type: ignore[attr-defined]


def test_the_ladder_climbs_the_csms_manager_chain(directory: Directory) -> None:
    account = {"owner": "dana@example.com"}
    assert emails(directory.resolve("csm", account)) == ["dana@example.com"]
    assert emails(directory.resolve("manager", account)) == ["fox@example.com"]
    assert emails(directory.resolve("executive", account)) == ["walter@example.com"]
    assert directory.resolve("csm", account)[0].chat == "@dana"


def test_attributes_name_people_before_the_chain(directory: Directory) -> None:
    account = {"csm": "dana@example.com", "executive_sponsor": "ceo@example.com"}
    assert emails(directory.resolve("executive", account)) == ["ceo@example.com"]
    assert directory.resolve("executive", account)[0].display == "ceo@example.com"


def test_customer_contacts_owner_and_declared_roles(directory: Directory) -> None:
    account = {"contacts": ["a@acme.test", "b@acme.test"], "champion": "c@acme.test"}
    assert emails(directory.resolve("customer", account)) == ["a@acme.test", "b@acme.test"]
    assert emails(directory.resolve("champion", account)) == ["c@acme.test"]
    assert emails(directory.resolve("owner", account, "cs-ops@example.com")) == [
        "cs-ops@example.com"
    ]
    assert directory.resolve("manager", {}) == []


def test_a_bad_directory_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "people.yaml"
    path.write_text("people:\n  dana@example.com: {nmae: Dana}\n")
    with pytest.raises(DirectoryError, match=r"people.yaml: people.dana@example.com.nmae: "):
        Directory.load(path)
    with pytest.raises(DirectoryError, match="cannot read"):
        Directory.load(tmp_path / "missing.yaml")
