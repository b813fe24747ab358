"""Loading a playbook set from files and directories, collecting every problem on the way.

A *set* is the documents under the paths a user names. References resolve within the set,
widened by the directory of each file named on its own, so ``playbook validate
playbooks/renewal.yaml`` still finds the templates and health model beside it; problems are
reported only for the files asked about. One bad file never hides the problems of another.

Only regular files are read, and at most :data:`MAX_FILE_BYTES` of them: a named pipe would
block the reader forever and ``/dev/zero`` behind a ``.yaml`` symlink would fill memory, so
both are refused with one line (``FILE_NOT_REGULAR``), as is a symlink loop
(``FILE_UNREADABLE``).
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from engine.language import _yaml
from engine.language._calendar import Calendar, CalendarPlan, compile_calendar
from engine.language._check_conditions import Context
from engine.language._check_tests import check_test
from engine.language._checks import (
    check_contact_policy,
    check_health_model,
    check_playbook,
    walk_steps,
)
from engine.language._compile import compile_health_model, compile_playbook, loops_without_wait
from engine.language._contact import ContactPolicy, compile_contact_policy
from engine.language._diagnose import Finding, findings_from, place
from engine.language._documents import Document, EmailTemplate, HealthModel, Playbook
from engine.language._errors import Code, Diagnostic, ValidationFailed
from engine.language._plan import ContactPolicyPlan, HealthModelPlan, Plan
from engine.language._templates import check_template
from engine.language._tests import PlaybookTest
from engine.language._yaml import Positions, YamlProblem

MAX_FILE_BYTES = 1_000_000
YAML_SUFFIXES = (".yaml", ".yml")
# A file named alone sees its siblings and one level of subfolders (templates/, models/):
# enough for a playbook's set, without scanning a home directory.
_CONTEXT_DEPTH = 1
_DOCUMENT: TypeAdapter[Any] = TypeAdapter(Document)


@dataclass
class Source:
    """One file of a set: where it is, what it holds, and whether the user asked about it."""

    path: str
    requested: bool
    positions: Positions = field(default_factory=Positions)
    document: Playbook | HealthModel | EmailTemplate | PlaybookTest | Calendar | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass(frozen=True)
class PlaybookSet:
    """A validated set of documents, ready to compile."""

    playbooks: dict[str, Playbook]
    templates: dict[str, EmailTemplate]
    health_model: HealthModel | None
    paths: dict[str, str]
    """The file each playbook came from, by name."""
    tests: dict[str, PlaybookTest] = field(default_factory=dict)
    """The PlaybookTests asked about, by name."""
    test_sources: dict[str, tuple[str, Positions]] = field(default_factory=dict)
    """Each test's file and the positions of its values, for failures that point at a line."""
    contact_policy: ContactPolicy | None = None
    """The set's caps on contacting customers, when it has one."""
    calendars: dict[str, Calendar] = field(default_factory=dict)
    """The set's calendars, by name: every plan carries them all compiled."""

    @functools.cached_property
    def calendar_plans(self) -> dict[str, CalendarPlan]:
        """The set's calendars compiled once (expanding holidays takes a while)."""
        return {name: compile_calendar(c) for name, c in sorted(self.calendars.items())}

    def plan(self, name: str) -> Plan:
        """The compiled plan of the playbook ``name``."""
        return compile_playbook(
            self.playbooks[name], self.templates, self.paths.get(name), self.calendar_plans
        )

    def plans(self) -> list[Plan]:
        """Every playbook's plan, by name."""
        return [self.plan(name) for name in sorted(self.playbooks)]

    def health_plan(self) -> HealthModelPlan | None:
        """The compiled health model, when the set has one."""
        if self.health_model is None:
            return None
        return compile_health_model(self.health_model, self.paths.get("#health"))

    def contact_plan(self) -> ContactPolicyPlan | None:
        """The compiled contact policy, when the set has one."""
        if self.contact_policy is None:
            return None
        return compile_contact_policy(self.contact_policy)


