"""Interpolation over a whole Compose file, as docker/cli's cli/compose/interpolation and
loader/interpolate.go: every string is substituted (swarmpy.compose.template), and a value
the schema wants as a number or a boolean is cast where a variable made it. Pure."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from swarmpy.compose.template import InvalidTemplate, substitute
from swarmpy.errors import InvalidArgument

ANY, ITEM = "*", "[]"


def _to_int(text: str) -> Any:
    return int(text, 10)


def _to_float(text: str) -> Any:
    return float(text)


def _to_bool(text: str) -> Any:
    # YAML 1.1's booleans, as docker/cli's toBoolean.
    lowered = text.lower()
    if lowered in ("y", "yes", "true", "on"):
        return True
    if lowered in ("n", "no", "false", "off"):
        return False
    raise ValueError(f"invalid boolean: {text}")


def _service(*parts: str) -> tuple[str, ...]:
    return ("services", ANY, *parts)


# docker/cli's interpolateTypeCastMapping.
CASTS: dict[tuple[str, ...], Callable[[str], Any]] = {
    _service("configs", ITEM, "mode"): _to_int,
    _service("secrets", ITEM, "mode"): _to_int,
    _service("healthcheck", "retries"): _to_int,
    _service("healthcheck", "disable"): _to_bool,
    _service("deploy", "replicas"): _to_int,
    _service("deploy", "update_config", "parallelism"): _to_int,
    _service("deploy", "update_config", "max_failure_ratio"): _to_float,
    _service("deploy", "rollback_config", "parallelism"): _to_int,
    _service("deploy", "rollback_config", "max_failure_ratio"): _to_float,
    _service("deploy", "restart_policy", "max_attempts"): _to_int,
    _service("deploy", "placement", "max_replicas_per_node"): _to_int,
    _service("ports", ITEM, "target"): _to_int,
    _service("ports", ITEM, "published"): _to_int,
    _service("ulimits", ANY): _to_int,
    _service("ulimits", ANY, "hard"): _to_int,
    _service("ulimits", ANY, "soft"): _to_int,
    _service("privileged"): _to_bool,
    _service("read_only"): _to_bool,
    _service("stdin_open"): _to_bool,
    _service("tty"): _to_bool,
    _service("init"): _to_bool,
    _service("volumes", ITEM, "read_only"): _to_bool,
    _service("volumes", ITEM, "volume", "nocopy"): _to_bool,
    ("networks", ANY, "external"): _to_bool,
    ("networks", ANY, "internal"): _to_bool,
    ("networks", ANY, "attachable"): _to_bool,
    ("volumes", ANY, "external"): _to_bool,
    ("secrets", ANY, "external"): _to_bool,
    ("configs", ANY, "external"): _to_bool,
}


def _matches(path: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    return len(path) == len(pattern) and all(
        want in (ANY, part) for part, want in zip(path, pattern, strict=True)
    )


def _caster(path: tuple[str, ...]) -> Callable[[str], Any] | None:
    return next((cast for pattern, cast in CASTS.items() if _matches(path, pattern)), None)


def _walk(value: Any, path: tuple[str, ...], env: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, (*path, k), env) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, (*path, ITEM), env) for v in value]
    if not isinstance(value, str):
        return value
    dotted = ".".join(path)
    try:
        new = substitute(value, env.get)
    except InvalidTemplate as e:
        raise InvalidArgument(
            f"invalid interpolation format for {dotted}: {json.dumps(e.template)}; "
            "you may need to escape any $ with another $"
        ) from None
    if new == value:
        return value
    cast = _caster(path)
    if cast is None:
        return new
    try:
        return cast(new)
    except ValueError as e:
        raise InvalidArgument(
            f"error while interpolating {dotted}: failed to cast to expected type: {e}"
        ) from None


def interpolate(config: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """``config`` (a parsed Compose file) with the variables of ``env`` substituted."""
    return {key: _walk(value, (key,), env) for key, value in config.items()}
