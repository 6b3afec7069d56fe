"""What several `swarmpy service` commands ask the Engine API."""

from __future__ import annotations

from typing import Any

from swarmpy.cli.engine import EngineClient, path_of
from swarmpy.dockerjson.service import service_spec_json
from swarmpy.model import ServiceSpec


def inspect_service(api: EngineClient, ref: str) -> dict[str, Any]:
    """The Service document of a service by name, id or id prefix."""
    doc: dict[str, Any] = api.get(path_of("services", ref))
    return doc


def update_service(
    api: EngineClient, doc: dict[str, Any], spec: ServiceSpec | None, rollback: bool = False
) -> None:
    """POST the new spec at the version ``doc`` was read at (a write in between is refused:
    "update out of sequence"); ``rollback`` asks for the previous spec, as Docker's CLI does,
    sending the current one as the body."""
    body = doc["Spec"] if spec is None else service_spec_json(spec)
    api.post(
        path_of("services", doc["ID"], "update"),
        body,
        version=doc["Version"]["Index"],
        rollback="previous" if rollback else None,
    )
