"""Email templates as Jinja: the one environment that renders them, and the checks before that.

A template is rendered in an activity, weeks after it was published, for a customer. Every
mistake that can be found earlier is found here, when the playbook set is validated: Jinja
that does not parse, a variable the renderer does not provide (see
:mod:`engine.language._template_context`), any reach for an underscore attribute, which is how a
template climbs out of the sandbox (``{{ ''.__class__ }}``), and a cost over the render bounds
(:mod:`engine.language._template_cost`). The renderer in
``workers/email.py`` builds its environment with :func:`environment`, so both sides read
templates the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import (
    UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES,
    UNSAFE_FUNCTION_ATTRIBUTES,
    UNSAFE_GENERATOR_ATTRIBUTES,
    UNSAFE_METHOD_ATTRIBUTES,
)

from engine.language._diagnose import Finding, suggest
from engine.language._documents import EmailTemplate
from engine.language._errors import Code
from engine.language._template_bounds import BoundedEnvironment
from engine.language._template_context import CLOSED_FIELDS, TEMPLATE_VARIABLES
from engine.language._template_cost import check_cost

PARTS = ("subject", "text", "html")

_UNSAFE = (
    UNSAFE_FUNCTION_ATTRIBUTES
    | UNSAFE_METHOD_ATTRIBUTES
    | UNSAFE_GENERATOR_ATTRIBUTES
    | UNSAFE_COROUTINE_ATTRIBUTES
    | UNSAFE_ASYNC_GENERATOR_ATTRIBUTES
)
# Reading a closed variable through a dict method ({{ recipient.get('name') }}) is fine.
_DICT_METHODS = frozenset(name for name in dir(dict) if not name.startswith("_"))
_STANDALONE = {
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from ... import",
    nodes.Extends: "extends",
}


def environment(*, autoescape: bool) -> BoundedEnvironment:
    """The Jinja environment templates are checked and rendered with.

    Sandboxed and immutable (a template cannot call methods that change the data it is
    given), bounded in time and size (:mod:`engine.language._template_bounds`), undefined
    values raise rather than render as empty text, and block tags on a line of their own
    leave no blank line behind, which matters in plain-text bodies.
    """
    return BoundedEnvironment(
        undefined=StrictUndefined,
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_ENV = environment(autoescape=False)


def check_template(template: EmailTemplate) -> list[Finding]:
    """Every problem of the Jinja in the subject, text and HTML of ``template``."""
    out: list[Finding] = []
    for part in PARTS:
        source = getattr(template, part)
        if source is not None:
            out += check_source(source, (part,))
    return out


def check_source(source: str, loc: tuple[str, ...]) -> list[Finding]:
    """Problems of one template text; offsets are 1-based line and column inside it."""
    lines = source.splitlines() or [""]

    def at(lineno: int, pattern: str | None = None) -> tuple[int, int]:
        line = lines[min(max(lineno, 1), len(lines)) - 1]
        match = re.search(pattern, line) if pattern else None
        if match:
            return lineno, match.start(match.lastindex or 0) + 1
        return lineno, len(line) - len(line.lstrip()) + 1

    try:
        ast = _ENV.parse(source)
        _ENV.compile(ast)  # unknown filters and tests surface only when compiling
    except RecursionError:
        return [_too_deep(loc)]
    except TemplateSyntaxError as error:
        message = (error.message or "invalid template").splitlines()[0].rstrip(".")
        unknown = re.match(r"No (filter|test) named '([^']+)'", message)
        pattern = None
        if unknown:  # point at the filter or test itself, not at the start of its line
            before = r"\|\s*" if unknown.group(1) == "filter" else r"\bis\s+(?:not\s+)?"
            pattern = before + "(" + re.escape(unknown.group(2)) + r")\b"
        return [
            Finding(
                loc, Code.TEMPLATE_SYNTAX, f"Jinja: {message}", offset=at(error.lineno, pattern)
            )
        ]
    try:
        return _problems(ast, loc, at)
    except RecursionError:  # the checks walk the tree as deep as it nests
        return [_too_deep(loc)]


def _too_deep(loc: tuple[str, ...]) -> Finding:
    # Jinja parses, compiles and walks templates recursively: thousands of nested brackets
    # or blocks, or a very long chain of operators, exhaust Python's stack. The renderer
    # would fail the same way, weeks later, so the template is refused now.
    return Finding(
        loc,
        Code.TEMPLATE_SYNTAX,
        "Jinja: the template nests too deeply to compile (brackets, blocks or a long chain"
        " of operators); simplify it",
        offset=(1, 1),
    )


def _problems(
    ast: nodes.Template, loc: tuple[str, ...], at: Callable[[int, str | None], tuple[int, int]]
) -> list[Finding]:
    """What a template that compiles may still get wrong: cost, tags, names and attributes."""
    out: list[Finding] = check_cost(ast, loc, at)
    for standalone in ast.find_all(tuple(_STANDALONE)):
        tag = _STANDALONE[type(standalone)]
        out.append(
            Finding(
                loc,
                Code.TEMPLATE_SYNTAX,
                f"{{% {tag} %}} is not supported: an email template stands alone",
                offset=at(standalone.lineno, r"\{%-?\s*(" + tag.split()[0] + r")\b"),
            )
        )
    undeclared = meta.find_undeclared_variables(ast)
    names = {n.name: n for n in reversed(list(ast.find_all(nodes.Name))) if n.ctx == "load"}
    for name in sorted(undeclared - set(TEMPLATE_VARIABLES), key=lambda n: names[n].lineno):
        out.append(
            Finding(
                loc,
                Code.TEMPLATE_UNDEFINED,
                f"unknown template variable {name!r}",
                suggest(name, TEMPLATE_VARIABLES)
                or f"templates can use {', '.join(TEMPLATE_VARIABLES)}",
                offset=at(names[name].lineno, rf"(?<![\w.'\"])({re.escape(name)})\b"),
            )
        )
    for owner, lineno, key in _accesses(ast):
        pattern = rf"(?:\.\s*|[\[(]\s*['\"])({re.escape(key)})\b"
        if key.startswith("_") or key in _UNSAFE:
            out.append(
                Finding(
                    loc,
                    Code.TEMPLATE_UNSAFE,
                    f"templates may not read {key!r}: names starting with '_' (and a few"
                    " others) are how a template escapes its sandbox",
                    offset=at(lineno, pattern),
                )
            )
            continue
        if (
            isinstance(owner, nodes.Name)
            and owner.name in undeclared
            and owner.name in CLOSED_FIELDS
            and key not in CLOSED_FIELDS[owner.name]
            and key not in _DICT_METHODS
        ):
            fields = CLOSED_FIELDS[owner.name]
            out.append(
                Finding(
                    loc,
                    Code.TEMPLATE_UNDEFINED,
                    f"{owner.name} has no field {key!r}; it has {', '.join(fields)}",
                    suggest(key, fields),
                    offset=at(lineno, pattern),
                )
            )
    return out


def _accesses(ast: nodes.Template) -> Iterator[tuple[nodes.Node, int, str]]:
    """Each ``x.name``, ``x['name']`` and ``x|attr('name')`` with a constant name: the ``x``,
    the line and the name."""
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        if isinstance(node, nodes.Getattr):
            yield node.node, node.lineno, node.attr
        elif isinstance(node, nodes.Getitem):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                yield node.node, node.lineno, node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            arg = node.args[0]
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str) and node.node:
                yield node.node, node.lineno, arg.value