def check(paths: Sequence[str | Path]) -> tuple[PlaybookSet, list[Diagnostic]]:
    """Load and validate ``paths``; every problem is returned, none raised."""
    sources, diagnostics = _discover([str(p) for p in paths])
    for source in sources:
        _parse(source)
    valid = [s for s in sources if s.document is not None]
    ctx = _context(valid)
    documents = {s.document.name: s.document for s in valid if isinstance(s.document, Playbook)}
    for source in valid:
        if source.requested:
            source.diagnostics += _check_document(source, ctx, documents)
    diagnostics += _duplicates([s for s in valid if s.requested])
    diagnostics += _calendar_overlaps([s for s in valid if s.requested])
    for source in sources:
        if source.requested:
            diagnostics += source.diagnostics
    requested = [s for s in valid if s.requested and not s.diagnostics]
    books = {s.document.name: s for s in requested if isinstance(s.document, Playbook)}
    tests = {
        s.document.name: (s.document, s) for s in requested if isinstance(s.document, PlaybookTest)
    }
    health = next((s for s in requested if isinstance(s.document, HealthModel)), None)
    result = PlaybookSet(
        playbooks={n: s.document for n, s in books.items()},  # type: ignore[misc]
        templates={
            s.document.name: s.document for s in valid if isinstance(s.document, EmailTemplate)
        },
        health_model=ctx.health,
        paths={n: s.path for n, s in books.items()} | ({"#health": health.path} if health else {}),
        tests={n: test for n, (test, _) in tests.items()},
        test_sources={n: (s.path, s.positions) for n, (_, s) in tests.items()},
        contact_policy=_contact_policy(valid),
        calendars={s.document.name: s.document for s in valid if isinstance(s.document, Calendar)},
    )
    return result, sorted(diagnostics)


def _contact_policy(valid: list[Source]) -> ContactPolicy | None:
    """The set's contact policy: one named on the command line, else one beside it."""
    for source in sorted(valid, key=lambda s: not s.requested):
        if isinstance(source.document, ContactPolicy):
            return source.document
    return None


def load(paths: Sequence[str | Path]) -> PlaybookSet:
    """Load and validate ``paths``; raise :class:`ValidationFailed` listing every problem."""
    result, diagnostics = check(paths)
    if diagnostics:
        raise ValidationFailed(diagnostics)
    return result


def _discover(args: list[str]) -> tuple[list[Source], list[Diagnostic]]:
    # Keyed by resolved path, so a file named twice, or named and found in a directory,
    # is read once.
    sources: dict[Path, Source] = {}
    diagnostics: list[Diagnostic] = []
    context_dirs: list[Path] = []
    for arg in args:
        path = Path(arg)
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            # A regular file that cannot be read is reported when it is read, not here.
            why = "no such file or directory" if exc.errno == errno.ENOENT else _why(exc)
            diagnostics.append(_file_problem(arg, Code.FILE_UNREADABLE, why, 0))
            continue
        if stat.S_ISDIR(mode):
            files = list(_yaml_files(path))
            for file in files:
                sources.setdefault(_key(file), Source(str(file), True)).requested = True
            if not files:
                diagnostics.append(
                    _file_problem(
                        arg, Code.NO_PLAYBOOKS, "no playbook files (*.yaml, *.yml) here", 0
                    )
                )
        else:
            # Anything else is read as a file; _read refuses what is not a regular one.
            sources.setdefault(_key(path), Source(arg, True)).requested = True
            context_dirs.append(path.parent)
    for directory in dict.fromkeys(context_dirs):
        for file in _yaml_files(directory, depth=_CONTEXT_DEPTH):
            sources.setdefault(_key(file), Source(str(file), False))
    return list(sources.values()), diagnostics


