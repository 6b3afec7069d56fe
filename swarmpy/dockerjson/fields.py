"""Reading a client's JSON strictly: every key is either taken, or accepted only at its zero
value, or refused by name.

Docker's Go clients send many fields at their zero value (``"DNSConfig": {}``,
``"Placement": {}``, ``"TTY": false``): Go's JSON means "not set" by them, so a field swarmpy
lacks, or does not know (a newer API's), is accepted only at its zero value. Anything else it
cannot honour is refused with a 400 naming the field, never dropped, so a spec that asks for a
healthcheck or a published port does not silently run without one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from swarmpy.errors import InvalidArgument

NANOS = 1_000_000_000


def is_zero(value: Any) -> bool:
    """Go's zero value: null, "", 0, false, and lists or objects of nothing but zeros."""
    if value is None or value is False or value == "" or value == 0:
        return True
    if isinstance(value, list):
        return not value
    if isinstance(value, dict):
        return all(is_zero(v) for v in value.values())
    return False


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else "null"
    )


class Fields:
    """One JSON object of a request, read key by key; ``done()`` refuses what is left."""

    def __init__(self, value: Any, path: str = "") -> None:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise InvalidArgument(
                f"invalid {path or 'body'}: expected an object, got {_kind(value)}"
            )
        # Go's JSON decoder matches keys case-insensitively, and clients rely on it: docker-py
        # sends a service's mode as {"replicated": {"Replicas": 3}}.
        self._values: dict[str, Any] = {}
        self._spelling: dict[str, str] = {}
        for key, item in value.items():
            self._values[key.lower()] = item
            self._spelling[key.lower()] = key
        self.path = path

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _take(self, key: str) -> Any:
        return self._values.pop(key.lower(), None)

    def keys(self) -> list[str]:
        """The keys not taken yet, as the client spelled them (a map's own keys)."""
        return [self._spelling[k] for k in self._values]

    def raw(self, key: str) -> Any:
        """The value as sent, taken without a check (the caller checks it)."""
        return self._take(key)

    def peek(self, key: str) -> Any:
        """The value as sent, left in place."""
        return self._values.get(key.lower())

    def _bad(self, key: str, expected: str, value: Any) -> InvalidArgument:
        return InvalidArgument(f"invalid {self.name(key)}: expected {expected}, got {_kind(value)}")

    def text(self, key: str, default: str = "") -> str:
        value = self._take(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._bad(key, "a string", value)
        return value

    def integer(self, key: str, default: int = 0) -> int:
        value = self._take(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(key, "an integer", value)
        return value

    def number(self, key: str, default: float = 0.0) -> float:
        value = self._take(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._bad(key, "a number", value)
        return float(value)

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._take(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._bad(key, "a boolean", value)
        return value

    def seconds(self, key: str, default: float) -> float:
        """A Go time.Duration (nanoseconds) as seconds."""
        nanos = self._take(key)
        if nanos is None:
            return default
        if isinstance(nanos, bool) or not isinstance(nanos, int):
            raise self._bad(key, "an integer of nanoseconds", nanos)
        return nanos / NANOS

    def strings(self, key: str) -> tuple[str, ...]:
        value = self._take(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(key, "an array of strings", value)
        return tuple(value)

    def labels(self, key: str) -> tuple[tuple[str, str], ...]:
        """A string map, as sorted pairs (the model's form of labels)."""
        value = self._take(key)
        if value is None:
            return ()
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self._bad(key, "an object of strings", value)
        return tuple(sorted(value.items()))

    def obj(self, key: str) -> Fields | None:
        """A nested object (None when absent or null)."""
        value = self._take(key)
        return None if value is None else Fields(value, self.name(key))

    def objs(self, key: str) -> list[Fields]:
        value = self._take(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._bad(key, "an array of objects", value)
        return [Fields(v, f"{self.name(key)}[{i}]") for i, v in enumerate(value)]

    def unsupported(self, keys: Iterable[str], zeros: dict[str, Any] | None = None) -> None:
        """Docker fields swarmpy has no use for: accepted only at their zero value (or the
        value ``zeros`` names as meaning the same, e.g. Isolation "default")."""
        for key in keys:
            value = self._take(key)
            if is_zero(value) or (zeros is not None and zeros.get(key) == value):
                continue
            raise self._unsupported(key)

    def unsupported_maps(self, keys: Iterable[str]) -> None:
        """Docker map fields swarmpy has no use for: accepted only empty. A map with an entry
        asks for something whatever its values (``--tmpfs /t`` sends {"/t": ""}), where an
        object of zeros is a struct left unset."""
        for key in keys:
            if self._take(key):
                raise self._unsupported(key)

    def _unsupported(self, key: str) -> InvalidArgument:
        return InvalidArgument(f"unsupported field {self.name(key)}: swarmpy does not implement it")

    def done(self, *, strict: bool = False) -> None:
        """Refuse the keys nobody took, but those at their zero value: a Go client newer than
        the API it negotiated sends its newer fields at zero ("not set"; Docker CLI 28's
        ``EndpointsConfig.*.DNSNames``), which dockerd, ignoring unknown keys, takes. Whatever
        asks for something is still refused. ``strict``: refuse even a zero (a key that
        chooses, as a service's mode does)."""
        for key in sorted(self._values):
            if strict or not is_zero(self._values[key]):
                raise InvalidArgument(f"unknown field {self.name(self._spelling[key])}")
