"""From pydantic's structured errors to one-line diagnostics an author can act on.

pydantic reports ``type``, ``loc`` and ``msg``; this module removes union tags from ``loc`` so
it matches the YAML path, picks our error code, rewrites the message in the author's words
(``expected a number, got text 'high'``) and adds a "did you mean" hint from the model's own
field names or the union's tags. :func:`place` then turns a path into a line and column.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.language._errors import Code, Diagnostic, Loc
from engine.language._yaml import Positions


@dataclass(frozen=True)
class Finding:
    """A problem before it has a position: its path, code and words."""

    loc: Loc
    code: Code
    message: str
    hint: str | None = None
    at_key: bool = False
    offset: tuple[int, int] | None = None  # 1-based line/column inside a scalar value


def suggest(word: object, choices: typing.Iterable[str]) -> str | None:
    """A "did you mean" hint when a choice is close to ``word``."""
    close = get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def place(path: str, finding: Finding, positions: Positions) -> Diagnostic:
    """Position a finding in its file: the key for unknown keys, else the value."""
    if finding.at_key:
        line, column = positions.of_key(finding.loc)
    else:
        line, column = positions.of_value(finding.loc)
        style = positions.styles.get(finding.loc)
        block = positions.blocks.get(finding.loc)
        if finding.offset and finding.loc in positions.values:
            dline, dcol = finding.offset
            if style == "|" and block:
                # A literal block keeps its lines: line n of the text is line n of the block.
                line, column = block[0] + dline - 1, block[1] + dcol
            elif dline == 1 and style not in ("|", ">"):
                # One line, plain or quoted (past the quote). Folded text (>) and lines a
                # flow scalar folded have no exact way back; they keep the value's position.
                column += dcol - 1 + (1 if style else 0)
    return Diagnostic(path, line, column, finding.loc, finding.message, finding.code, finding.hint)


def findings_from(error: ValidationError, data: Any, root: Any) -> list[Finding]:
    """Translate every error of ``error`` (raised validating ``data`` as ``root``)."""
    out: dict[tuple[Loc, Code], Finding] = {}
    for item in error.errors(include_url=False):
        raw: Loc = tuple(item["loc"])
        loc = _clean(raw, data, root)
        finding = _translate(item, raw, loc, root)
        key = (finding.loc, finding.code)
        previous = out.get(key)
        if previous and finding.code is Code.FIELD_TYPE:
            # A union reports one type error per member; say them once, together.
            merged = _merge_expected(previous.message, finding.message)
            out[key] = Finding(finding.loc, finding.code, merged, previous.hint)
        elif not previous:
            out[key] = finding
    return _without_echoes(list(out.values()))


def _without_echoes(findings: list[Finding]) -> list[Finding]:
    """Drop findings that only repeat another one in vaguer words.

    A union member whose shape fits reports the real problem (``enrolled + x`` is not a date
    offset); the members that do not fit add "expected a mapping" at the same place or above
    it. And a misspelt required field is one mistake, not an unknown field plus a missing one.
    """
    specific = [f.loc for f in findings if f.code is not Code.FIELD_TYPE]
    hinted = {
        (*f.loc[:-1], name)
        for f in findings
        if f.code is Code.FIELD_UNKNOWN and f.hint
        for name in re.findall(r"did you mean '([^']+)'", f.hint)
    }
    return [
        f
        for f in findings
        if not (f.code is Code.FIELD_TYPE and any(s[: len(f.loc)] == f.loc for s in specific))
        and not (f.code is Code.FIELD_MISSING and f.loc in hinted)
    ]


def _clean(raw: Loc, data: Any, root: Any) -> Loc:
    """Drop the union tags pydantic puts in ``loc``, keeping only real keys and indices.

    The type is followed along with the data, so a tag that is also a key of the data (the
    condition tagged ``field`` has a key ``field``) is still recognised as a tag.
    """
    loc: list[str | int] = []
    node = data
    tp = root
    for part in raw:
        if _is_union(tp):
            # The part names a member of the union: a tag, or a label such as 'int' or
            # 'dict[...]' that is no key of the data; only a tag tells which model follows.
            tp = _tagged_member(tp, part)
        elif _has(node, part):
            loc.append(part)
            node = node[part]
            tp = _child(tp, part) if tp is not None else None
        elif isinstance(node, dict) and _is_field_of_missing(part, raw):
            loc.append(part)
            node = None
    return tuple(loc)


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return isinstance(part, str) and part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _is_field_of_missing(part: str | int, raw: Loc) -> bool:
    # The last part of a "missing" or "extra" error is a real key even though it is absent
    # from (or, for extras, present in) the data; keep it when it ends the path.
    return isinstance(part, str) and raw[-1] == part and not part[:1].isupper()


_TYPE_WORDS = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _translate(item: Any, raw: Loc, loc: Loc, root: Any) -> Finding:
    kind: str = item["type"]
    ctx = item.get("ctx") or {}
    value = item.get("input")
    if kind in Code.__members__:
        hint = None
        if kind == Code.CONDITION_KIND and isinstance(value, dict):
            from engine.language._conditions import CONDITION_KEYS

            hint = next(filter(None, (suggest(k, CONDITION_KEYS) for k in value)), None)
        return Finding(loc, Code(kind), item["msg"], hint)
    if kind == "extra_forbidden":
        model = _model_at(root, raw[:-1])
        allowed = _field_names(model) if model else []
        return Finding(
            loc, Code.FIELD_UNKNOWN, f"unknown field {raw[-1]!r}", suggest(raw[-1], allowed), True
        )
    if kind == "missing":
        return Finding(loc, Code.FIELD_MISSING, f"missing required field {raw[-1]!r}", at_key=False)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _bad_tag(kind, ctx, loc, _union_tags(root, raw))
    if kind in _TYPE_WORDS:
        hint = None
        if kind == "bool_type" and isinstance(value, str):
            hint = "YAML 1.2 reads yes/no/on/off as text; write true or false"
        return Finding(
            loc, Code.FIELD_TYPE, f"expected {_TYPE_WORDS[kind]}, got {_describe(value)}", hint
        )
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        choices = [c.strip(" '") for c in expected.replace(" or ", ",").split(",") if c.strip()]
        return Finding(
            loc,
            Code.FIELD_VALUE,
            f"{_describe(value)} is not allowed; use one of {', '.join(choices)}",
            suggest(value, choices),
        )
    if kind == "string_pattern_mismatch":
        return Finding(loc, Code.FIELD_VALUE, _pattern_message(value, str(ctx.get("pattern"))))
    if kind == "too_short" and "min_length" in ctx:
        count, got = ctx["min_length"], ctx.get("actual_length", 0)
        items = "item" if count == 1 else "items"
        return Finding(loc, Code.FIELD_VALUE, f"needs at least {count} {items}, got {got}")
    if kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        bound = ctx.get(key)
        shown = f"{bound:g}" if isinstance(bound, float) else bound
        return Finding(loc, Code.FIELD_VALUE, f"must be {words} {shown}, got {value}")
    return Finding(loc, Code.FIELD_VALUE, _sentence(item["msg"]))


_BOUNDS = {
    "greater_than_equal": ("at least", "ge"),
    "greater_than": ("more than", "gt"),
    "less_than_equal": ("at most", "le"),
    "less_than": ("less than", "lt"),
}


def _bad_tag(kind: str, ctx: dict[str, Any], loc: Loc, tags: list[str]) -> Finding:
    field = str(ctx.get("discriminator", "type")).strip("'")
    # pydantic lists the tags only for a wrong tag, not for a missing one.
    expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
    expected = [t for t in expected if t] or tags
    step = field == "type"
    code = Code.STEP_TYPE_UNKNOWN if step else Code.DOC_KIND
    what = "step type" if step else "document kind"
    if kind == "union_tag_not_found":
        return Finding(loc, code, f"missing {field!r}: the {what}, one of {', '.join(expected)}")
    tag = ctx.get("tag")
    return Finding(
        (*loc, field),
        code,
        f"unknown {what} {tag!r}; use one of {', '.join(expected)}",
        suggest(tag, expected),
    )


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"text {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_PATTERNS = {
    "^[a-z0-9][a-z0-9_-]*$": "a name of lowercase letters, digits, - and _",
    "^[a-z][a-z0-9_-]*$": "a role name of lowercase letters, digits, - and _",
    "^https?://[^\\s]+$": "an http:// or https:// URL",
}


def _pattern_message(value: Any, pattern: str) -> str:
    wanted = _PATTERNS.get(pattern)
    if wanted:
        return f"{_describe(value)} is not {wanted}"
    return f"{_describe(value)} does not match the pattern {pattern}"


def _sentence(msg: str) -> str:
    return msg[:1].lower() + msg[1:]


def _merge_expected(first: str, second: str) -> str:
    head, _, got = first.partition(", got ")
    other = second.partition(", got ")[0].removeprefix("expected ")
    if other in head:
        return first
    if head == "expected a whole number" and other == "a number":
        return f"expected a number, got {got}"  # int | float: a number says it all
    return f"{head} or {other}, got {got}"


def _field_names(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_at(root: Any, raw: Loc) -> type[BaseModel] | None:
    """The model class at a raw pydantic ``loc`` (tags included), by walking the annotations."""
    tp = root
    for part in raw:
        tp = _child(tp, part)
        if tp is None:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _child(tp: Any, part: str | int) -> Any:
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(tp) if m is not type(None)]
        if len(members) == 1:
            return _child(members[0], part)
        return next((m for m in members if _tag_of(m) == part), None)
    if origin is list:
        return typing.get_args(tp)[0] if isinstance(part, int) else None
    if origin is dict:
        return typing.get_args(tp)[1]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, field in tp.model_fields.items():
            if part in (field.alias, name):
                return (
                    field.annotation
                    if not field.metadata
                    else typing.Annotated[field.annotation, *field.metadata]
                )
    return None


def _is_union(tp: Any) -> bool:
    """Whether ``tp`` is a union of two or more types besides None."""
    tp = _unwrap(tp)
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return False
    members = [m for m in typing.get_args(tp) if m is not type(None)]
    return len(members) > 1 or (len(members) == 1 and _is_union(members[0]))


def _tagged_member(tp: Any, part: str | int) -> Any:
    """The member of the tagged union ``tp`` whose tag is ``part``, or None."""
    tp = _unwrap(tp)
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return None
    members = [m for m in typing.get_args(tp) if m is not type(None)]
    if len(members) == 1:
        return _tagged_member(members[0], part)
    return next((m for m in members if _tag_of(m) == part), None)


def _union_tags(root: Any, raw: Loc) -> list[str]:
    """The tags of the tagged union at the raw ``loc``: what a missing tag could have been."""
    tp = root
    for part in raw:
        tp = _child(tp, part)
    tp = _unwrap(tp)
    members = [m for m in typing.get_args(tp) if m is not type(None)]
    if len(members) == 1:
        tp = _unwrap(members[0])
        members = list(typing.get_args(tp))
    return [tag for tag in map(_tag_of, members) if tag]


def _tag_of(member: Any) -> str | None:
    if typing.get_origin(member) is typing.Annotated:
        for meta in typing.get_args(member)[1:]:
            tag = getattr(meta, "tag", None)
            if isinstance(tag, str):
                return tag
        member = typing.get_args(member)[0]
    if isinstance(member, type) and issubclass(member, BaseModel):
        for key in ("type", "kind"):
            field = member.model_fields.get(key)
            if field is not None:
                args = typing.get_args(field.annotation)
                if args:
                    return str(args[0])
    return None
