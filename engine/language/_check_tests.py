"""Checks of a PlaybookTest against its set: every name it uses must mean something.

A test that expects an email from a template no tested playbook sends, a task for a role
nobody has, a step or escalation tier that does not exist, can never pass (or, under
``never``, never fail): it is refused like a playbook with a dangling reference, with the
position of the name.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.language._check_conditions import Context
from engine.language._checks import walk_steps
from engine.language._diagnose import Finding, suggest
from engine.language._documents import Playbook
from engine.language._errors import Code, Loc
from engine.language._fields import BUILTIN_ROLES
from engine.language._steps import ApprovalStep, EmailStep
from engine.language._tests import Expectation, PlaybookTest


def check_test(test: PlaybookTest, ctx: Context, books: dict[str, Playbook]) -> list[Finding]:
    """Every name in ``test`` that does not resolve in its set."""
    out: list[Finding] = []
    for i, name in enumerate(test.playbooks):
        out += _known(("playbooks", i), name, books, Code.REF_PLAYBOOK, "a playbook of the set")
    tested = [books[n] for n in (test.playbooks or sorted(books)) if n in books]
    if ctx.health is not None:
        segments = list(ctx.health.segments)
        if test.account.segment is not None and segments and test.account.segment not in segments:
            out += _unknown(("account", "segment"), test.account.segment, segments, "segment")
        for i, row in enumerate(test.timeline):
            for component in row.components:
                if component not in ctx.health.components:
                    out.append(
                        Finding(
                            ("timeline", i, "components", component),
                            Code.REF_COMPONENT,
                            f"no health component {component!r} in the health model",
                            suggest(component, ctx.health.components),
                            at_key=True,
                        )
                    )
    names = {b.name for b in tested}
    for i, row in enumerate(test.timeline):
        for key in ("exit", "playbook"):
            value = getattr(row, key)
            if value is not None:
                out += _known(
                    ("timeline", i, key), value, names, Code.REF_PLAYBOOK, "a tested playbook"
                )
    for i, row in enumerate(test.timeline):
        step = row.approve or row.reject
        book = books.get(row.playbook or "")
        if step is not None and book is not None and book.name in names:
            approvals = [s.id for _, s in walk_steps(book.steps, ()) if _answerable(s)]
            key = "approve" if row.approve else "reject"
            noun = f"an approval step or reviewed email of {book.name}"
            out += _known(("timeline", i, key), step, approvals, Code.REF_STEP, noun)
    for part in ("expect", "never"):
        for i, expectation in enumerate(getattr(test, part)):
            out += _expectation((part, i), expectation, tested)
    return out


def _expectation(loc: Loc, e: Expectation, tested: list[Playbook]) -> list[Finding]:
    out: list[Finding] = []
    names = {b.name for b in tested}
    for key in ("enrolled", "skipped", "goal", "exit", "ended", "playbook"):
        value = getattr(e, key)
        if value is not None:
            out += _known((*loc, key), value, names, Code.REF_PLAYBOOK, "a tested playbook")
    books = [b for b in tested if e.playbook is None or b.name == e.playbook]
    if e.email is not None:
        sent = _templates(books)
        out += _known(
            (*loc, "email"), e.email, sent, Code.REF_TEMPLATE, "a template the playbooks send"
        )
    roles = {*BUILTIN_ROLES, *(r for b in books for r in b.roles)}
    if e.to is not None and "@" not in e.to:
        out += _known((*loc, "to"), e.to, roles, Code.REF_ROLE, "a role (nor an address)")
    if e.task is not None and "@" not in e.task:
        out += _known((*loc, "task"), e.task, roles, Code.REF_ROLE, "a role (nor an address)")
    if e.escalated is not None:
        tiers = {t.id for b in books if b.escalation for t in b.escalation.tiers}
        out += _known(
            (*loc, "escalated"), e.escalated, tiers, Code.REF_ESCALATION_TIER, "a ladder's tier"
        )
    if e.step is not None:
        steps = {step.id for b in books for _, step in walk_steps(b.steps, ("steps",))}
        out += _known((*loc, "step"), e.step, steps, Code.REF_STEP, "a step of the playbooks")
    return out


def _answerable(step: object) -> bool:
    """A step a person answers: an approval, or an email that waits for review."""
    return isinstance(step, ApprovalStep) or (isinstance(step, EmailStep) and bool(step.review))


def _templates(books: Iterable[Playbook]) -> set[str]:
    """The templates the playbooks send: their email steps' and escalation tiers'."""
    found = set()
    for book in books:
        found |= {s.template for _, s in walk_steps(book.steps, ()) if isinstance(s, EmailStep)}
        if book.escalation:
            found |= {t.template for t in book.escalation.tiers if t.template}
    return found


def _known(loc: Loc, name: str, known: Iterable[str], code: Code, noun: str) -> list[Finding]:
    choices = sorted(known)
    if name in choices:
        return []
    return [Finding(loc, code, f"{name!r} is not {noun}", suggest(name, choices))]


def _unknown(loc: Loc, name: str, known: list[str], what: str) -> list[Finding]:
    return [
        Finding(
            loc,
            Code.REF_SEGMENT,
            f"no {what} {name!r} in the health model ({', '.join(known)})",
            suggest(name, known),
        )
    ]
