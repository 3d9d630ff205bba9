"""A Jinja2 sandbox whose every render is bounded in size and time.

Jinja's own sandbox keeps templates away from Python internals, but not from unbounded
work: ``{{ 'a' * 10000000 }}``, ``{% for i in range(99999) %}`` nested three deep,
``'x'|center(10**9)`` or a ``~`` chain that doubles a string each step all ran until
the Lambda died. Here:

- ``*``, ``**``, ``+``, ``%`` and ``~`` refuse results over `MAX_SEQUENCE` items or
  characters (checked before the work is done where the size is known up front);
- ``range`` gives at most `MAX_RANGE` items;
- every ``for`` loop and every call counts against one budget per render
  (`MAX_STEPS`) and a wall-clock deadline (`MAX_SECONDS`);
- string padding (``center``, ``ljust``, ``format`` widths, ``indent``…) is refused
  past `MAX_SEQUENCE`;
- the output is streamed and refused past `MAX_OUTPUT` characters.

Any of these raises `SecurityError`, a `TemplateError`, so the caller reports it as a
bad template naming the field.
"""

from __future__ import annotations

import contextvars
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import Namespace

MAX_SEQUENCE = 100_000
"""The longest string or list a template expression may build."""
MAX_RANGE = 10_000
"""The most items `range()` gives."""
MAX_OUTPUT = 500_000
"""The most characters one render may produce."""
MAX_STEPS = 200_000
"""Loop iterations plus calls in one render."""
MAX_SECONDS = 2.0
"""Wall-clock time one render may take."""

_WIDE_FORMAT = re.compile(r"\d{6,}")
_COUNTED = "_kizuna_counted"
_PADDING = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


@dataclass
class _Budget:
    steps: int
    deadline: float

    def spend(self, n: int = 1) -> None:
        self.steps -= n
        if self.steps < 0:
            raise SecurityError(f"template does more than {MAX_STEPS} steps")
        if time.monotonic() > self.deadline:
            raise SecurityError(f"template takes longer than {MAX_SECONDS:g} s to render")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "kizuna_template_budget", default=None
)


def _spend(n: int = 1) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.spend(n)


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


def _refuse_size(n: float) -> None:
    if n > MAX_SEQUENCE:
        raise SecurityError(f"template builds a value over {MAX_SEQUENCE} items or characters")


def _refuse_wide_format(text: Any) -> None:
    if isinstance(text, str) and _WIDE_FORMAT.search(text):
        raise SecurityError("template formats with a width or precision over 99999")


def _counted(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        _spend()
        yield item


def _bounded_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range() gives at most {MAX_RANGE} items")
    return rng


class BoundedNamespace(Namespace):
    """`namespace()` whose attributes cannot hold an oversized value."""

    def __setitem__(self, name: str, value: Any) -> None:
        size = _size(value)
        if size is not None:
            _refuse_size(size)
        super().__setitem__(name, value)


def _bounded_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        _spend()
        for arg in (*args, *kwargs.values()):
            if isinstance(arg, int) and not isinstance(arg, bool) and arg > MAX_SEQUENCE:
                raise SecurityError(f"filter argument over {MAX_SEQUENCE}")
            _refuse_wide_format(arg) if func.__name__ == "do_format" else None
        result = func(*args, **kwargs)
        size = _size(result)
        if size is not None:
            _refuse_size(size)
        return result

    return run


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles `~` to a size-checked join."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802 - Jinja's name
        if frame.eval_ctx.volatile:
            markup = "context.eval_ctx.volatile"
        else:
            markup = repr(bool(frame.eval_ctx.autoescape))
        self.write(f"environment.checked_join({markup}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(SandboxedEnvironment):
    """The sandbox every message template renders in (see the module docstring)."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _bounded_range
        self.globals["namespace"] = BoundedNamespace
        self.filters = {name: _bounded_filter(f) for name, f in self.filters.items()}
        self.filters[_COUNTED] = _counted

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Parse, then make every `for` loop iterate through the step counter."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _COUNTED, [], [], None, None, lineno=loop.lineno)
        return tree

    # --------------------------------------------------------------- compiled hooks
    @staticmethod
    def checked_join(markup: bool, parts: tuple[Any, ...]) -> str:
        _refuse_size(sum(len(p) if isinstance(p, str) else 0 for p in parts))
        joined: str = markup_join(parts) if markup else str_join(parts)
        _refuse_size(len(joined))
        return joined

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _spend()
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                size = _size(seq)
                if size is not None and isinstance(n, int):
                    _refuse_size(size * n)
        elif operator == "**":
            if isinstance(left, int | float) and isinstance(right, int | float):
                base = abs(float(left))
                if base > 1 and right * math.log2(base) > 4096:
                    raise SecurityError("template computes a power over 4096 bits")
        elif operator == "%" and isinstance(left, str):
            _refuse_wide_format(left)
        result = super().call_binop(context, operator, left, right)
        size = _size(result)
        if size is not None:
            _refuse_size(size)
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, str) and attribute in ("format", "format_map"):
            _refuse_wide_format(obj)
        return super().getattr(obj, attribute)

    def call(
        __self,  # noqa: N805 - Jinja's signature: `self` may be a keyword of the call
        __context: Any,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        _spend()
        if getattr(__obj, "__name__", "") in _PADDING:
            for arg in (*args, *kwargs.values()):
                if isinstance(arg, int) and arg > MAX_SEQUENCE:
                    raise SecurityError(f"padding over {MAX_SEQUENCE} characters")
        result = super().call(__context, __obj, *args, **kwargs)
        size = _size(result)
        if size is not None:
            _refuse_size(size)
        return result


def render_bounded(template: Any, context: Mapping[str, Any]) -> str:
    """Render `template` (from a `BoundedSandbox`) within the step, time and output caps."""
    budget = _Budget(MAX_STEPS, time.monotonic() + MAX_SECONDS)
    token = _budget.set(budget)
    try:
        out: list[str] = []
        length = 0
        for chunk in template.generate(dict(context)):
            length += len(chunk)
            if length > MAX_OUTPUT:
                raise SecurityError(f"template renders over {MAX_OUTPUT} characters")
            budget.spend()
            out.append(chunk)
        return "".join(out)
    finally:
        _budget.reset(token)
