"""Who a role is for one account: the people directory and the account's attributes.

Playbooks name people by role (``csm``, ``manager``, ``executive``, ``customer``, ``owner``
and roles a playbook declares), never by address, so one playbook serves every account. The
activities resolve roles when they act, from the account's attributes (``csm`` or ``owner``,
``manager``, ``executive`` or ``executive_sponsor``, ``contact_email`` with ``contact_name``)
and a directory file
of people with their chat handles and manager chain, so the ladder engages the CSM's own
manager and that manager's executive when the account names neither.

The directory is YAML (``PLAYBOOK_DIRECTORY``)::

    people:
      dana@example.com: {name: Dana Scully, chat: "@dana", manager: fox@example.com}
      fox@example.com: {name: Fox Mulder, chat: "@fox", manager: walter@example.com}
      walter@example.com: {name: Walter Skinner}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.language._fields import named_by


class Person(BaseModel):
    """Someone a journey can reach."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str
    name: str | None = None
    chat: str | None = None
    """A chat handle, e.g. @dana, mentioned when a tier engages this person by chat."""
    manager: str | None = None
    """The email of this person's manager: the next rung of the ladder."""

    @property
    def display(self) -> str:
        return self.name or self.email


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    chat: str | None = None
    manager: str | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    people: dict[str, _Entry] = Field(default_factory=dict)


class DirectoryError(ValueError):
    """The directory file cannot be used; the message is one line naming the file."""


# Account attributes that may name each built-in role, first match wins.


class Directory:
    """The people the engine knows, by email."""

    def __init__(self, people: Mapping[str, Person] | None = None) -> None:
        self._people = dict(people or {})

    @classmethod
    def load(cls, path: Path | None) -> Directory:
        """Read ``path``; no path means an empty directory (attributes alone name people)."""
        if path is None:
            return cls()
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            parsed = _File.model_validate(raw)
        except OSError as error:
            raise DirectoryError(
                f"{path}: cannot read the people directory: {error.strerror}"
            ) from None
        except yaml.YAMLError as error:
            raise DirectoryError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from None
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise DirectoryError(f"{path}: {where}: {first['msg']}") from None
        return cls(
            {
                email: Person(email=email, **entry.model_dump())
                for email, entry in parsed.people.items()
            }
        )

    @classmethod
    def from_environment(cls) -> Directory:
        value = os.environ.get("PLAYBOOK_DIRECTORY") or None
        return cls.load(Path(value) if value else None)

    def person(self, email: str) -> Person:
        return self._people.get(email) or Person(email=email)

    def resolve(
        self, role: str, account: Mapping[str, Any], playbook_owner: str | None = None
    ) -> list[Person]:
        """The people ``role`` means for this account; empty when nobody is named."""
        if role == "owner":
            return [self.person(playbook_owner)] if playbook_owner else []
        named = self._named(role, account)
        if named:
            people = [self.person(email) for email in named]
            contact = account.get("contact_name")
            if role == "customer" and isinstance(contact, str) and people[0].name is None:
                # The account names its main contact; the directory knows our people, not theirs.
                people[0] = people[0].model_copy(update={"name": contact})
            return people
        # Up the manager chain: the CSM's manager, then that manager's manager.
        below = {"manager": "csm", "executive": "manager"}.get(role)
        if below is None:
            return []
        managers = [p.manager for p in self.resolve(below, account) if p.manager]
        return [self.person(email) for email in dict.fromkeys(managers)]

    def _named(self, role: str, account: Mapping[str, Any]) -> list[str]:
        return named_by(role, dict(account))
