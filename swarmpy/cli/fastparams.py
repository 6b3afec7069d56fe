"""Command-line values coerced without pydantic where the answer is plain.

typer (0.2x) coerces every parameter value through a pydantic ``TypeAdapter`` built on first
use, so any command with one option imported pydantic and built a schema per option: about
three bare interpreter starts on top of the CLI's own, for values that are already strings
and booleans. ``install()`` wraps typer's builder: a ``str`` that is a string, a ``bool`` that
is a bool, an ``int`` written as plain decimal digits and lists of those come back as typer's
adapter would return them; anything else (another type, a parser, a range, a value that is
not plain) goes to typer's own coercion, built when first needed, so its results and error
messages stay typer's. ``tests/unit/test_cli_fastparams.py`` checks both give the same.

typer has no hook for this: the wrap replaces ``typer.core.build_runtime_param``, the name
``_TyperParameter.get_runtime_param`` calls. If a typer release moves it, ``install`` does
nothing and the CLI is only slower."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin

# Python's int() takes more than this (spaces, "_", "+", leading zeros); pydantic's parsing
# of those is its own, so they take the slow path.
_PLAIN_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_SIMPLE = (str, bool, int)


def plain_value(annotation: Any, value: Any) -> tuple[bool, Any]:
    """(True, the coerced value) when ``value`` of ``annotation`` needs no parsing, else
    (False, None)."""
    if annotation is str:
        return (True, value) if type(value) is str else (False, None)
    if annotation is bool:
        return (True, value) if type(value) is bool else (False, None)
    if annotation is int:
        if type(value) is int:
            return True, value
        if type(value) is str and _PLAIN_INT.fullmatch(value):
            return True, int(value)
        return False, None
    if get_origin(annotation) is list and type(value) in (list, tuple):
        (item_type,) = get_args(annotation) or (None,)
        items = []
        for item in value:
            plain, coerced = plain_value(item_type, item)
            if not plain:
                return False, None
            items.append(coerced)
        return True, items
    return False, None


def _fast_enough(annotation: Any, parameter_info: Any) -> bool:
    """Whether the plain path may answer for this parameter at all: typer's adapter honours
    a parser, a range and a clamp, which the plain path does not."""
    if getattr(parameter_info, "parser", None) is not None:
        return False
    if getattr(parameter_info, "min", None) is not None:
        return False
    if getattr(parameter_info, "max", None) is not None or getattr(parameter_info, "clamp", False):
        return False
    if get_origin(annotation) is list:
        return get_args(annotation)[:1] in ((str,), (int,), (bool,))
    return annotation in _SIMPLE


def install() -> None:
    try:
        import typer.core
        from typer._coercion import RuntimeParam
    except ImportError:  # another typer layout: its own coercion, slower
        return
    original: Callable[[Any], Any] | None = getattr(typer.core, "build_runtime_param", None)
    if original is None or getattr(original, "swarmpy_fast", False):
        return
    slow_builder: Callable[[Any], Any] = original

    @dataclass(frozen=True)
    class PlainRuntimeParam(RuntimeParam):
        descriptor: Any = None
        _slow: list[Any] = field(default_factory=list)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            plain, coerced = plain_value(self.annotation, value)
            if plain:
                return coerced
            if not self._slow:
                self._slow.append(slow_builder(self.descriptor))
            return self._slow[0]._coerce_value(value, param=param, ctx=ctx)

    def build(descriptor: Any) -> Any:
        if descriptor.file_annotation is None and _fast_enough(
            descriptor.annotation, descriptor.parameter_info
        ):
            return PlainRuntimeParam(
                parameter_info=descriptor.parameter_info,
                annotation=descriptor.annotation,
                descriptor=descriptor,
            )
        return slow_builder(descriptor)

    build.swarmpy_fast = True  # type: ignore[attr-defined]
    setattr(typer.core, "build_runtime_param", build)  # noqa: B010  # not in typer.core's exports
