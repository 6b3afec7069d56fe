"""What `swarmpy stack deploy` does with its Compose files (docker/cli's deploy_composefile.go):
everything that can be checked is checked before the first change, then prune, networks,
secrets, configs and services, each service updated only when its spec changed. Imported when
the command runs: the Compose loader, its schemas and the image code are not for `stack ls`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import typer

from swarmpy.cli import engine
from swarmpy.cli.engine import EngineClient, path_of
from swarmpy.cli.service.common import image_auth, tagged
from swarmpy.cli.stack.common import by_name, check_name, objects, remove
from swarmpy.compose import convert, loader
from swarmpy.dockerjson.service import service_spec
from swarmpy.engine.images.reference import parse_reference
from swarmpy.errors import InvalidArgument, NotFound, SwarmpyError

# docker/cli's --resolve-image values. The daemon resolves no digest (as `service create
# --no-resolve-image` always does), so they only differ in docker.
RESOLVE_CHOICES = ("always", "changed", "never")
NOT_MANAGER = (
    'this node is not a swarm manager. Use "swarmpy swarm init" or "swarmpy swarm join" to '
    "connect this node to swarm and try again"
)


def load_project(files: Sequence[str], env: Mapping[str, str]) -> loader.Project:
    """The Compose files, merged; relative paths are the first file's directory's (the
    working directory's for stdin), as docker/cli's getConfigDetails."""
    if not files:
        raise InvalidArgument("Please specify a Compose file (with --compose-file)")
    stdin_text = sys.stdin.read() if "-" in files else None
    parsed = [loader.read_file(f, stdin_text) for f in files]
    first = files[0]
    working_dir = os.getcwd() if first == "-" else os.path.dirname(os.path.abspath(first))
    project = loader.load(parsed, env, working_dir)
    for name, service in project.services.items():
        try:
            parse_reference(str(service["image"]))
        except SwarmpyError as e:
            raise InvalidArgument(
                f"{', '.join(files)}: invalid image reference for service {name}: {e.message}"
            ) from None
    return project


def _check_external_networks(api: EngineClient, names: Sequence[str]) -> None:
    for name in names:
        try:
            doc = api.get(path_of("networks", name))
        except NotFound:
            raise InvalidArgument(
                f'network "{name}" is declared as external, but could not be found. You need '
                "to create a swarm-scoped network before the stack is deployed"
            ) from None
        if doc.get("Scope") != "swarm":
            raise InvalidArgument(
                f'network "{name}" is declared as external, but it is not in the right '
                f'scope: "{doc.get("Scope")}" instead of "swarm"'
            )


def _ids_by_name(api: EngineClient, kind: str) -> dict[str, str]:
    return {d["Spec"]["Name"]: d["ID"] for d in api.get(f"/{kind}")}


def _file_objects(api: EngineClient, kind: str, specs: Sequence[dict[str, Any]]) -> None:
    """docker/cli's createSecrets/createConfigs: a new one is created; one already there
    keeps its data (immutable) and gets the file's labels."""
    word = kind[:-1]
    existing = {d["Spec"]["Name"]: d for d in api.get(f"/{kind}")}
    for spec in specs:
        current = existing.get(spec["Name"])
        if current is None:
            typer.echo(f"Creating {word} {spec['Name']}")
            try:
                api.post(f"/{kind}/create", spec)
            except SwarmpyError as e:
                raise SwarmpyError(f"failed to create {word} {spec['Name']}: {e.message}") from None
            continue
        if (current["Spec"].get("Labels") or {}) == spec["Labels"]:
            continue
        body = {"Name": spec["Name"], "Labels": spec["Labels"]}
        try:
            api.post(
                path_of(kind, current["ID"], "update"), body, version=current["Version"]["Index"]
            )
        except SwarmpyError as e:
            raise SwarmpyError(f"failed to update {word} {spec['Name']}: {e.message}") from None


def _check_immutable(api: EngineClient, configs: Sequence[dict[str, Any]]) -> None:
    """A config already there with other data: SwarmKit's answer to the update docker/cli
    would send, given before anything changes (a secret's data is never shown, so the
    daemon alone can tell, and keeps the old)."""
    existing = {d["Spec"]["Name"]: d for d in api.get("/configs")}
    for spec in configs:
        data = existing.get(spec["Name"], {}).get("Spec", {}).get("Data")
        if data is not None and data != spec["Data"]:
            raise SwarmpyError(
                f"failed to update config {spec['Name']}: only updates to Labels are allowed"
            )


def _check_externals(api: EngineClient, project: loader.Project) -> None:
    for kind in ("secrets", "configs"):
        known = _ids_by_name(api, kind)
        for name in convert.external_objects(kind, project):
            if name not in known:
                raise InvalidArgument(f"{kind[:-1]} not found: {name}")


def update_body(body: dict[str, Any], current: Mapping[str, Any]) -> dict[str, Any] | None:
    """The spec to send for a service already there, or None when it would change nothing:
    both read as the daemon reads a ServiceSpec, so defaults, order and spelling do not count.
    Stack deploy has no --force: the service's counter is kept, as docker/cli keeps it."""
    body = {**body, "TaskTemplate": dict(body["TaskTemplate"])}
    body["TaskTemplate"]["ForceUpdate"] = current["TaskTemplate"].get("ForceUpdate", 0)
    return None if service_spec(body) == service_spec(current) else body


def _deploy_services(
    api: EngineClient,
    namespace: str,
    specs: Mapping[str, dict[str, Any]],
    registry_auth: bool,
) -> None:
    """docker/cli's deployServices, updating only what changed; with ``registry_auth``, each
    request carries the login of its image's registry, as --with-registry-auth sends it."""
    secret_ids = _ids_by_name(api, "secrets")
    config_ids = _ids_by_name(api, "configs")
    network_ids = {n["Name"]: n["Id"] for n in api.get("/networks")}
    existing = {s["Spec"]["Name"]: s for s in objects(api, "services", namespace)}
    for _short, spec in sorted(specs.items()):
        name = spec["Name"]
        body = convert.with_ids(spec, secret_ids, config_ids, network_ids)
        current = existing.get(name)
        image = body["TaskTemplate"]["ContainerSpec"]["Image"]
        headers = image_auth(image) if registry_auth else {}
        if current is None:
            typer.echo(f"Creating service {name}")
            try:
                api.call("POST", "/services/create", None, body, headers)
            except SwarmpyError as e:
                raise SwarmpyError(f"failed to create service {name}: {e.message}") from None
            continue
        typer.echo(f"Updating service {name} (id: {current['ID']})")
        update = update_body(body, current["Spec"])
        if update is None:
            continue
        try:
            api.call(
                "POST",
                path_of("services", current["ID"], "update"),
                {"version": current["Version"]["Index"]},
                update,
                headers,
            )
        except SwarmpyError as e:
            raise SwarmpyError(f"failed to update service {name}: {e.message}") from None


def run(
    stack: str,
    files: Sequence[str],
    prune: bool,
    resolve_image: str,
    with_registry_auth: bool,
) -> None:
    """docker/cli's stack deploy with its options, read."""
    if resolve_image not in RESOLVE_CHOICES:
        raise InvalidArgument(f"Invalid option {resolve_image} for flag --resolve-image")
    namespace = check_name(stack)
    project = load_project(files, os.environ)
    for line in project.warnings:
        typer.echo(f"{line}\n", err=True)
    # Conversion reads the secrets' and configs' files and checks every key: all before the
    # first change, as is the daemon's reading of each spec. Its errors name the files.
    try:
        creates, external_networks = convert.networks(namespace, project)
        secrets = convert.file_objects("secrets", namespace, project)
        configs = convert.file_objects("configs", namespace, project)
        specs = convert.services(namespace, project)
        for short, spec in specs.items():
            container = spec["TaskTemplate"]["ContainerSpec"]
            container["Image"] = tagged(container["Image"])
            try:
                service_spec(spec)
            except SwarmpyError as e:
                raise InvalidArgument(f"services.{short}: {e.message}") from None
    except InvalidArgument as e:
        raise InvalidArgument(f"{', '.join(files)}: {e.message}") from None
    api = engine.connect()
    info = api.get("/info")
    if not (info.get("Swarm") or {}).get("ControlAvailable"):
        raise SwarmpyError(NOT_MANAGER)
    _check_external_networks(api, external_networks)
    _check_externals(api, project)
    _check_immutable(api, configs)

    if prune:
        stale = [
            s
            for s in objects(api, "services", namespace)
            if s["Spec"]["Name"].removeprefix(f"{namespace}_") not in project.services
        ]
        remove(api, "services", by_name(stale))
    present = {n["Name"] for n in objects(api, "networks", namespace)}
    for name, body in sorted(creates.items()):
        if name in present:
            continue
        typer.echo(f"Creating network {name}")
        try:
            api.post("/networks/create", body)
        except SwarmpyError as e:
            raise SwarmpyError(f"failed to create network {name}: {e.message}") from None
    _file_objects(api, "secrets", secrets)
    _file_objects(api, "configs", configs)
    _deploy_services(api, namespace, specs, with_registry_auth)
