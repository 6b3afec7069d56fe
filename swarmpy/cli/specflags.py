"""Parsing of the `service create/update` flags into a ServiceSpec (pure, unit-tested).

Values are checked where they are parsed, by the control API's own checks
(swarmpy.manager.controlapi.validate), so the CLI refuses early in the managers' words; the
managers check again, whatever the client.
"""

from __future__ import annotations

import enum
import re
import shlex
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from swarmpy.errors import InvalidArgument
from swarmpy.manager.controlapi import validate
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
        raise InvalidArgument(
            f"invalid argument {validate.quoted(value)} for {flag}: use {allowed}"
        ) from None


def duration(text: str) -> float:
    """'5s', '1m', '300ms', '2' → seconds (Go duration subset, as docker accepts)."""
    m = _DURATION.match(text.strip())
    if not m:
        raise InvalidArgument(f"invalid duration {validate.quoted(text)}: use e.g. 5s, 1m, 300ms")
    value, unit = float(m.group(1)), m.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def memory_bytes(text: str) -> int:
    """'64m', '1g', '512M', '1024' → bytes (docker's units are powers of 1024)."""
    m = _BYTES.match(text.strip())
    if not m:
        raise InvalidArgument(f"invalid size {validate.quoted(text)}: use e.g. 64m, 1g")
    # Exact: a float of a long number is inf, and inf bytes no int.
    value, unit = Decimal(m.group(1)), m.group(2).lower()
    size = int(value * 1024 ** "_kmgt".index(unit or "_"))
    validate.check_memory(size)
    return size


def nano_cpus(text: str) -> int:
    """'0.5', '2' → nano CPUs, checked as the managers check them."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = Decimal("nan")
    # Not a number, or more digits than any CPU count has (int() of 1e999999999 would
    # build a number of a billion digits).
    if not value.is_finite() or value.adjusted() > 18:
        raise InvalidArgument(f"invalid CPU value {validate.quoted(text)}: use e.g. 0.5 or 2")
    nano = int(value * 1_000_000_000)
    validate.check_cpus(nano)
    return nano


def words(text: str, flag: str) -> tuple[str, ...]:
    """A flag holding a command line (``--args "sh -c 'echo hi'"``), split as a shell would."""
    try:
        return tuple(shlex.split(text))
    except ValueError as exc:  # an unterminated quote
        raise InvalidArgument(f"invalid {flag} {validate.quoted(text)}: {exc}") from None


def key_values(items: Sequence[str], what: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid {what} {validate.quoted(item)}: expected key=value")
        validate.check_label(key, value, what)
        pairs.append((key, value if sep else ""))
    return tuple(sorted(dict(pairs).items()))


def env_list(current: Sequence[str], add: Sequence[str], remove: Sequence[str]) -> tuple[str, ...]:
    """Apply --env-add/--env-rm to an env list; the last value of a key wins."""
    env: dict[str, str] = {}
    for item in [*current, *add]:
        validate.check_env_entry(item)
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
        raise InvalidArgument(
            f"invalid mount type {validate.quoted(kind)}: use bind, volume or tmpfs"
        ) from None
    target = fields.get("target") or fields.get("destination") or fields.get("dst")
    if not target:
        raise InvalidArgument(f"invalid mount {validate.quoted(text)}: target is required")
    source = fields.get("source") or fields.get("src") or ""
    if mount_type == MountType.BIND and not source:
        raise InvalidArgument(
            f"invalid mount {validate.quoted(text)}: source is required for bind mounts"
        )
    readonly = fields.get("readonly", fields.get("ro", "false")).lower() in ("true", "1", "")
    return Mount(type=mount_type, target=target, source=source, readonly=readonly)


def scale_pairs(items: Sequence[str]) -> list[tuple[str, int]]:
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidArgument(
                f"invalid scale specifier {validate.quoted(item)}: expected SERVICE=REPLICAS"
            )
        try:
            replicas = int(value)
        except ValueError:
            raise InvalidArgument(f"invalid replicas value for {name}: {value}") from None
        validate.check_replicas(replicas)
        pairs.append((name, replicas))
    return pairs
