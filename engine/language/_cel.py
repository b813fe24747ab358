"""Checks for CEL expressions, the escape hatch of the condition grammar.

The CEL library parses an expression and lists the variables and functions it uses; that is
enough to refuse, at validation time, a syntax error, a name the engine never provides, or a
function CEL does not have. Member names after ``health.`` and ``account.`` are checked against
the same catalogue the structured conditions use, so ``health.scroe`` fails before it ships.

Length and nesting are bounded before the library sees an expression: its parser gives up
past 96 levels with a message in Rust's words, and a long enough chain of operators crashes
the process (a segmentation fault, not an exception) in the parser or the evaluator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cel

CEL_VARIABLES = (
    "health",
    "account",
    "days_since_enrollment",
    "days_to_renewal",
    "days_since_start",
    "today",
)
_FUNCTIONS = frozenset(
    [
        "size",
        "has",
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "bool",
        "type",
        "dyn",
        "duration",
        "timestamp",
        "matches",
        "contains",
        "startsWith",
        "endsWith",
        "exists",
        "all",
        "exists_one",
        "map",
        "filter",
        "getDate",
        "getDayOfMonth",
        "getDayOfWeek",
        "getDayOfYear",
        "getFullYear",
        "getHours",
        "getMilliseconds",
        "getMinutes",
        "getMonth",
        "getSeconds",
        "max",
        "min",
        "abs",
        "lowerAscii",
        "upperAscii",
        "trim",
        "split",
        "join",
        "event_count",  # ours: engine.language._counts
    ]
)
_BOUND = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")
_POSITION = re.compile(r"<input>:(\d+):(\d+)")
_MEMBER = re.compile(r"\b(health|account)\.([A-Za-z_]\w*)(?:\.([A-Za-z_][\w-]*))?")
MAX_LENGTH = 2_000
MAX_NESTING = 32
_OPEN, _CLOSE = "([{", ")]}"


@dataclass(frozen=True)
class CelProblem:
    """A problem in an expression; ``line``/``column`` are 1-based within the expression."""

    kind: str  # "syntax", "name", "function", "member" or "limit"
    message: str
    line: int
    column: int
    name: str = ""


def check_expression(expression: str) -> list[CelProblem]:
    """Parse ``expression`` and report syntax errors and names the engine does not provide."""
    too_complex = _too_complex(expression)
    if too_complex:
        return [too_complex]
    try:
        program = cel.compile(expression)
    except (ValueError, RuntimeError) as exc:
        return [_syntax_problem(expression, str(exc))]
    problems: list[CelProblem] = []
    blanked = _STRING.sub(lambda m: " " * len(m.group()), expression)
    bound = set(_BOUND.findall(blanked))
    for name in program.variables():
        if name not in bound and name not in CEL_VARIABLES:
            line, column = _locate(blanked, name)
            problems.append(CelProblem("name", f"unknown name {name!r}", line, column, name))
    for name in program.functions():
        if name[:1].isalpha() and name not in _FUNCTIONS:
            line, column = _locate(blanked, name)
            problems.append(
                CelProblem("function", f"unknown function {name!r}", line, column, name)
            )
    return problems


def _too_complex(expression: str) -> CelProblem | None:
    """An expression longer or more deeply nested than a condition needs, or None."""
    if len(expression) > MAX_LENGTH:
        return CelProblem(
            "limit",
            f"CEL expression is {len(expression):,} characters long; at most {MAX_LENGTH:,}"
            " (split it into an all/any of conditions)",
            1,
            1,
        )
    blanked = _STRING.sub(lambda m: " " * len(m.group()), expression)
    depth = 0
    for offset, char in enumerate(blanked):
        if char in _OPEN:
            depth += 1
            if depth > MAX_NESTING:
                line = blanked.count("\n", 0, offset) + 1
                column = offset - (blanked.rfind("\n", 0, offset) + 1) + 1
                return CelProblem(
                    "limit",
                    f"CEL expression nested over {MAX_NESTING} brackets deep",
                    line,
                    column,
                )
        elif char in _CLOSE:
            depth = max(depth - 1, 0)
    return None


def members(expression: str) -> list[tuple[str, str, str | None, int, int]]:
    """The ``health.X`` and ``account.X[.Y]`` references, with their 1-based positions."""
    blanked = _STRING.sub(lambda m: " " * len(m.group()), expression)
    found = []
    for match in _MEMBER.finditer(blanked):
        line = blanked.count("\n", 0, match.start()) + 1
        column = match.start() - (blanked.rfind("\n", 0, match.start()) + 1) + 1
        found.append((match.group(1), match.group(2), match.group(3), line, column))
    return found


def _syntax_problem(expression: str, error: str) -> CelProblem:
    match = _POSITION.search(error)
    line, column = (int(match.group(1)), int(match.group(2))) if match else (1, 1)
    detail = error.split("\n")[0]
    detail = re.sub(r"^Failed to parse expression '.*?': ", "", detail, flags=re.DOTALL)
    detail = _POSITION.sub("", detail).replace("ERROR: ", "").strip(" :")
    # ANTLR lists every acceptable token; the first clause says enough.
    detail = re.sub(r" expecting \{.*$", "", detail)
    return CelProblem("syntax", f"CEL {detail[:1].lower()}{detail[1:]}", line, column)


def _locate(text: str, name: str) -> tuple[int, int]:
    match = re.search(rf"(?<![\w.]){re.escape(name)}\b", text) or re.search(
        rf"\b{re.escape(name)}\b", text
    )
    if not match:
        return 1, 1
    line = text.count("\n", 0, match.start()) + 1
    return line, match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