def _key(path: Path) -> Path:
    """The resolved path, or the absolute one when it does not resolve (a symlink loop)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: Python 3.11's word for a symlink loop
        return path.absolute()


def _why(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "cannot read: a symlink loop (too many levels of symbolic links)"
    return f"cannot read: {exc.strerror or exc}"


def _yaml_files(directory: Path, depth: int | None = None) -> Iterable[Path]:
    """YAML files under ``directory``, hidden ones skipped, at most ``depth`` levels down."""
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        level = len(Path(root).relative_to(directory).parts)
        dirs[:] = (
            []
            if depth is not None and level >= depth
            else [d for d in dirs if not d.startswith(".")]
        )
        found += [
            Path(root, f) for f in files if f.endswith(YAML_SUFFIXES) and not f.startswith(".")
        ]
    return sorted(found)


def _file_problem(path: str, code: Code, message: str, line: int = 1) -> Diagnostic:
    return Diagnostic(path, line, 1 if line else 0, (), message, code)


def _parse(source: Source) -> None:
    text = _read(source)
    if text is None:
        return
    try:
        data, source.positions = _yaml.load(text)
    except YamlProblem as problem:
        source.diagnostics.append(
            Diagnostic(
                source.path,
                problem.line,
                problem.column,
                problem.loc,
                problem.message,
                problem.code,
            )
        )
        return
    if data is None:
        source.diagnostics.append(
            _file_problem(source.path, Code.FILE_EMPTY, "the file holds no document")
        )
        return
    if not isinstance(data, dict):
        source.diagnostics.append(
            _file_problem(
                source.path,
                Code.DOC_KIND,
                "expected a mapping with 'kind: Playbook', 'kind: HealthModel',"
                " 'kind: EmailTemplate', 'kind: ContactPolicy', 'kind: Calendar' or"
                " 'kind: PlaybookTest'",
            )
        )
        return
    try:
        source.document = _DOCUMENT.validate_python(data)
    except ValidationError as error:
        findings = findings_from(error, data, Document)
        source.diagnostics += [place(source.path, f, source.positions) for f in findings]


def _read(source: Source) -> str | None:
    try:
        raw = _read_bytes(source.path)
    except _NotReadable as problem:
        source.diagnostics.append(_file_problem(source.path, problem.code, problem.message))
        return None
    # The first byte that is not text: a NUL, or one that is not UTF-8, whichever comes first.
    bad = raw.find(b"\x00")
    bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0  # utf-8-sig counts after it
    text = ""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = exc.start + bom if bad < 0 else min(bad, exc.start + bom)
    if bad >= 0:
        start = max(raw.rfind(b"\n", 0, bad) + 1, bom)
        source.diagnostics.append(
            Diagnostic(
                source.path,
                raw.count(b"\n", 0, bad) + 1,
                len(raw[start:bad].decode("utf-8", "replace")) + 1,
                (),
                f"not a UTF-8 text file (byte {bad + 1} cannot be read as text)",
                Code.FILE_BINARY,
            )
        )
        return None
    return text


class _NotReadable(Exception):
    def __init__(self, code: Code, message: str) -> None:
        self.code, self.message = code, message


_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def _read_bytes(path: str) -> bytes:
    """The bytes of the regular file at ``path``, never more than the size limit allows.

    Opened without blocking, so a named pipe is refused rather than waited on, and judged by
    the open file itself, not by a name that could change in between. The size is checked
    before and while reading: a file may grow, and some report a size of 0.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _NotReadable(Code.FILE_UNREADABLE, _why(exc)) from None
    with os.fdopen(fd, "rb") as file:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                kind = next((k for test, k in _KINDS if test(info.st_mode)), "not a file")
                raise _NotReadable(
                    Code.FILE_NOT_REGULAR,
                    f"{kind}, not a regular file; playbooks are read from plain files only",
                )
            raw = file.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise _NotReadable(Code.FILE_UNREADABLE, _why(exc)) from None
    if info.st_size > MAX_FILE_BYTES:
        raise _NotReadable(
            Code.FILE_TOO_LARGE,
            f"file is {info.st_size:,} bytes; a playbook file may hold at most {MAX_FILE_BYTES:,}",
        )
    if len(raw) > MAX_FILE_BYTES:
        raise _NotReadable(
            Code.FILE_TOO_LARGE,
            f"file holds over {MAX_FILE_BYTES:,} bytes, the most a playbook file may hold",
        )
    return raw


def _context(valid: list[Source]) -> Context:
    models = [s.document for s in valid if isinstance(s.document, HealthModel)]
    requested_model = next(
        (s.document for s in valid if s.requested and isinstance(s.document, HealthModel)), None
    )
    beside = [s.path for s in valid if isinstance(s.document, HealthModel)]
    return Context(
        playbooks={s.document.name for s in valid if isinstance(s.document, Playbook)},
        templates={s.document.name for s in valid if isinstance(s.document, EmailTemplate)},
        health=requested_model or (models[0] if models else None),
        ambiguous_health=beside if requested_model is None and len(beside) > 1 else [],
    )


