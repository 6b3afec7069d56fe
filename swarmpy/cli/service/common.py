"""What several `swarmpy service` commands ask the Engine API."""

from __future__ import annotations

import dataclasses
from typing import Any

from swarmpy.cli.engine import EngineClient, path_of
from swarmpy.dockerjson.service import service_spec_json
from swarmpy.model import ServiceSpec


def inspect_service(api: EngineClient, ref: str) -> dict[str, Any]:
    """The Service document of a service by name, id or id prefix."""
    doc: dict[str, Any] = api.get(path_of("services", ref))
    return doc


def image_auth(image: str) -> dict[str, str]:
    """--with-registry-auth: the stored login of the image's registry as X-Registry-Auth."""
    from swarmpy.cli import registry_auth
    from swarmpy.engine.images.reference import parse_reference

    return registry_auth.auth_header(parse_reference(image).domain)


def tagged(image: str) -> str:
    """Docker's API client's imageWithTagString: a reference without a tag or digest gets
    ``:latest``, in its familiar form (``busybox`` -> ``busybox:latest``); one that does not
    parse is left for the daemon to refuse. The client tags every spec it creates or updates
    a service with, so a service made here and updated by the docker CLI (which tags it)
    keeps an equal spec, instead of restarting every task for a spelling."""
    from swarmpy.engine.images.reference import familiar_name, parse_reference
    from swarmpy.errors import SwarmpyError

    if "@" in image or ":" in image.rsplit("/", 1)[-1]:
        return image
    try:
        return familiar_name(f"{parse_reference(image).name}:latest")
    except SwarmpyError:
        return image


def with_tagged_image(spec: ServiceSpec) -> ServiceSpec:
    container = dataclasses.replace(spec.container, image=tagged(spec.container.image))
    return dataclasses.replace(spec, container=container)


def update_service(
    api: EngineClient,
    doc: dict[str, Any],
    spec: ServiceSpec | None,
    rollback: bool = False,
    headers: dict[str, str] | None = None,
) -> None:
    """POST the new spec at the version ``doc`` was read at (a write in between is refused:
    "update out of sequence"); ``rollback`` asks for the previous spec, as Docker's CLI does,
    sending the current one as the body."""
    body = doc["Spec"] if spec is None else service_spec_json(with_tagged_image(spec))
    api.call(
        "POST",
        path_of("services", doc["ID"], "update"),
        {"version": doc["Version"]["Index"], "rollback": "previous" if rollback else None},
        body,
        headers,
    )
