"""Errors users can cause, as data: a code list, one diagnostic type, one root exception.

Every problem a user can cause in a playbook set becomes a :class:`Diagnostic` with a stable
code from :class:`Code`; the CLI prints each as one line,
``path:line:col: field.path: message [CODE]``. The codes are a contract: `docs/errors.md`
documents each one and a test keeps the two in step.

Exception tree::

    PlaybookError                 root of everything the engine raises on purpose
    ├── ValidationFailed          a playbook set has diagnostics; ``.diagnostics`` lists them
    ├── SettingsError             a Temporal connection setting is wrong (engine.client._connect)
    └── TemporalUnreachable       Temporal did not answer or refused us (engine.client._connect)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    """Stable error codes; each member's docstring-like summary lives in docs/errors.md."""

    # files and YAML
    FILE_UNREADABLE = "FILE_UNREADABLE"
    FILE_EMPTY = "FILE_EMPTY"
    FILE_BINARY = "FILE_BINARY"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    FILE_NOT_REGULAR = "FILE_NOT_REGULAR"
    NO_PLAYBOOKS = "NO_PLAYBOOKS"
    YAML_SYNTAX = "YAML_SYNTAX"
    YAML_TAB = "YAML_TAB"
    YAML_DUPLICATE_KEY = "YAML_DUPLICATE_KEY"
    YAML_TAG = "YAML_TAG"
    YAML_TOO_COMPLEX = "YAML_TOO_COMPLEX"
    YAML_MULTIPLE_DOCUMENTS = "YAML_MULTIPLE_DOCUMENTS"
    NUMBER_OUT_OF_RANGE = "NUMBER_OUT_OF_RANGE"
    # shape of a document
    DOC_KIND = "DOC_KIND"
    FIELD_UNKNOWN = "FIELD_UNKNOWN"
    FIELD_MISSING = "FIELD_MISSING"
    FIELD_TYPE = "FIELD_TYPE"
    FIELD_VALUE = "FIELD_VALUE"
    STEP_TYPE_UNKNOWN = "STEP_TYPE_UNKNOWN"
    CONDITION_KIND = "CONDITION_KIND"
    CONDITION_OPERATOR = "CONDITION_OPERATOR"
    CONDITION_VALUE = "CONDITION_VALUE"
    DURATION_INVALID = "DURATION_INVALID"
    DATE_OFFSET_INVALID = "DATE_OFFSET_INVALID"
    FIELD_CONFLICT = "FIELD_CONFLICT"
    TIMEZONE_UNKNOWN = "TIMEZONE_UNKNOWN"
    SEND_WINDOW_INVALID = "SEND_WINDOW_INVALID"
    CALENDAR_INVALID = "CALENDAR_INVALID"
    # meaning across a document or a set
    STEP_ID_DUPLICATE = "STEP_ID_DUPLICATE"
    NAME_DUPLICATE = "NAME_DUPLICATE"
    REF_STEP = "REF_STEP"
    REF_PLAYBOOK = "REF_PLAYBOOK"
    REF_TEMPLATE = "REF_TEMPLATE"
    REF_ROLE = "REF_ROLE"
    REF_SEGMENT = "REF_SEGMENT"
    REF_COMPONENT = "REF_COMPONENT"
    REF_HEALTH_TIER = "REF_HEALTH_TIER"
    REF_ESCALATION_TIER = "REF_ESCALATION_TIER"
    REF_FIELD = "REF_FIELD"
    CEL_SYNTAX = "CEL_SYNTAX"
    CEL_NAME = "CEL_NAME"
    CEL_TOO_COMPLEX = "CEL_TOO_COMPLEX"
    TEMPLATE_SYNTAX = "TEMPLATE_SYNTAX"
    TEMPLATE_UNDEFINED = "TEMPLATE_UNDEFINED"
    TEMPLATE_UNSAFE = "TEMPLATE_UNSAFE"
    TEMPLATE_COST = "TEMPLATE_COST"
    LOOP_WITHOUT_WAIT = "LOOP_WITHOUT_WAIT"
    EXPERIMENT_SHARES = "EXPERIMENT_SHARES"
    LADDER_NEVER_STARTS = "LADDER_NEVER_STARTS"
    WEIGHTS_INVALID = "WEIGHTS_INVALID"
    TIERS_INVALID = "TIERS_INVALID"
    HEALTH_MODEL_DUPLICATE = "HEALTH_MODEL_DUPLICATE"
    HEALTH_MODEL_MISSING = "HEALTH_MODEL_MISSING"


Loc = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem, positioned: the file, 1-based line and column, and the field path."""

    path: str
    line: int
    column: int
    loc: Loc
    message: str
    code: Code
    hint: str | None = None

    @property
    def field(self) -> str:
        """The field path as users read it: ``steps[2].on_timeout[0].template``."""
        return format_loc(self.loc)

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}" if self.line else self.path
        field = f" {self.field}:" if self.loc else ""
        hint = f" ({self.hint})" if self.hint else ""
        line = f"{where}:{field} {self.message}{hint} [{self.code}]"
        # One problem, one line, whatever text it quotes from the file.
        return line.replace("\r", "\\r").replace("\n", "\\n")


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


class PlaybookError(Exception):
    """Root of every error the engine raises on purpose."""


class ValidationFailed(PlaybookError):
    """A playbook set did not validate; ``diagnostics`` holds every problem found."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics)
        first = str(self.diagnostics[0]) if self.diagnostics else "no diagnostics"
        more = len(self.diagnostics) - 1
        super().__init__(first + (f" (and {more} more)" if more > 0 else ""))