def _check_document(source: Source, ctx: Context, books: dict[str, Playbook]) -> list[Diagnostic]:
    doc = source.document
    findings: list[Finding] = []
    if isinstance(doc, PlaybookTest):
        findings = check_test(doc, ctx, books)
    elif isinstance(doc, Playbook):
        findings = check_playbook(doc, ctx)
        if not any(f.code is Code.STEP_ID_DUPLICATE or f.code is Code.REF_STEP for f in findings):
            locs = {step.id: loc for loc, step in walk_steps(doc.steps, ("steps",))}
            findings += [
                Finding(
                    (*locs[goto], "step"),
                    Code.LOOP_WITHOUT_WAIT,
                    "this jump closes a loop with no 'wait' step with 'for' in it;"
                    " it would run forever without pause",
                )
                for goto in loops_without_wait(doc.steps)
            ]
        if ctx.health is None:
            findings.append(
                Finding(
                    ("kind",),
                    Code.HEALTH_MODEL_MISSING,
                    "no HealthModel in this set: add one beside the playbooks"
                    " (see playbooks/models/health.yaml)",
                )
            )
        elif ctx.ambiguous_health:
            findings.append(
                Finding(
                    ("kind",),
                    Code.HEALTH_MODEL_DUPLICATE,
                    "several HealthModels beside this file"
                    f" ({', '.join(ctx.ambiguous_health)}); keep one, or name it on the"
                    " command line",
                )
            )
    elif isinstance(doc, HealthModel):
        findings = check_health_model(doc)
    elif isinstance(doc, ContactPolicy):
        findings = check_contact_policy(doc, books)
    elif isinstance(doc, EmailTemplate):
        findings = check_template(doc)
    elif isinstance(doc, Calendar) and ctx.health is not None:
        known = ctx.health.segments
        findings = [
            Finding(
                ("segments", i),
                Code.REF_SEGMENT,
                f"unknown segment {name!r}; the health model has {', '.join(known)}",
            )
            for i, name in enumerate(doc.segments)
            if name not in known
        ]
    return [place(source.path, f, source.positions) for f in findings]


_ONE_PER_SET = {"HealthModel": Code.HEALTH_MODEL_DUPLICATE, "ContactPolicy": Code.NAME_DUPLICATE}
"""Kinds a set has at most one of, and the code of a second."""


def _calendar_overlaps(requested: list[Source]) -> list[Diagnostic]:
    """A set has one default calendar at most, and a segment is served by one at most."""
    out: list[Diagnostic] = []
    default: str | None = None
    serves: dict[str, str] = {}
    for source in requested:
        doc = source.document
        if not isinstance(doc, Calendar):
            continue
        if doc.default and default is not None:
            message = f"calendar {default!r} is the set's default already; keep one"
            finding = Finding(("default",), Code.CALENDAR_INVALID, message)
            out.append(place(source.path, finding, source.positions))
        elif doc.default:
            default = doc.name
        for i, segment in enumerate(doc.segments):
            if segment in serves and serves[segment] != doc.name:
                message = f"segment {segment!r} is served by calendar {serves[segment]!r} already"
                finding = Finding(("segments", i), Code.CALENDAR_INVALID, message)
                out.append(place(source.path, finding, source.positions))
            serves.setdefault(segment, doc.name)
    return out


def _duplicates(requested: list[Source]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: dict[tuple[str, str], str] = {}
    for source in requested:
        doc = source.document
        assert doc is not None
        key = (doc.kind, "" if doc.kind in _ONE_PER_SET else doc.name)
        if key in seen:
            code, message = (
                (
                    _ONE_PER_SET[doc.kind],
                    f"a set has one {doc.kind}; another is in {seen[key]}",
                )
                if doc.kind in _ONE_PER_SET
                else (
                    Code.NAME_DUPLICATE,
                    f"{doc.kind} {doc.name!r} is also defined in {seen[key]}",
                )
            )
            out.append(place(source.path, Finding(("name",), code, message), source.positions))
        seen.setdefault(key, source.path)
    return out
