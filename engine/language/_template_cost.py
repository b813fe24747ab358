"""What a template would cost to render, estimated when the playbook set is validated.

The renderer stops any template that runs past its bounds
(:mod:`engine.language._template_bounds`), but then the email fails on the day it is sent.
The templates that are costly on their face are refused before they are published instead,
as ``TEMPLATE_COST``: a ``range`` over :data:`MAX_RANGE` items, loops whose nested turns add
up to more than :data:`MAX_TURNS` (a loop over data such as ``account.tags`` counts as
:data:`DATA_LOOP` turns, a ``range`` whose bounds are not constants as :data:`MAX_RANGE`),
and constants that are over the size bound (``'x' * 400000000``, ``center(400000000)``,
``2 ** 100000000``). What only data or recursion makes costly is left to the renderer.
"""

from __future__ import annotations

from collections.abc import Callable

from jinja2 import nodes

from engine.language._diagnose import Finding
from engine.language._errors import Code
from engine.language._template_bounds import MAX_INT_BITS, MAX_RANGE, MAX_SIZE, power_too_big

MAX_TURNS = 100_000
"""Loop turns a template may take in all, by the estimate below."""
DATA_LOOP = 100
"""Turns counted for a loop over data, whose length is known only when rendering."""

At = Callable[[int, str | None], tuple[int, int]]
"""Line and column of a template's line, at a pattern's first group when it matches."""


def check_cost(ast: nodes.Template, loc: tuple[str, ...], at: At) -> list[Finding]:
    """The ``TEMPLATE_COST`` findings of one parsed template."""
    out: list[Finding] = []

    def refuse(lineno: int, pattern: str | None, message: str, hint: str | None = None) -> None:
        out.append(Finding(loc, Code.TEMPLATE_COST, message, hint, offset=at(lineno, pattern)))

    def visit(node: nodes.Node, turns: int, reported: bool) -> None:
        if isinstance(node, nodes.For):
            visit(node.iter, turns, reported)
            inner = turns * _loop_turns(node.iter)
            if inner > MAX_TURNS and not reported:
                refuse(
                    node.lineno,
                    r"\{%-?\s*(for)\b",
                    f"these loops would turn about {inner:,} times; a template may loop at"
                    f" most {MAX_TURNS:,} times",
                    f"a loop over data counts as {DATA_LOOP}, a range as its length",
                )
                reported = True
            for child in (*node.body, *node.else_):
                visit(child, inner, reported)
            if node.test is not None:
                visit(node.test, inner, reported)
            return
        _check_constants(node, refuse)
        for child in node.iter_child_nodes():
            visit(child, turns, reported)

    visit(ast, 1, False)
    return out


def _loop_turns(iterable: nodes.Node) -> int:
    """How many turns a loop over ``iterable`` is counted for."""
    if _is_range(iterable):
        assert isinstance(iterable, nodes.Call)
        numbers = _constant_ints(iterable.args)
        if numbers is None or iterable.kwargs or iterable.dyn_args:
            return MAX_RANGE
        try:
            return len(range(*numbers))
        except (TypeError, ValueError):
            return 0  # range() with wrong arguments fails at once when rendering
    if isinstance(iterable, nodes.Mul):
        left, right = _constant(iterable.left), _constant(iterable.right)
        size = _product_size(left, right) if left is not None and right is not None else None
        return DATA_LOOP if size is None else size
    if isinstance(iterable, nodes.Const | nodes.List | nodes.Tuple | nodes.Dict):
        try:
            return len(iterable.as_const())
        except (nodes.Impossible, TypeError):
            return DATA_LOOP
    return DATA_LOOP


def _check_constants(node: nodes.Node, refuse: Callable[..., None]) -> None:
    if _is_range(node):
        assert isinstance(node, nodes.Call)
        numbers = _constant_ints(node.args)
        if numbers is not None and not node.dyn_args:
            try:
                length = len(range(*numbers))
            except (TypeError, ValueError):
                return
            if length > MAX_RANGE:
                refuse(
                    node.lineno,
                    r"\b(range)\s*\(",
                    f"range of {length:,} items; a template's range has at most {MAX_RANGE:,}",
                )
        return
    if isinstance(node, nodes.Mul | nodes.Pow):
        left, right = _constant(node.left), _constant(node.right)
        if left is None or right is None:
            return
        size = _product_size(left, right) if isinstance(node, nodes.Mul) else None
        if isinstance(node, nodes.Pow) and power_too_big(left, right):
            refuse(node.lineno, r"(\*\*)", f"'**' would make a number over {MAX_INT_BITS:,} bits")
        if size is not None and size > MAX_SIZE:
            refuse(
                node.lineno,
                r"(?<!\*)(\*)(?!\*)",
                f"'*' would make {size:,} characters or items; at most {MAX_SIZE:,}",
            )
        return
    if isinstance(node, nodes.Filter | nodes.Call):
        for arg in [*node.args, *(kw.value for kw in node.kwargs)]:
            value = _constant(arg)
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SIZE:
                name = node.name if isinstance(node, nodes.Filter) else "a call"
                refuse(
                    arg.lineno,
                    rf"(?<![\d_])({value}|{value:_})(?![\d_])",
                    f"{value:,} given to {name}; at most {MAX_SIZE:,} is allowed",
                )


def _is_range(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Name)
        and node.node.name == "range"
    )


def _constant(node: nodes.Node) -> object | None:
    if isinstance(node, nodes.Const):
        value: object = node.value
        return value
    if isinstance(node, nodes.Neg) and isinstance(node.node, nodes.Const):
        value = node.node.value
        return -value if isinstance(value, int | float) else None
    return None


def _constant_ints(args: list[nodes.Expr]) -> list[int] | None:
    values = [_constant(arg) for arg in args]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return values  # type: ignore[return-value]
    return None


def _product_size(left: object, right: object) -> int | None:
    """The length of ``left * right`` for a text or list times a number; None otherwise."""
    count, other = (left, right) if isinstance(left, int) else (right, left)
    if isinstance(count, int) and isinstance(other, str | list | tuple):
        return max(count, 0) * len(other)
    return None
