"""`swarmpy service update`: flags change the current spec (read with its version, sent back
with ``?version=``); --rollback asks the daemon for the previous spec (``rollback=previous``)."""

from __future__ import annotations

import typer

from swarmpy.cli import engine
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
    cap_add: list[str] = _list("Add Linux capabilities", "--cap-add"),
    cap_drop: list[str] = _list("Drop Linux capabilities", "--cap-drop"),
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
    workdir: str | None = F.WORKDIR,
    user: str | None = F.USER,
    hostname: str | None = F.HOSTNAME,
    entrypoint: str | None = F.ENTRYPOINT,
    stop_signal: str | None = F.STOP_SIGNAL,
    stop_grace_period: str | None = F.STOP_GRACE_PERIOD,
    health_cmd: str | None = F.HEALTH_CMD,
    health_interval: str | None = F.HEALTH_INTERVAL,
    health_timeout: str | None = F.HEALTH_TIMEOUT,
    health_retries: int | None = F.HEALTH_RETRIES,
    health_start_period: str | None = F.HEALTH_START_PERIOD,
    no_healthcheck: bool = F.NO_HEALTHCHECK,
    replicas: int | None = F.REPLICAS,
    max_replicas: int | None = F.MAX_REPLICAS,
    max_concurrent: int | None = F.MAX_CONCURRENT,
    endpoint_mode: str | None = F.ENDPOINT_MODE,
    limit_cpu: str | None = F.LIMIT_CPU,
    limit_memory: str | None = F.LIMIT_MEMORY,
    limit_pids: int | None = F.LIMIT_PIDS,
    reserve_cpu: str | None = F.RESERVE_CPU,
    reserve_memory: str | None = F.RESERVE_MEMORY,
    restart_condition: str | None = F.RESTART_CONDITION,
    restart_delay: str | None = F.RESTART_DELAY,
    restart_max_attempts: int | None = F.RESTART_MAX_ATTEMPTS,
    restart_window: str | None = F.RESTART_WINDOW,
    update_parallelism: int | None = F.UPDATE_PARALLELISM,
    update_delay: str | None = F.UPDATE_DELAY,
    update_failure_action: str | None = F.UPDATE_FAILURE_ACTION,
    update_monitor: str | None = F.UPDATE_MONITOR,
    update_max_failure_ratio: float | None = F.UPDATE_MAX_FAILURE_RATIO,
    update_order: str | None = F.UPDATE_ORDER,
    rollback_parallelism: int | None = F.ROLLBACK_PARALLELISM,
    rollback_delay: str | None = F.ROLLBACK_DELAY,
    rollback_failure_action: str | None = F.ROLLBACK_FAILURE_ACTION,
    rollback_monitor: str | None = F.ROLLBACK_MONITOR,
    rollback_max_failure_ratio: float | None = F.ROLLBACK_MAX_FAILURE_RATIO,
    rollback_order: str | None = F.ROLLBACK_ORDER,
    force: bool = typer.Option(False, "--force", help="Force update even if no changes require it"),
    rollback: bool = typer.Option(False, "--rollback", help="Rollback to previous specification"),
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
        read_only=read_only,
        init=init,
        tty=tty,
        workdir=workdir,
        user=user,
        hostname=hostname,
        entrypoint=entrypoint,
        stop_signal=stop_signal,
        stop_grace_period=stop_grace_period,
        health_cmd=health_cmd,
        health_interval=health_interval,
        health_timeout=health_timeout,
        health_retries=health_retries,
        health_start_period=health_start_period,
        # Not given: None, so that it changes nothing (and --rollback may go alone).
        no_healthcheck=no_healthcheck or None,
        replicas=replicas,
        max_replicas=max_replicas,
        max_concurrent=max_concurrent,
        endpoint_mode=endpoint_mode,
        limit_cpu=limit_cpu,
        limit_memory=limit_memory,
        limit_pids=limit_pids,
        reserve_cpu=reserve_cpu,
        reserve_memory=reserve_memory,
        restart_condition=restart_condition,
        restart_delay=restart_delay,
        restart_max_attempts=restart_max_attempts,
        restart_window=restart_window,
        update_parallelism=update_parallelism,
        update_delay=update_delay,
        update_failure_action=update_failure_action,
        update_monitor=update_monitor,
        update_max_failure_ratio=update_max_failure_ratio,
        update_order=update_order,
        rollback_parallelism=rollback_parallelism,
        rollback_delay=rollback_delay,
        rollback_failure_action=rollback_failure_action,
        rollback_monitor=rollback_monitor,
        rollback_max_failure_ratio=rollback_max_failure_ratio,
        rollback_order=rollback_order,
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
