"""dockerd's configuration file (daemon.json) for `swarmpy daemon --config-file`: the keys
whose flags swarmpy's daemon has, merged under the flags as dockerd merges them. Pure.

As dockerd: an unknown key, or a key also given as a flag, stops the daemon with its words;
a missing file is fine unless --config-file named it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any

from swarmpy.errors import InvalidArgument

DEFAULT_CONFIG_FILE = Path("/etc/swarmpy/daemon.json")

# daemon.json key → (the daemon command's parameter, its flag, the JSON type it takes).
KEYS: dict[str, tuple[str, str, type]] = {
    "data-root": ("data_root", "data-root", str),
    "hosts": ("host", "host", list),
    "group": ("group", "group", str),
    "insecure-registries": ("insecure_registry", "insecure-registry", list),
    "registry-mirrors": ("registry_mirror", "registry-mirror", list),
    "tlsverify": ("tlsverify", "tlsverify", bool),
    "tlscacert": ("tlscacert", "tlscacert", str),
    "tlscert": ("tlscert", "tlscert", str),
    "tlskey": ("tlskey", "tlskey", str),
    "debug": ("debug", "debug", bool),
    "node-generic-resources": ("node_generic_resource", "node-generic-resource", list),
}

_GO_TYPES = {str: "string", list: "[]string", bool: "bool"}
# What Go's JSON decoder calls a JSON value's type in its errors.
_JSON_TYPES = {str: "string", list: "array", bool: "bool", int: "number", float: "number"}


def _go_value(value: Any) -> str:
    """A value as Go's %v prints it."""
    if isinstance(value, list | tuple):
        return "[" + " ".join(str(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read(path: Path, required: bool) -> dict[str, Any]:
    """The file's settings by key (none when it is missing and not ``required``)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        if required:
            raise InvalidArgument(
                f"unable to configure the Docker daemon with file {path}: "
                f"open {path}: no such file or directory"
            ) from None
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidArgument(
            f"unable to configure the Docker daemon with file {path}: {e}"
        ) from None
    if not isinstance(data, dict):
        raise InvalidArgument(
            f"unable to configure the Docker daemon with file {path}: "
            "json: cannot unmarshal into Go value of type map[string]interface {}"
        )
    return data


def merge(
    path: Path, settings: Mapping[str, Any], flags: Mapping[str, Any], given: Set[str]
) -> dict[str, Any]:
    """The daemon command's parameters: ``flags`` (its values, by parameter) with the file's
    ``settings`` for those not ``given`` on the command line."""

    def refuse(reason: str) -> InvalidArgument:
        return InvalidArgument(f"unable to configure the Docker daemon with file {path}: {reason}")

    unknown = sorted(k for k in settings if k not in KEYS)
    if unknown:
        raise refuse(
            "the following directives don't match any configuration option: " + ", ".join(unknown)
        )
    conflicts = []
    out = dict(flags)
    for key, value in sorted(settings.items()):
        param, flag, kind = KEYS[key]
        if kind is list:
            good = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            good = isinstance(value, kind)
        if not good:
            raise refuse(
                f"json: cannot unmarshal {_JSON_TYPES.get(type(value), 'object')} into Go "
                "struct field "
                f"Config.{key} of type {_GO_TYPES[kind]}"
            )
        if param in given:
            conflicts.append(
                f"{flag}: (from flag: {_go_value(flags[param])}, from file: {_go_value(value)})"
            )
            continue
        out[param] = value
    if conflicts:
        raise refuse(
            "the following directives are specified both as a flag and in the configuration "
            "file: " + ", ".join(conflicts)
        )
    return out
