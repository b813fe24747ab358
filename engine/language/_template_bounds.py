"""Bounds on rendering an email template: the time it takes and the size of what it builds.

Validation proves a template reads only what the renderer provides, not that rendering it
ends in reasonable time and memory: ``{% for a in range(100000) %}{% for b in range(5000) %}``
runs for minutes and ``{{ 'x' * 400000000 }}`` asks for gigabytes (at validation too, where
Jinja's optimizer folded the constant). The environment here is Jinja's immutable sandbox
with every way of growing a value bounded:

- ``range`` yields at most :data:`MAX_RANGE` items;
- ``*``, ``**``, ``+``, ``%``, ``~``, the filters and the methods a template calls refuse a
  result of more than :data:`MAX_SIZE` characters or items (``**`` and ``*`` on numbers
  more than :data:`MAX_INT_BITS` bits), checked *before* the work is done;
- each rendered text (subject, text, HTML) is at most :data:`MAX_SIZE` characters;
- under :func:`deadline`, every loop turn, call, filter and output checks the clock, so a
  render that runs past it stops itself with :class:`TemplateTooCostly` (a thread cannot be
  stopped from outside; this one stops from inside).

Jinja's constant folding is switched off, so nothing a template computes is computed while
it is compiled. The static estimate that refuses such templates before they are published
is in :mod:`engine.language._template_cost`.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from jinja2 import nodes, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg

MAX_RANGE = 10_000
"""Items one ``range(...)`` may yield."""
MAX_SIZE = 1_000_000
"""Characters (or items) of any value a template builds, and of each rendered text."""
MAX_INT_BITS = 20_000
"""Bits of a number a template computes (about 6,000 digits)."""
RENDER_SECONDS = 2.0
"""How long rendering one email (all its parts) may take on a worker."""

# A width, precision or count over six digits in a format spec is over MAX_SIZE; '*' and a
# nested field take the width from an argument, which is not checked, so they are refused.
_BIG_SPEC = re.compile(r"%[-#0 +]*(?:\*|\d{7,}|\d*\.(?:\*|\d{7,}))|\{[^{}]*:[^{}]*(?:\d{7,}|\{)")


class TemplateTooCostly(SecurityError):
    """Rendering would take too long or build too much; the message says which bound."""


_local = threading.local()


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Renders in this thread stop with :class:`TemplateTooCostly` after ``seconds``."""
    before = getattr(_local, "deadline", None)
    _local.deadline = (time.monotonic() + seconds, seconds)
    try:
        yield
    finally:
        _local.deadline = before


def _on_time() -> None:
    limit = getattr(_local, "deadline", None)
    if limit is not None and time.monotonic() > limit[0]:
        raise TemplateTooCostly(f"rendering took longer than {limit[1]:g} s and was stopped")


def weight(value: Any, limit: int = MAX_SIZE) -> int:
    """Roughly how many characters ``value`` makes as text; stops counting past ``limit``."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, dict):
            total += len(item)
            stack += item.keys()
            stack += item.values()
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            stack += item
        elif isinstance(item, int):
            total += item.bit_length() // 3
        else:
            total += 8  # dates, floats, None: a handful of characters
    return total


def _refuse_over(size: int, what: str) -> None:
    if size > MAX_SIZE:
        raise TemplateTooCostly(f"{what} would be over {MAX_SIZE:,} characters or items")


def _check_inputs(what: str, args: Iterable[Any]) -> None:
    """Every value handed to a filter or method is within the bounds, numbers included."""
    for arg in args:
        if isinstance(arg, int) and abs(arg) > MAX_SIZE:
            raise TemplateTooCostly(f"{what} was given {arg:,}; at most {MAX_SIZE:,} is allowed")
        _refuse_over(weight(arg), f"a value given to {what}")


def _check_spec(text: Any, what: str) -> None:
    if isinstance(text, str) and _BIG_SPEC.search(text):
        raise TemplateTooCostly(
            f"{what}: a width or precision over six digits, or one taken from an argument"
        )


def _given(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A filter's or method's arguments by parameter name (the value being ``value``)."""
    given = dict(kwargs)
    for key, arg in zip(("value", *_PARAMS.get(name, ())), args, strict=False):
        given.setdefault(key, arg)
    return given


