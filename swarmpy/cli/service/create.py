"""`swarmpy service create`: the flags become a ServiceSpec, POSTed to the Engine API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from swarmpy.cli import containerflags, engine
from swarmpy.cli.flagerror import flag_errors
from swarmpy.cli.progress import wait_for_convergence
from swarmpy.cli.service import filerefs
from swarmpy.cli.service import flags as F
from swarmpy.cli.service.common import image_auth, with_tagged_image
from swarmpy.cli.service.options import CreateOptions, create_spec
from swarmpy.dockerjson.service import service_spec_json


@F.with_shared_flags
def create(
    image: str = typer.Argument(..., metavar="IMAGE"),
    args: list[str] = typer.Argument(None, metavar="[COMMAND] [ARG...]"),
    name: str = typer.Option("", "--name", help="Service name"),
    mode: str = typer.Option(
        "replicated",
        "--mode",
        help="Service mode (replicated, global, replicated-job, or global-job)",
    ),
    env: list[str] = containerflags.ENV,
    env_file: list[str] = containerflags.ENV_FILE,
    label: list[str] = typer.Option([], "--label", "-l", help="Service labels"),
    container_label: list[str] = typer.Option([], "--container-label", help="Container labels"),
    constraint: list[str] = typer.Option([], "--constraint", help="Placement constraints"),
    placement_pref: list[str] = typer.Option(
        [], "--placement-pref", help="Add a placement preference"
    ),
    network: list[str] = typer.Option([], "--network", help="Network attachments"),
    publish: list[str] = F.PUBLISH,
    mount: list[str] = typer.Option([], "--mount", help="Attach a filesystem mount to the service"),
    secret: list[str] = typer.Option(
        [], "--secret", help="Specify secrets to expose to the service"
    ),
    config: list[str] = typer.Option(
        [], "--config", help="Specify configurations to expose to the service"
    ),
    cap_add: list[str] = containerflags.CAP_ADD,
    cap_drop: list[str] = containerflags.CAP_DROP,
    group: list[str] = typer.Option(
        [], "--group", help="Set one or more supplementary user groups for the container"
    ),
    dns: list[str] = typer.Option([], "--dns", help="Set custom DNS servers"),
    dns_search: list[str] = typer.Option([], "--dns-search", help="Set custom DNS search domains"),
    dns_option: list[str] = typer.Option([], "--dns-option", help="Set DNS options"),
    host: list[str] = typer.Option(
        [], "--host", help="Set one or more custom host-to-IP mappings (host:ip)"
    ),
    sysctl: list[str] = typer.Option([], "--sysctl", help="Sysctl options"),
    ulimit: list[str] = typer.Option([], "--ulimit", help="Ulimit options"),
    read_only: bool = typer.Option(
        False,
        "--read-only/--no-read-only",
        show_default=False,
        help="Mount the container's root filesystem as read only",
    ),
    init: bool = typer.Option(
        False,
        "--init/--no-init",
        show_default=False,
        help="Use an init inside each service container to forward signals and reap processes",
    ),
    tty: bool = typer.Option(
        False, "--tty/--no-tty", "-t", show_default=False, help="Allocate a pseudo-TTY"
    ),
    generic_resource: list[str] = typer.Option(
        [], "--generic-resource", help="User defined resources"
    ),
    shared: Mapping[str, Any] = F.SHARED_FLAGS,
    log_driver: str | None = typer.Option(None, "--log-driver", help="Logging driver for service"),
    log_opt: list[str] = typer.Option([], "--log-opt", help="Logging driver options"),
    no_resolve_image: bool = F.NO_RESOLVE_IMAGE,
    with_registry_auth: bool = F.WITH_REGISTRY_AUTH,
    detach: bool = F.DETACH,
    quiet: bool = F.QUIET,
) -> None:
    """Create a new service."""
    with flag_errors():
        spec = create_spec(
            CreateOptions(
                image=image,
                args=tuple(args or ()),
                name=name,
                mode=mode,
                env=tuple(env),
                env_file=tuple(env_file),
                labels=tuple(label),
                container_labels=tuple(container_label),
                constraints=tuple(constraint),
                placement_prefs=tuple(placement_pref),
                networks=tuple(network),
                publish=tuple(publish),
                mounts=tuple(mount),
                secrets=tuple(secret),
                configs=tuple(config),
                cap_add=tuple(cap_add),
                cap_drop=tuple(cap_drop),
                groups=tuple(group),
                dns=tuple(dns),
                dns_search=tuple(dns_search),
                dns_options=tuple(dns_option),
                hosts=tuple(host),
                sysctls=tuple(sysctl),
                ulimits=tuple(ulimit),
                read_only=read_only,
                init=init,
                tty=tty,
                log_driver=log_driver,
                log_opts=tuple(log_opt),
                generic_resources=tuple(generic_resource),
                **shared,
            )
        )
    api = engine.connect()
    spec = with_tagged_image(filerefs.resolve_spec(api, spec))
    headers = image_auth(spec.container.image) if with_registry_auth else {}
    reply = api.call("POST", "/services/create", None, service_spec_json(spec), headers)
    for warning in reply.get("Warnings") or []:
        typer.echo(warning, err=True)
    typer.echo(reply["ID"])
    if not detach:
        wait_for_convergence(api, reply["ID"], quiet=quiet)
