"""Converts model dataclasses to protobuf messages and back, by field name.

The .proto messages mirror swarmpy/model.py field for field, so one generic converter
replaces a hand-written pair of functions per type (and the drift between them).
Conventions: StrEnum ↔ string, IntEnum ↔ int32, ``tuple[tuple[str, str], ...]`` ↔
``map<string, string>``, ``tuple[X, ...]`` ↔ ``repeated X``, ``X | None`` ↔ an optional
message field (absent means None).

A class may declare ``__proto_shared__ = True``: its objects are immutable and shared by
many messages (a service's spec, carried by every task made from it). Such an object is
converted once and then copied into each message as its serialized bytes, and converting
back looks those bytes up among the objects made before, so the tasks of one service share
one spec object on the receiving side too. A spec was three quarters of the time to convert
a task either way, and the dispatcher converts every task it assigns.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import Message

from swarmpy.interning import Interned

T = TypeVar("T")
M = TypeVar("M", bound=Message)


class _Kind(enum.Enum):
    PAIRS = "map<string, string>"
    MESSAGES = "repeated message"
    SCALARS = "repeated scalar"
    MESSAGE = "message"
    SHARED = "message of a shared object"
    ENUM = "enum"
    PLAIN = "scalar"


@dataclass(frozen=True)
class _Field:
    name: str
    kind: _Kind
    cls: Any  # the nested dataclass (MESSAGE, MESSAGES) or enum class (ENUM)
    optional: bool


_PLANS: dict[type, tuple[_Field, ...]] = {}


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def _field(name: str, hint: Any) -> _Field:
    tp, optional = _unwrap_optional(hint)
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        if item == tuple[str, str]:
            return _Field(name, _Kind.PAIRS, None, optional)
        kind = _Kind.MESSAGES if dataclasses.is_dataclass(item) else _Kind.SCALARS
        return _Field(name, kind, item, optional)
    if dataclasses.is_dataclass(tp):
        shared = getattr(tp, "__proto_shared__", False)
        return _Field(name, _Kind.SHARED if shared else _Kind.MESSAGE, tp, optional)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _Field(name, _Kind.ENUM, tp, optional)
    return _Field(name, _Kind.PLAIN, None, optional)


def _plan(cls: type) -> tuple[_Field, ...]:
    # Reading type hints on every conversion cost more than the conversion itself (the
    # dispatcher converts thousands of tasks): each class is analysed once.
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = _PLANS[cls] = tuple(_field(f.name, hints[f.name]) for f in dataclasses.fields(cls))
    return plan


def to_proto(obj: Any, msg: M) -> M:
    """Fill ``msg`` from the dataclass ``obj`` and return it."""
    for f in _plan(type(obj)):
        value = getattr(obj, f.name)
        if value is None:
            continue
        kind = f.kind
        if kind is _Kind.PLAIN:
            setattr(msg, f.name, value)
        elif kind is _Kind.ENUM:
            setattr(msg, f.name, value.value)
        elif kind is _Kind.MESSAGE:
            to_proto(value, getattr(msg, f.name))
        elif kind is _Kind.SHARED:
            _shared_to_proto(value, getattr(msg, f.name))
        elif kind is _Kind.MESSAGES:
            repeated = getattr(msg, f.name)
            for item in value:
                to_proto(item, repeated.add())
        elif kind is _Kind.SCALARS:
            getattr(msg, f.name).extend(value)
        else:
            getattr(msg, f.name).update(dict(value))
    return msg


def from_proto(cls: type[T], msg: Message) -> T:
    """Build a ``cls`` dataclass from ``msg``."""
    kwargs: dict[str, Any] = {}
    for f in _plan(cls):
        value = getattr(msg, f.name)
        kind = f.kind
        if kind is _Kind.PLAIN:
            kwargs[f.name] = value
        elif kind is _Kind.ENUM:
            kwargs[f.name] = f.cls(value)
        elif kind is _Kind.MESSAGE or kind is _Kind.SHARED:
            if f.optional and not msg.HasField(f.name):
                kwargs[f.name] = None
            elif kind is _Kind.SHARED:
                kwargs[f.name] = _shared_from_proto(f.cls, value)
            else:
                kwargs[f.name] = from_proto(f.cls, value)
        elif kind is _Kind.MESSAGES:
            kwargs[f.name] = tuple(from_proto(f.cls, item) for item in value)
        elif kind is _Kind.SCALARS:
            kwargs[f.name] = tuple(value)
        else:
            kwargs[f.name] = tuple(sorted(value.items()))
    return cls(**kwargs)


# The attribute a shared object keeps its serialized message under: not a field, so
# equality, repr, replace and pickling never see it.
_SERIALIZED = "_proto"
# Shared objects made from messages, by class and serialized bytes; one not among them
# still converts, as an object of its own.
SHARED_CACHE_SIZE = 4096
_shared: Interned[tuple[type, bytes], Any] = Interned(SHARED_CACHE_SIZE)


def _shared_to_proto(obj: Any, msg: Message) -> None:
    data = obj.__dict__.get(_SERIALIZED)
    if data is None:
        data = to_proto(obj, type(msg)()).SerializeToString()
        object.__setattr__(obj, _SERIALIZED, data)
    msg.SetInParent()  # present even if every field is at its default, as to_proto makes it
    msg.MergeFromString(data)


def _shared_from_proto(cls: type[T], msg: Message) -> T:
    data = msg.SerializeToString()

    def convert() -> T:
        made = from_proto(cls, msg)
        object.__setattr__(made, _SERIALIZED, data)
        return made

    return typing.cast(T, _shared.get((cls, data), convert))


def to_dict(obj: Any) -> Any:
    """A JSON-able form of a dataclass tree: enums as their values, label pairs as dicts."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in _plan(type(obj)):
            value = getattr(obj, f.name)
            out[f.name] = dict(value) if f.kind is _Kind.PAIRS else to_dict(value)
        return out
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    return obj
