"""A YAML reader that remembers where every value came from.

Playbook errors must name a line and column, so this module builds plain Python values from
PyYAML's node tree (libyaml when available, for speed) and records the position of every key
and value by its path. It also fixes what YAML 1.1 gets wrong for people who write config by
hand: only ``true``/``false`` are booleans (``no``, ``on``, ``yes`` stay text, the "Norway
problem"), mapping keys are always text, duplicate keys are errors rather than silently
overwritten, and dates stay text until a model asks for a date.

It also bounds what a playbook can hold, so that nothing it accepts breaks later: whole
numbers fit in 64 bits (what Temporal, PostgreSQL and JSON readers elsewhere can store),
other numbers are finite, and nesting stops at 64 levels even where the parser would recurse.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from engine.language._errors import Code, Loc

_PLAIN = "tag:playbook-engine,2026:plain"
_STD = "tag:yaml.org,2002:"
_TAGS = frozenset(_STD + kind for kind in ("str", "int", "float", "bool", "null", "seq", "map"))
"""The only explicit tags accepted; ``!!python/object`` and friends are refused."""
_MAX_NODES = 200_000
_MAX_DEPTH = 64
MAX_INT = 2**63 - 1
MIN_INT = -(2**63)
# More digits than this cannot fit in 64 bits whatever they are; checked before int(), which
# refuses (ValueError) past 4,300 digits and is slow long before that.
_MAX_DIGITS = 25

# YAML 1.2 core schema, applied to plain (unquoted) scalars only.
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")


class _Resolver(BaseResolver):
    """Marks plain scalars so that we, not YAML 1.1, decide what they mean."""

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode and implicit[0]:
            return _PLAIN
        return str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]


class _PureLoader(Reader, Scanner, Parser, Composer, _Resolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Resolver.__init__(self)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        # PyYAML's composer recurses once per level: a 2 kB line of "- - - ..." would end in
        # RecursionError. Stop where the builder would (libyaml stops itself at 1,000 levels
        # and its failure brings the file here).
        self._depth += 1
        try:
            if self._depth > _MAX_DEPTH + 1:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _too_deep(mark.line + 1, mark.column + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# libyaml parses several times faster, so valid files go through it. Its error messages are
# terser than PyYAML's, so a file that fails is parsed again by the pure-Python parser,
# whose messages _syntax_problem knows how to put in an author's words.
_CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)
_FastLoader: Any = _PureLoader
if _CParser is not None:

    class _CLoader(_CParser, _Resolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _Resolver.__init__(self)

    _FastLoader = _CLoader


@dataclass
class YamlProblem(Exception):
    """A document that cannot become data; positions are 1-based."""

    code: Code
    message: str
    line: int
    column: int
    loc: Loc = ()


@dataclass
class Positions:
    """Where each value (and each mapping key) of a document sits, by path; 1-based."""

    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    styles: dict[Loc, str] = field(default_factory=dict)
    """How each scalar that is not plain was written: a quote character, | or >."""
    blocks: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    """For each | or > scalar, the line its content starts on and the content's indentation
    (spaces), so a position inside the text (a Jinja error) maps back to the file."""

    def of_value(self, loc: Loc) -> tuple[int, int]:
        """Position of the value at ``loc``, or of its nearest known ancestor."""
        for end in range(len(loc), -1, -1):
            pos = self.values.get(loc[:end])
            if pos:
                return pos
        return (1, 1)

    def of_key(self, loc: Loc) -> tuple[int, int]:
        """Position of the key that introduces ``loc``, falling back to its value."""
        return self.keys.get(loc) or self.of_value(loc)


def load(text: str) -> tuple[Any, Positions]:
    """Parse one YAML document into plain values and their positions.

    Raises :class:`YamlProblem` for syntax errors, duplicate keys, unsupported tags and
    documents too large or too deeply nested to be a playbook.
    """
    try:
        node = _compose(_FastLoader, text)
    except yaml.YAMLError:
        try:
            node = _compose(_PureLoader, text)
        except yaml.MarkedYAMLError as exc:
            raise _syntax_problem(exc) from None
        except yaml.YAMLError as exc:  # pragma: no cover - PyYAML errors are always marked
            raise YamlProblem(Code.YAML_SYNTAX, str(exc).splitlines()[0], 1, 1) from None
    positions = Positions()
    if node is None:
        return None, positions
    data = _Builder(positions).build(node, (), 0)
    _measure_blocks(text, positions)
    return data, positions


def _measure_blocks(text: str, positions: Positions) -> None:
    """Record where the content of each block scalar starts and how far it is indented.

    The node's position is its ``|`` or ``>`` indicator; the content starts on the next line,
    indented as its first non-blank line (an explicit indentation digit, which almost nobody
    writes, would make columns of lines indented deeper than that off by the difference).
    """
    lines = text.splitlines()
    for loc, style in positions.styles.items():
        if style not in ("|", ">"):
            continue
        line = positions.values[loc][0]
        indent = next(
            (len(s) - len(s.lstrip(" ")) for s in lines[line:] if s.strip()),
            0,
        )
        positions.blocks[loc] = (line + 1, indent)


def _compose(loader_class: Any, text: str) -> Node | None:
    loader = loader_class(text)
    try:
        node: Node | None = loader.get_single_node()
        return node
    finally:
        loader.dispose()


def _syntax_problem(exc: yaml.MarkedYAMLError) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or exc.context or "invalid YAML"
    if "\\t" in problem or "tab" in problem:
        return YamlProblem(
            Code.YAML_TAB, "tab character in indentation; indent with spaces", line, column
        )
    if "expected a single document" in str(exc):
        return YamlProblem(
            Code.YAML_MULTIPLE_DOCUMENTS,
            "more than one YAML document in this file; put each playbook in its own file",
            line,
            column,
        )
    start = exc.context_mark
    opened = ""
    if start and mark and (start.line, start.column) != (mark.line, mark.column):
        opened = f" opened at line {start.line + 1}, column {start.column + 1}"
    what = _CONTEXTS.get(exc.context or "")
    misplaced = re.fullmatch(r"expected <block end>, but found (.+)", problem)
    if misplaced and what and opened:
        return YamlProblem(
            Code.YAML_SYNTAX,
            f"YAML syntax error: {_words(misplaced.group(1))} does not line up with {what}"
            f"{opened}; check the indentation",
            line,
            column,
        )
    context = ""
    if exc.context and exc.problem:
        if what:
            context = f" in {what}{opened},"
        else:
            context = f" {exc.context}" + (f" ({opened.strip()})" if opened else "") + ","
    return YamlProblem(
        Code.YAML_SYNTAX, f"YAML syntax error:{context} {_words(problem)}", line, column
    )


# PyYAML names its parser states and tokens; authors read lists, mappings, keys and values.
_CONTEXTS = {
    "while parsing a block collection": "the list",
    "while parsing a block mapping": "the mapping",
    "while parsing a flow sequence": "the [...] list",
    "while parsing a flow mapping": "the {...} mapping",
    "while scanning a quoted scalar": "the quoted text",
}
_TOKENS = {
    "'<block mapping start>'": "a key",
    "'?'": "a key",
    "'<block sequence start>'": "a list",
    "'-'": "a list item",
    "'<scalar>'": "a value",
    "'<stream end>'": "the end of the file",
    "unexpected end of stream": "the end of the file",
    "but got": "but found",
    "mapping values are not allowed here": (
        "unexpected ':' (quote a value that contains ': ', or check the indentation)"
    ),
}


def _too_deep(line: int, column: int) -> YamlProblem:
    # No field path: at this depth it would be longer than the line it explains.
    return YamlProblem(
        Code.YAML_TOO_COMPLEX,
        f"nested over {_MAX_DEPTH} levels deep; a playbook is far shallower",
        line,
        column,
    )


def _words(problem: str) -> str:
    for token, words in _TOKENS.items():
        problem = problem.replace(token, words)
    return problem


class _Builder:
    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self.count = 0
        self.active: set[int] = set()

    def build(self, node: Node, loc: Loc, depth: int) -> Any:
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        self.positions.values.setdefault(loc, (line, column))
        self.count += 1
        if self.count > _MAX_NODES:
            # Deep inside an alias expansion the node's own position is some anchor far
            # away; the top-level key being read is where the author should look.
            tline, tcol = self.positions.keys.get(loc[:1], (line, column))
            raise YamlProblem(
                Code.YAML_TOO_COMPLEX,
                f"document too large: over {_MAX_NODES:,} values, counting every use of an"
                " alias; a playbook is far smaller",
                tline,
                tcol,
                loc[:1],
            )
        if depth > _MAX_DEPTH:
            raise _too_deep(line, column)
        if id(node) in self.active:
            # The node's position is its anchor; the alias sits at the key that holds it.
            kline, kcol = self.positions.keys.get(loc, (line, column))
            raise YamlProblem(
                Code.YAML_TOO_COMPLEX,
                f"an alias refers to a value that contains it (anchored at line {line},"
                f" column {column})",
                kline,
                kcol,
                loc,
            )
        tag = node.tag
        if tag != _PLAIN and tag not in _TAGS:
            shown = "!!" + tag[len(_STD) :] if tag.startswith(_STD) else tag
            raise YamlProblem(Code.YAML_TAG, f"unsupported YAML tag {shown!r}", line, column, loc)
        if isinstance(node, ScalarNode):
            if node.style:
                self.positions.styles[loc] = node.style
            return _scalar(node, line, column, loc)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, (*loc, i), depth + 1) for i, item in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            return self._mapping(node, loc, depth)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: MappingNode, loc: Loc, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            kline, kcol = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if not isinstance(key_node, ScalarNode):
                raise YamlProblem(
                    Code.FIELD_TYPE, "a mapping key must be plain text", kline, kcol, loc
                )
            key = str(key_node.value)
            if key == "<<":
                raise YamlProblem(
                    Code.YAML_TAG, "merge keys (<<) are not supported", kline, kcol, loc
                )
            if key in out:
                first = self.positions.keys[(*loc, key)]
                raise YamlProblem(
                    Code.YAML_DUPLICATE_KEY,
                    f"duplicate key {key!r} (first defined at line {first[0]})",
                    kline,
                    kcol,
                    (*loc, key),
                )
            self.positions.keys[(*loc, key)] = (kline, kcol)
            out[key] = self.build(value_node, (*loc, key), depth + 1)
        return out


def _scalar(node: ScalarNode, line: int, column: int, loc: Loc) -> Any:
    value: str = node.value
    tag = node.tag
    if tag == _PLAIN:
        return _plain(value, line, column, loc)
    kind = tag[len(_STD) :]
    if kind == "str":
        return value
    try:
        if kind == "int":
            return _int(value.strip(), line, column, loc)
        if kind == "float":
            return _finite(float(value), value, line, column, loc)
        if kind == "bool" and value in _BOOL:
            return _BOOL[value]
        if kind == "null":
            return None
    except ValueError:
        pass
    raise YamlProblem(Code.YAML_TAG, f"{value!r} is not a valid !!{kind}", line, column, loc)


def _plain(value: str, line: int, column: int, loc: Loc) -> Any:
    if _NULL.match(value):
        return None
    if value in _BOOL:
        return _BOOL[value]
    if _INT.match(value) or _OCT.match(value) or _HEX.match(value):
        return _int(value, line, column, loc)
    if _FLOAT.match(value):
        return _finite(float(value), value, line, column, loc)
    if _INF.match(value) or _NAN.match(value):
        return _finite(math.nan, value, line, column, loc)
    return value


def _int(value: str, line: int, column: int, loc: Loc) -> int:
    """A whole number in 64-bit range; YAML 1.2 ``0o`` and ``0x`` forms included."""
    sign = value[:1] if value[:1] in ("+", "-") else ""
    digits = value[len(sign) :]
    base = 8 if digits.startswith("0o") else 16 if digits.startswith("0x") else 10
    digits = digits[2:] if base != 10 else digits
    if len(digits.lstrip("0")) <= _MAX_DIGITS:
        number = int(digits, base) * (-1 if sign == "-" else 1)
        if MIN_INT <= number <= MAX_INT:
            return number
    raise YamlProblem(
        Code.NUMBER_OUT_OF_RANGE,
        f"{_shown(value)} is out of range: a whole number must lie between {MIN_INT} and {MAX_INT}",
        line,
        column,
        loc,
    )


def _finite(number: float, text: str, line: int, column: int, loc: Loc) -> float:
    """``number`` unless it is infinite or NaN, which no comparison, JSON or store keeps."""
    if math.isfinite(number):
        return number
    raise YamlProblem(
        Code.NUMBER_OUT_OF_RANGE,
        f"{_shown(text)} is not a finite number: write one between -1.7e308 and 1.7e308"
        " (.inf and .nan are refused)",
        line,
        column,
        loc,
    )


def _shown(text: str) -> str:
    if len(text) <= 30:
        return text
    return f"a {sum(c.isdigit() for c in text):,}-digit number ({text[:12]}...)"