def _grown(name: str, given: dict[str, Any]) -> int:
    """What the filters and methods that multiply their input would make, before they do."""
    value = given.get("value", "")
    text = value if isinstance(value, str) else ""
    if name == "replace" and isinstance(given.get("old"), str):
        old, new = given["old"], str(given.get("new", ""))
        count = given.get("count", -1)
        times = text.count(old) if old else len(text) + 1
        times = times if not isinstance(count, int) or count < 0 else min(times, count)
        return len(text) + times * max(0, len(new) - len(old))
    if name == "indent":
        width = given.get("width", 4)
        pad = len(width) if isinstance(width, str) else int(width)
        return len(text) + (text.count("\n") + 1) * pad
    if name == "expandtabs":
        return len(text) + text.count("\t") * int(given.get("tabsize", 8))
    if name == "wordwrap":
        width = max(int(given.get("width", 79)), 1)
        wrap = given.get("wrapstring") or "\n"
        return len(text) + (len(text) // width + 1) * len(str(wrap))
    if name == "join":
        items = value if isinstance(value, list | tuple) else ()
        return weight(items) + len(str(given.get("d", ""))) * len(items)
    if name == "tojson":
        return weight(value) * (1 + int(given.get("indent") or 0))
    return 0


# Parameters after the value, in order: the filters' (and str methods') signatures.
_PARAMS = {
    "replace": ("old", "new", "count"),
    "indent": ("width", "first", "blank"),
    "expandtabs": ("tabsize",),
    "wordwrap": ("width", "break_long_words", "wrapstring"),
    "join": ("d", "attribute"),
    "tojson": ("indent",),
}


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    passes = _PassArg.from_obj(func) is not None

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _on_time()
        own = args[1:] if passes else args
        _check_inputs(f"the {name} filter", [*own, *kwargs.values()])
        if name == "format" and own:
            _check_spec(own[0], "the format filter")
        _refuse_over(_grown(name, _given(name, own, kwargs)), f"the {name} filter's result")
        result = func(*args, **kwargs)
        _refuse_over(weight(result), f"the {name} filter's result")
        return result

    return bounded


def bounded_range(*args: int) -> range:
    """``range`` for templates: at most :data:`MAX_RANGE` items."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateTooCostly(
            f"range of {len(numbers):,} items; a template's range has at most {MAX_RANGE:,}"
        )
    return numbers


class _Generator(CodeGenerator):
    """Jinja's code generator, with each loop's iterable and each ``~`` going through the
    environment, where they are bounded."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        # Swapped in for the generation only: the checker reads the same tree afterwards.
        # (Jinja allows no node types of its own, so the wrapper is a call of the environment.)
        original = node.iter
        wrapper = nodes.EnvironmentAttribute("bounded_iter", lineno=original.lineno)
        node.iter = nodes.Call(wrapper, [original], [], None, None, lineno=original.lineno)
        try:
            super().visit_For(node, frame)
        finally:
            node.iter = original

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        else:
            join = "markup_join" if frame.eval_ctx.autoescape else "str_join"
        self.write(f"environment.bounded_concat({join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox with time and size bounds on everything a template does."""

    code_generator_class = _Generator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        # No constant folding: it would compute `'x' * 400000000` while compiling.
        super().__init__(optimized=False, finalize=_finalize, **options)
        self.globals["range"] = bounded_range
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _on_time()
        if operator == "*":
            _check_product(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "+":
            if not isinstance(left, int | float):
                _refuse_over(weight(left) + weight(right), "'+'")
        elif isinstance(left, str):  # % formatting
            _check_spec(left, "'%' formatting")
            _refuse_over(weight(left) + weight(right), "'%' formatting")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # The double underscores follow Jinja's: a template's keyword cannot collide.
        _on_time()
        inner = getattr(__obj, "__wrapped__", __obj)
        owner, name = getattr(inner, "__self__", None), getattr(inner, "__name__", "")
        if isinstance(owner, str):
            what = f"str.{name}"
            _check_inputs(what, [owner, *args, *kwargs.values()])
            if name in ("format", "format_map"):
                _check_spec(owner, what)
            if name == "join":  # sep.join(items), the filter's join the other way round
                given = {"value": args[0] if args else (), "d": owner}
            else:
                given = _given(name, (owner, *args), kwargs)
            _refuse_over(_grown(name, given), f"{what}'s result")
        elif __obj is not bounded_range and __obj != __self.bounded_iter:
            # range bounds itself, whatever its numbers; a loop's iterable is only iterated
            _check_inputs("a call", [*args, *kwargs.values()])
        result = super().call(__context, __obj, *args, **kwargs)
        _refuse_over(weight(result), "a call's result")
        return result

    def bounded_iter(self, iterable: Any) -> Iterator[Any]:
        for item in iterable:
            _on_time()
            yield item

    def bounded_concat(self, join: Callable[[Iterable[Any]], str], values: tuple[Any, ...]) -> str:
        _on_time()
        _refuse_over(sum(weight(value) for value in values), "'~'")
        return join(values)


@pass_eval_context
def _finalize(eval_ctx: EvalContext, value: Any) -> Any:
    # Taking the eval context also keeps Jinja from finalizing constants while compiling.
    _on_time()
    _refuse_over(weight(value), "an output")
    return value


def _check_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TemplateTooCostly(f"'*' would make a number over {MAX_INT_BITS:,} bits")
        return
    count, other = (left, right) if isinstance(left, int) else (right, left)
    if isinstance(count, int) and not isinstance(other, float):
        _refuse_over(max(count, 0) * weight(other), "'*'")


def power_too_big(base: Any, exponent: Any) -> bool:
    """True when ``base ** exponent`` is a whole number over :data:`MAX_INT_BITS` bits."""
    return (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and (abs(base).bit_length() - 1) * exponent > MAX_INT_BITS
    )


def _check_power(base: Any, exponent: Any) -> None:
    if power_too_big(base, exponent):
        raise TemplateTooCostly(f"'**' would make a number over {MAX_INT_BITS:,} bits")


def render_text(template: Any, context: dict[str, Any]) -> str:
    """Render ``template`` (from a :class:`BoundedEnvironment`), at most :data:`MAX_SIZE`
    characters; stops as soon as the text passes that."""
    out: list[str] = []
    size = 0
    for chunk in template.generate(context):
        size += len(chunk)
        if size > MAX_SIZE:
            raise TemplateTooCostly(f"the rendered text would be over {MAX_SIZE:,} characters")
        out.append(chunk)
    return "".join(out)
