"""What the `swarmpy stack` commands share: a stack's name, and its objects found by label
(docker/cli's cli/command/stack/common.go)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import typer

from swarmpy.cli import engine
from swarmpy.cli.engine import EngineClient, path_of
from swarmpy.compose import LABEL_NAMESPACE
from swarmpy.errors import InvalidArgument, SwarmpyError


def check_name(name: str) -> str:
    """docker/cli's validateStackName: not only quotes and blanks."""
    if not name.strip().strip("\"'").strip():
        raise InvalidArgument(f"invalid stack name: {json.dumps(name)}")  # Go's %q
    return name


def stack_filter(namespace: str, extra: Mapping[str, list[str]] | None = None) -> str | None:
    wanted = {k: list(v) for k, v in (extra or {}).items()}
    wanted["label"] = [*wanted.get("label", []), f"{LABEL_NAMESPACE}={namespace}"]
    return engine.filters_json(wanted)


def objects(api: EngineClient, kind: str, namespace: str) -> list[dict[str, Any]]:
    """The stack's objects of one kind ("services", "networks", "secrets", "configs")."""
    docs: list[dict[str, Any]] = api.get(f"/{kind}", filters=stack_filter(namespace))
    return docs


def remove(api: EngineClient, kind: str, docs: Sequence[Mapping[str, Any]]) -> bool:
    """docker/cli's removeServices/removeSecrets/...: each named on stdout, a failure on
    stderr; True when one failed."""
    failed = False
    word = kind[:-1]
    for doc in docs:
        # Networks are spelled as Docker's: "Name" and "Id" at the top.
        name = doc["Spec"]["Name"] if "Spec" in doc else doc["Name"]
        object_id = doc.get("ID") or doc["Id"]
        typer.echo(f"Removing {word} {name}")
        try:
            api.delete(path_of(kind, object_id))
        except SwarmpyError as exc:
            typer.echo(f"Failed to remove {word} {object_id}: {engine.error_line(exc)}", err=True)
            failed = True
    return failed


def by_name(docs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(docs, key=lambda d: str(d["Spec"]["Name"]))
