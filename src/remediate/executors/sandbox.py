"""jinja2's immutable sandbox, with sizes bounded before values are built.

The sandbox stops templates reaching Python's internals, not building huge values:
`'a' * 10**9` or `'x'|center(10**9)` would allocate gigabytes before the rendered
size could be checked. This sandbox refuses, before computing them, repetitions
(`*`), concatenations (`+`, `~`), powers and `%`/`format` widths whose result would
exceed `limit` characters, padding methods, `lipsum` and filters given a size above
`limit`, and `replace`/`join` results above `limit`; within `budget`, loop iterations
and calls are counted, so a template cannot spin for ever either. Templates come from
ActionTypes only (request values are data): this keeps a mistaken template from
exhausting the runner.

Nothing is evaluated while a template is *compiled*: jinja2 folds constant expressions
then (its optimizer, and `visit_Output` for every printed expression), outside any runtime
check, so `{{ 'a' * 10**9 }}` would be built by `validate`. Here only literal text is
constant; every expression runs when the template renders, within the bounds above.
Literal text is yielded as `Literal`, so that a caller can tell what the template wrote
from what an expression (request data) produced.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.meta import TrackingCodeGenerator
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

# a %-conversion: flags, width, precision
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_NUMBER = re.compile(r"\d+")
_SEQUENCES = (str, list, tuple)
_MAX_POWER_BITS = 64 * 1024
# the methods, globals and filters whose integer arguments are sizes of what they build
_SIZED_CALLS = frozenset(
    {"ljust", "rjust", "center", "zfill", "expandtabs", "generate_lorem_ipsum"}
)
_SIZED_FILTERS = frozenset({"center", "indent", "batch", "slice", "truncate", "wordwrap", "tojson"})
_STEPS: ContextVar[list[int] | None] = ContextVar("remediate_template_steps", default=None)


class Literal(str):
    """Text written in the template itself, as opposed to what an expression produced."""

    __slots__ = ()


class _Unfolded(CodeGenerator):
    """A code generator that evaluates nothing at compile time (see the module's doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.optimizer = None  # no constant folding

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        if not isinstance(node, nodes.TemplateData):
            raise nodes.Impossible()  # evaluated when rendering, by the sandbox
        return super()._output_child_to_const(node, frame, finalize)


class NameTracker(_Unfolded, TrackingCodeGenerator):
    """`jinja2.meta.find_undeclared_variables` without compile-time evaluation."""


def undeclared_names(environment: Any, source: str) -> set[str]:
    """The names `source` reads from its data (TemplateSyntaxError if it does not parse)."""
    tracker = NameTracker(environment)
    tracker.visit(environment.parse(source))
    return tracker.undeclared_identifiers


class _BoundedCodeGenerator(_Unfolded):
    def _output_const_repr(self, group: Iterable[Any]) -> str:
        return f"environment.literal({super()._output_const_repr(group)})"

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        """Every loop iterates through `environment.counted`, which spends the budget."""
        if not getattr(node, "counted", False):
            node.iter = nodes.Call(
                nodes.EnvironmentAttribute("counted"), [node.iter], [], None, None
            ).set_lineno(node.lineno)
            node.counted = True  # type: ignore[attr-defined]
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        """`a ~ b` through `environment.bounded_join`, which checks the size first."""
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _BoundedCodeGenerator
    literal = Literal

    def __init__(self, limit: int, **options: Any) -> None:
        super().__init__(**options)
        self.limit = limit
        self.filters = {name: self._bounded_filter(name, f) for name, f in self.filters.items()}

    @contextmanager
    def budget(self, steps: int) -> Iterator[None]:
        """Within: at most `steps` loop iterations and calls (a template's CPU bound)."""
        token = _STEPS.set([steps])
        try:
            yield
        finally:
            _STEPS.reset(token)

    def spend(self) -> None:
        left = _STEPS.get()
        if left is not None:
            left[0] -= 1
            if left[0] < 0:
                raise SecurityError("the template does too much work (loop iterations and calls)")

    def counted(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.spend()
            yield item

    def too_big(self, what: str, size: int) -> None:
        if size > self.limit:
            raise SecurityError(f"{what} would make {size} items (max {self.limit})")

    def bounded_join(self, parts: Iterable[Any]) -> str:
        texts = [str(p) for p in parts]
        self.too_big("concatenating (~)", sum(len(t) for t in texts))
        return "".join(texts)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, _SEQUENCES) and isinstance(times, int):
                    self.too_big("repeat (*)", len(sequence) * max(times, 0))
        elif operator == "+":
            if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
                self.too_big("concatenating (+)", len(left) + len(right))
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
                bits = abs(left).bit_length() * right
                if bits > _MAX_POWER_BITS:
                    raise SecurityError(f"power (**) of about {bits} bits is too large")
        elif operator == "%" and isinstance(left, str):
            self.check_percent(left, right)
        return super().call_binop(context, operator, left, right)

    def check_percent(self, text: str, values: Any) -> None:
        for match in _PERCENT_SPEC.finditer(text):
            for number in match.groups():
                if number == "*":
                    items = values if isinstance(values, tuple) else (values,)
                    self.check_arguments(items, {})
                elif number:
                    self.too_big("a % format width", int(number))

    def check_format(self, text: str) -> None:
        for _, _, spec, _ in string.Formatter().parse(text):
            if spec and "{" in spec:
                raise SecurityError("a format width from an argument ({:{}}) is not allowed")
            for number in _NUMBER.findall(spec or ""):
                self.too_big("a format width", int(number))

    def check_arguments(self, args: Iterable[Any], kwargs: dict[str, Any]) -> None:
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool):
                self.too_big("an argument", abs(value))

    def check_growth(self, name: str, value: Any, args: tuple[Any, ...]) -> None:
        """`replace` and `join`, whose results can be far larger than their inputs."""
        if name == "replace" and isinstance(value, str) and len(args) >= 2:
            old, new = str(args[0]), str(args[1])
            count = value.count(old) if old else len(value) + 1
            self.too_big("replace", len(value) + count * max(0, len(new) - len(old)))
        elif name == "join" and isinstance(value, _SEQUENCES) and args:
            separator = args[0] if isinstance(args[0], str) else ""
            items = sum(len(str(v)) for v in value)
            self.too_big("join", items + max(0, len(value) - 1) * len(separator))

    def call(
        __self,  # jinja2's own signature: any keyword argument passes through
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        __self.spend()
        target = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped
        owner = getattr(target, "__self__", None)
        name = getattr(target, "__name__", "")
        if isinstance(owner, str) and name in ("format", "format_map"):
            __self.check_format(owner)
        elif name in _SIZED_CALLS:
            __self.check_arguments(args, kwargs)
        if name == "replace":
            __self.check_growth("replace", owner, args)
        elif name == "join" and isinstance(owner, str) and args:
            __self.check_growth(
                "join", args[0] if isinstance(args[0], _SEQUENCES) else (), (owner,)
            )
        return super().call(__context, __obj, *args, **kwargs)

    def _bounded_filter(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        passes = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0

        @wraps(function)
        def bounded(*args: Any, **kwargs: Any) -> Any:
            value, rest = args[passes] if len(args) > passes else None, args[passes + 1 :]
            if name == "format" and isinstance(value, str):
                self.check_percent(value, rest)
            elif name in _SIZED_FILTERS:
                self.check_arguments(rest, kwargs)
            self.check_growth(name, value, rest)
            return function(*args, **kwargs)

        return bounded
