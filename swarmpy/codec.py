"""Converts model dataclasses to protobuf messages and back, by field name.

The .proto messages mirror swarmpy/model.py field for field, so one generic converter
replaces a hand-written pair of functions per type (and the drift between them).
Conventions: StrEnum ↔ string, IntEnum ↔ int32, ``tuple[tuple[str, str], ...]`` ↔
``map<string, string>``, ``tuple[X, ...]`` ↔ ``repeated X``, ``X | None`` ↔ an optional
message field (absent means None).
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any, TypeVar

from google.protobuf.message import Message

T = TypeVar("T")
M = TypeVar("M", bound=Message)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    # Resolving string annotations is slow and the classes are few: resolve each once.
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def _is_pairs(tp: Any) -> bool:
    return typing.get_origin(tp) is tuple and typing.get_args(tp)[:1] == (tuple[str, str],)


def to_proto(obj: Any, msg: M) -> M:
    """Fill ``msg`` from the dataclass ``obj`` and return it."""
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        tp, _ = _unwrap_optional(hints[f.name])
        if _is_pairs(tp):
            getattr(msg, f.name).update(dict(value))
        elif typing.get_origin(tp) is tuple:
            (item_tp, _ellipsis) = typing.get_args(tp)
            repeated = getattr(msg, f.name)
            if dataclasses.is_dataclass(item_tp):
                for item in value:
                    to_proto(item, repeated.add())
            else:
                repeated.extend(value)
        elif dataclasses.is_dataclass(tp):
            to_proto(value, getattr(msg, f.name))
        elif isinstance(value, enum.Enum):
            setattr(msg, f.name, value.value)
        else:
            setattr(msg, f.name, value)
    return msg


def from_proto(cls: type[T], msg: Message) -> T:
    """Build a ``cls`` dataclass from ``msg``."""
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        tp, optional = _unwrap_optional(hints[f.name])
        value = getattr(msg, f.name)
        if _is_pairs(tp):
            kwargs[f.name] = tuple(sorted(value.items()))
        elif typing.get_origin(tp) is tuple:
            (item_tp, _ellipsis) = typing.get_args(tp)
            if dataclasses.is_dataclass(item_tp):
                kwargs[f.name] = tuple(from_proto(item_tp, item) for item in value)  # type: ignore[arg-type]
            else:
                kwargs[f.name] = tuple(value)
        elif dataclasses.is_dataclass(tp):
            if optional and not msg.HasField(f.name):
                kwargs[f.name] = None
            else:
                kwargs[f.name] = from_proto(tp, value)  # type: ignore[arg-type]
        elif isinstance(tp, type) and issubclass(tp, enum.Enum):
            kwargs[f.name] = tp(value)
        else:
            kwargs[f.name] = value
    return cls(**kwargs)


def to_dict(obj: Any) -> Any:
    """A JSON-able form of a dataclass tree: enums as their values, label pairs as dicts."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        hints = _hints(type(obj))
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            tp, _ = _unwrap_optional(hints[f.name])
            out[f.name] = dict(value) if _is_pairs(tp) else to_dict(value)
        return out
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    return obj
