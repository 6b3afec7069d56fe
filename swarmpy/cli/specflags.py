"""Parsing of the `service create/update` flags into a ServiceSpec (pure, unit-tested)."""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from typing import TypeVar

from swarmpy.errors import InvalidArgument
from swarmpy.model import Mount, MountType

E = TypeVar("E", bound=enum.Enum)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_BYTES = re.compile(r"^(\d+(?:\.\d+)?)([kmgt]?)(i?b)?$", re.IGNORECASE)


def choice(value: str, kind: type[E], flag: str) -> E:
    """A flag's value as one of an enum's, or an error naming the allowed ones."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(e.value) for e in kind)
        raise InvalidArgument(f"invalid argument {value!r} for {flag}: use {allowed}") from None


def duration(text: str) -> float:
    """'5s', '1m', '300ms', '2' → seconds (Go duration subset, as docker accepts)."""
    m = _DURATION.match(text.strip())
    if not m:
        raise InvalidArgument(f"invalid duration {text!r}: use e.g. 5s, 1m, 300ms")
    value, unit = float(m.group(1)), m.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def memory_bytes(text: str) -> int:
    """'64m', '1g', '512M', '1024' → bytes (docker's units are powers of 1024)."""
    m = _BYTES.match(text.strip())
    if not m:
        raise InvalidArgument(f"invalid size {text!r}: use e.g. 64m, 1g")
    value, unit = float(m.group(1)), m.group(2).lower()
    return int(value * 1024 ** "_kmgt".index(unit or "_"))


def nano_cpus(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise InvalidArgument(f"invalid CPU value {text!r}: use e.g. 0.5 or 2") from None
    if value < 0:
        raise InvalidArgument(f"invalid CPU value {text!r}: must be positive")
    return int(value * 1_000_000_000)


def key_values(items: Sequence[str], what: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid {what} {item!r}: expected key=value")
        pairs.append((key, value if sep else ""))
    return tuple(sorted(dict(pairs).items()))


def env_list(current: Sequence[str], add: Sequence[str], remove: Sequence[str]) -> tuple[str, ...]:
    """Apply --env-add/--env-rm to an env list; the last value of a key wins."""
    env: dict[str, str] = {}
    for item in [*current, *add]:
        if "=" not in item:
            raise InvalidArgument(f"invalid environment variable {item!r}: expected KEY=VALUE")
        key, _, value = item.partition("=")
        env[key] = value
    for key in remove:
        env.pop(key.partition("=")[0], None)
    return tuple(f"{k}={v}" for k, v in env.items())


def mount(text: str) -> Mount:
    """--mount type=bind,source=/a,target=/b[,readonly]; type defaults to volume."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        fields[key.strip().lower()] = value.strip() if sep else "true"
    kind = fields.get("type", "volume")
    try:
        mount_type = MountType(kind)
    except ValueError:
        raise InvalidArgument(f"invalid mount type {kind!r}: use bind, volume or tmpfs") from None
    target = fields.get("target") or fields.get("destination") or fields.get("dst")
    if not target:
        raise InvalidArgument(f"invalid mount {text!r}: target is required")
    source = fields.get("source") or fields.get("src") or ""
    if mount_type == MountType.BIND and not source:
        raise InvalidArgument(f"invalid mount {text!r}: source is required for bind mounts")
    readonly = fields.get("readonly", fields.get("ro", "false")).lower() in ("true", "1", "")
    return Mount(type=mount_type, target=target, source=source, readonly=readonly)


def scale_pairs(items: Sequence[str]) -> list[tuple[str, int]]:
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidArgument(f"invalid scale specifier {item!r}: expected SERVICE=REPLICAS")
        try:
            replicas = int(value)
        except ValueError:
            raise InvalidArgument(f"invalid replicas value for {name}: {value}") from None
        if replicas < 0:
            raise InvalidArgument(f"invalid replicas value for {name}: {value}")
        pairs.append((name, replicas))
    return pairs
