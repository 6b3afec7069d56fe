"""`swarmpy service update`: flags change the current spec (read with its version, sent back
with ``?version=``); --rollback asks the daemon for the previous spec (``rollback=previous``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from swarmpy.cli import containerflags, engine
from swarmpy.cli.engine import path_of
from swarmpy.cli.flagerror import flag_errors
from swarmpy.cli.progress import wait_for_convergence
from swarmpy.cli.service import filerefs
from swarmpy.cli.service import flags as F
from swarmpy.cli.service.common import image_auth, inspect_service, update_service
from swarmpy.cli.service.options import UpdateOptions, check_update_flags, update_spec
from swarmpy.dockerjson.service import service_spec
from swarmpy.errors import InvalidArgument


def _list(help: str, *names: str) -> list[str]:
    value: list[str] = typer.Option([], *names, help=help)
    return value


@F.with_shared_flags
def update(
    ref: str = typer.Argument(..., metavar="SERVICE"),
    image: str | None = typer.Option(None, "--image", help="Service image tag"),
    args: str | None = typer.Option(None, "--args", help="Service command args"),
    env_add: list[str] = _list("Add or update an environment variable", "--env-add"),
    env_rm: list[str] = _list("Remove an environment variable", "--env-rm"),
    label_add: list[str] = _list("Add or update a service label", "--label-add"),
    label_rm: list[str] = _list("Remove a label by its key", "--label-rm"),
    container_label_add: list[str] = _list(
        "Add or update a container label", "--container-label-add"
    ),
    container_label_rm: list[str] = _list(
        "Remove a container label by its key", "--container-label-rm"
    ),
    constraint_add: list[str] = _list("Add or update a placement constraint", "--constraint-add"),
    constraint_rm: list[str] = _list("Remove a constraint", "--constraint-rm"),
    placement_pref_add: list[str] = _list("Add a placement preference", "--placement-pref-add"),
    placement_pref_rm: list[str] = _list("Remove a placement preference", "--placement-pref-rm"),
    network_add: list[str] = _list("Add a network", "--network-add"),
    network_rm: list[str] = _list("Remove a network", "--network-rm"),
    publish_add: list[str] = _list("Add or update a published port", "--publish-add"),
    publish_rm: list[str] = _list("Remove a published port by its target port", "--publish-rm"),
    mount_add: list[str] = _list("Add or update a mount on a service", "--mount-add"),
    mount_rm: list[str] = _list("Remove a mount by its target path", "--mount-rm"),
    secret_add: list[str] = _list("Add or update a secret on a service", "--secret-add"),
    secret_rm: list[str] = _list("Remove a secret", "--secret-rm"),
    config_add: list[str] = _list("Add or update a config file on a service", "--config-add"),
    config_rm: list[str] = _list("Remove a configuration file", "--config-rm"),
    cap_add: list[str] = containerflags.CAP_ADD,
    cap_drop: list[str] = containerflags.CAP_DROP,
    group_add: list[str] = _list(
        "Add an additional supplementary user group to the container", "--group-add"
    ),
    group_rm: list[str] = _list(
        "Remove a previously added supplementary user group from the container", "--group-rm"
    ),
    dns_add: list[str] = _list("Add or update a custom DNS server", "--dns-add"),
    dns_rm: list[str] = _list("Remove a custom DNS server", "--dns-rm"),
    dns_search_add: list[str] = _list(
        "Add or update a custom DNS search domain", "--dns-search-add"
    ),
    dns_search_rm: list[str] = _list("Remove a DNS search domain", "--dns-search-rm"),
    dns_option_add: list[str] = _list("Add or update a DNS option", "--dns-option-add"),
    dns_option_rm: list[str] = _list("Remove a DNS option", "--dns-option-rm"),
    host_add: list[str] = _list("Add a custom host-to-IP mapping (host:ip)", "--host-add"),
    host_rm: list[str] = _list("Remove a custom host-to-IP mapping (host:ip)", "--host-rm"),
    sysctl_add: list[str] = _list("Add or update a Sysctl option", "--sysctl-add"),
    sysctl_rm: list[str] = _list("Remove a Sysctl option", "--sysctl-rm"),
    ulimit_add: list[str] = _list("Add or update a ulimit option", "--ulimit-add"),
    ulimit_rm: list[str] = _list("Remove a ulimit option", "--ulimit-rm"),
    generic_resource_add: list[str] = _list("Add a Generic resource", "--generic-resource-add"),
    generic_resource_rm: list[str] = _list("Remove a Generic resource", "--generic-resource-rm"),
    read_only: bool | None = typer.Option(
        None,
        "--read-only/--no-read-only",
        show_default=False,
        help="Mount the container's root filesystem as read only",
    ),
    init: bool | None = typer.Option(
        None,
        "--init/--no-init",
        show_default=False,
        help="Use an init inside each service container to forward signals and reap processes",
    ),
    tty: bool | None = typer.Option(
        None, "--tty/--no-tty", "-t", show_default=False, help="Allocate a pseudo-TTY"
    ),
    shared: Mapping[str, Any] = F.SHARED_FLAGS,
    force: bool = typer.Option(False, "--force", help="Force update even if no changes require it"),
    rollback: bool = typer.Option(False, "--rollback", help="Rollback to previous specification"),
    log_driver: str | None = typer.Option(None, "--log-driver", help="Logging driver for service"),
    log_opt: list[str] = typer.Option([], "--log-opt", help="Logging driver options"),
    no_resolve_image: bool = F.NO_RESOLVE_IMAGE,
    with_registry_auth: bool = F.WITH_REGISTRY_AUTH,
    detach: bool = F.DETACH,
    quiet: bool = F.QUIET,
) -> None:
    """Update a service."""
    options = UpdateOptions(
        image=image,
        args=args,
        force=force,
        env_add=tuple(env_add),
        env_rm=tuple(env_rm),
        label_add=tuple(label_add),
        label_rm=tuple(label_rm),
        container_label_add=tuple(container_label_add),
        container_label_rm=tuple(container_label_rm),
        constraint_add=tuple(constraint_add),
        constraint_rm=tuple(constraint_rm),
        placement_pref_add=tuple(placement_pref_add),
        placement_pref_rm=tuple(placement_pref_rm),
        network_add=tuple(network_add),
        network_rm=tuple(network_rm),
        publish_add=tuple(publish_add),
        publish_rm=tuple(publish_rm),
        mount_add=tuple(mount_add),
        mount_rm=tuple(mount_rm),
        secret_add=tuple(secret_add),
        secret_rm=tuple(secret_rm),
        config_add=tuple(config_add),
        config_rm=tuple(config_rm),
        cap_add=tuple(cap_add),
        cap_drop=tuple(cap_drop),
        group_add=tuple(group_add),
        group_rm=tuple(group_rm),
        dns_add=tuple(dns_add),
        dns_rm=tuple(dns_rm),
        dns_search_add=tuple(dns_search_add),
        dns_search_rm=tuple(dns_search_rm),
        dns_option_add=tuple(dns_option_add),
        dns_option_rm=tuple(dns_option_rm),
        host_add=tuple(host_add),
        host_rm=tuple(host_rm),
        sysctl_add=tuple(sysctl_add),
        sysctl_rm=tuple(sysctl_rm),
        ulimit_add=tuple(ulimit_add),
        ulimit_rm=tuple(ulimit_rm),
        generic_resource_add=tuple(generic_resource_add),
        generic_resource_rm=tuple(generic_resource_rm),
        read_only=read_only,
        init=init,
        tty=tty,
        log_driver=log_driver,
        log_opts=tuple(log_opt),
        # --no-healthcheck not given: None, so that it changes nothing (and --rollback may go
        # alone).
        **{**shared, "no_healthcheck": shared["no_healthcheck"] or None},
    )
    # As docker's CLI: every flag given but --detach and --quiet (--no-resolve-image and
    # --with-registry-auth too) is refused with --rollback.
    if rollback and (options != UpdateOptions() or no_resolve_image or with_registry_auth):
        raise InvalidArgument("other flags may not be combined with --rollback")
    # Flag values are checked before the daemon is asked anything, as Docker's parser does.
    with flag_errors():
        check_update_flags(options)
    api = engine.connect()
    doc = inspect_service(api, ref)
    if rollback:
        update_service(api, doc, None, rollback=True)
    else:

        def network_id(name: str) -> str:
            found: str = api.get(path_of("networks", name))["Id"]
            return found

        with flag_errors():
            spec = update_spec(service_spec(doc["Spec"]), options, network_id)
        headers = image_auth(spec.container.image) if with_registry_auth else {}
        update_service(api, doc, filerefs.resolve_spec(api, spec), headers=headers)
    typer.echo(ref)
    if not detach:
        wait_for_convergence(
            api,
            doc["ID"],
            quiet=quiet,
            baseline=doc.get("UpdateStatus"),
            rollback_requested=rollback,
        )
