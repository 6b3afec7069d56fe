"""Docker's ServiceSpec and Service JSON <-> swarmpy.model (daemon/cluster/convert/service.go
and container.go in Docker). Pure functions.

Output carries only fields swarmpy has, with their values, so what a client reads it can send
back unchanged (``docker service update`` does exactly that); input refuses what swarmpy
cannot honour (see swarmpy.dockerjson.fields).
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, TypeVar

from swarmpy import genericresource
from swarmpy.dockerjson.common import labels, nanos, timestamp, version
from swarmpy.dockerjson.fields import Fields
from swarmpy.dockerjson.fileobjects import file_reference, file_reference_json
from swarmpy.dockerjson.health import health_json, read_health
from swarmpy.dockerjson.logdriver import log_driver_json, settings
from swarmpy.errors import InvalidArgument
from swarmpy.model import (
    ContainerSpec,
    EndpointMode,
    FailureAction,
    GenericResource,
    HealthConfig,
    LogDriver,
    Mount,
    MountType,
    NetworkAlias,
    PortConfig,
    PortProtocol,
    PublishMode,
    ResourceRequirements,
    Resources,
    RestartCondition,
    RestartPolicy,
    Service,
    ServiceMode,
    ServiceSpec,
    Ulimit,
    UpdateConfig,
    UpdateOrder,
    UpdateState,
)

# Docker's fields swarmpy does not implement, accepted only at their zero value.
_UNSUPPORTED_CONTAINER = ("OpenStdin",)
_UNSUPPORTED_PRIVILEGES = (
    "SELinuxContext",
    "Seccomp",
    "AppArmor",
    "NoNewPrivileges",
)
CREDENTIAL_SPEC_SOURCES = ("config", "file", "registry")
_UNSUPPORTED_TASK = ("PluginSpec", "NetworkAttachmentSpec")
_UNSUPPORTED_MOUNT = ("Consistency",)


E = TypeVar("E", bound=enum.Enum)


def _enum(fields: Fields, key: str, kind: type[E], default: E) -> E:
    text = fields.text(key)
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        allowed = ", ".join(str(v.value) for v in kind)
        raise InvalidArgument(
            f"invalid {fields.name(key)} {text!r}: expected one of {allowed}"
        ) from None


# ---------------------------------------------------------------- Docker JSON -> model


def _mount(f: Fields) -> Mount:
    mount_type = _enum(f, "Type", MountType, MountType.VOLUME)
    propagation = ""
    bind = f.obj("BindOptions")
    if bind is not None:
        propagation = bind.text("Propagation")
        bind.unsupported(("NonRecursive",))
        bind.done()
    size = mode = 0
    tmpfs = f.obj("TmpfsOptions")
    if tmpfs is not None:
        size = tmpfs.integer("SizeBytes")
        mode = tmpfs.integer("Mode")
        tmpfs.done()
    nocopy = False
    volume_labels: tuple[tuple[str, str], ...] = ()
    volume_options: tuple[tuple[str, str], ...] = ()
    volume = f.obj("VolumeOptions")
    if volume is not None:
        nocopy = volume.flag("NoCopy")
        volume_labels = volume.labels("Labels")
        driver = volume.obj("DriverConfig")
        if driver is not None:
            name = driver.text("Name")
            if name not in ("", "local"):
                # No volume plugins: Docker's words for a driver it cannot find.
                raise InvalidArgument(
                    f'error looking up volume plugin {name}: plugin "{name}" not found'
                )
            volume_options = driver.labels("Options")
            driver.done()
        volume.unsupported(("Subpath",))
        volume.done()
    mount = Mount(
        type=mount_type,
        target=f.text("Target"),
        source=f.text("Source"),
        readonly=f.flag("ReadOnly"),
        bind_propagation=propagation,
        tmpfs_size=size,
        tmpfs_mode=mode,
        volume_nocopy=nocopy,
        volume_labels=volume_labels,
        volume_options=volume_options,
    )
    f.unsupported(_UNSUPPORTED_MOUNT)
    f.done()
    return mount


def _ulimit(f: Fields) -> Ulimit:
    out = Ulimit(name=f.text("Name"), soft=f.integer("Soft"), hard=f.integer("Hard"))
    f.done()
    return out


def _dns(f: Fields | None) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    if f is None:
        return (), (), ()
    out = (f.strings("Nameservers"), f.strings("Search"), f.strings("Options"))
    f.done()
    return out


def _healthcheck(f: Fields | None) -> HealthConfig | None:
    if f is None:
        return None
    config = read_health(f)
    f.done()
    return config


def _container(f: Fields) -> ContainerSpec:
    nameservers, search, options = _dns(f.obj("DNSConfig"))
    spec = ContainerSpec(
        image=f.text("Image"),
        command=f.strings("Command"),
        args=f.strings("Args"),
        env=f.strings("Env"),
        labels=f.labels("Labels"),
        hostname=f.text("Hostname"),
        workdir=f.text("Dir"),
        user=f.text("User"),
        mounts=tuple(_mount(m) for m in f.objs("Mounts")),
        cap_add=f.strings("CapabilityAdd"),
        cap_drop=f.strings("CapabilityDrop"),
        groups=f.strings("Groups"),
        stop_grace_s=f.seconds("StopGracePeriod", ContainerSpec.stop_grace_s),
        stop_signal=f.text("StopSignal"),
        tty=f.flag("TTY"),
        read_only=f.flag("ReadOnly"),
        init=f.flag("Init"),
        dns_nameservers=nameservers,
        dns_search=search,
        dns_options=options,
        hosts=f.strings("Hosts"),
        sysctls=f.labels("Sysctls"),
        ulimits=tuple(_ulimit(u) for u in f.objs("Ulimits")),
        healthcheck=_healthcheck(f.obj("Healthcheck")),
        secrets=tuple(file_reference(s, "Secret") for s in f.objs("Secrets")),
        configs=tuple(file_reference(c, "Config") for c in f.objs("Configs")),
        isolation=isolation(f.text("Isolation")),
        credential_spec=_privileges(f.obj("Privileges")),
    )
    f.unsupported(_UNSUPPORTED_CONTAINER)
    f.done()
    return spec


def _privileges(f: Fields | None) -> str:
    """Docker's Privileges: its CredentialSpec as "<source>://<value>" (checked as Docker's
    credentialSpecToGRPC does); the other privileges swarmpy has not."""
    if f is None:
        return ""
    spec = f.obj("CredentialSpec")
    f.unsupported(_UNSUPPORTED_PRIVILEGES)
    f.done()
    if spec is None:
        return ""
    given = [(s, spec.text(s.capitalize())) for s in CREDENTIAL_SPEC_SOURCES]
    spec.done()
    named = [f'"{s}"' for s, value in given if value]
    if not named:
        reason = 'must either provide "file", "registry", or "config" for credential spec'
    elif len(named) == 2:
        reason = f"cannot specify both {named[0]} and {named[1]} credential specs"
    elif len(named) > 2:
        reason = f"cannot specify both {', '.join(named[:-1])}, and {named[-1]} credential specs"
    else:
        return next(f"{s}://{value}" for s, value in given if value)
    raise InvalidArgument(f"invalid CredentialSpec: {reason}")


def isolation(text: str) -> str:
    """Docker's daemon's isolationToGRPC: "process" and "hyperv" (any case) are kept, anything
    else is the default; a Linux node rejects the task's container unless it is the default."""
    lowered = text.lower()
    return lowered if lowered in ("process", "hyperv") else "default"


def generic_resources(items: list[Fields]) -> tuple[GenericResource, ...]:
    """Docker's GenericResources: NamedResourceSpec or DiscreteResourceSpec objects."""
    out: list[GenericResource] = []
    for item in items:
        named = item.obj("NamedResourceSpec")
        counted = item.obj("DiscreteResourceSpec")
        item.done()
        # As Docker's GenericResourcesToGRPC: a count wins over a name.
        if counted is not None:
            out.append(genericresource.discrete(counted.text("Kind"), counted.integer("Value")))
            counted.done()
        elif named is not None:
            out.append(genericresource.named(named.text("Kind"), named.text("Value")))
            named.done()
        else:
            raise InvalidArgument(
                f"invalid {item.path}: expected NamedResourceSpec or DiscreteResourceSpec"
            )
    return tuple(out)


def _resources(f: Fields | None, limits: bool) -> Resources:
    if f is None:
        return Resources()
    out = Resources(
        nano_cpus=f.integer("NanoCPUs"),
        memory_bytes=f.integer("MemoryBytes"),
        pids=f.integer("Pids") if limits else 0,
        # Docker's Limits have no GenericResources (Docker drops them); refused there below.
        generic=() if limits else generic_resources(f.objs("GenericResources")),
    )
    f.unsupported(("GenericResources",))
    f.done()
    return out


def _requirements(f: Fields | None) -> ResourceRequirements:
    if f is None:
        return ResourceRequirements()
    out = ResourceRequirements(
        limits=_resources(f.obj("Limits"), limits=True),
        reservations=_resources(f.obj("Reservations"), limits=False),
    )
    f.done()
    return out


def _restart(f: Fields | None) -> RestartPolicy:
    default = RestartPolicy()
    if f is None:
        return default
    out = RestartPolicy(
        condition=_enum(f, "Condition", RestartCondition, default.condition),
        delay_s=f.seconds("Delay", default.delay_s),
        max_attempts=f.integer("MaxAttempts", default.max_attempts),
        window_s=f.seconds("Window", default.window_s),
    )
    f.done()
    return out


def _update_config(f: Fields | None) -> UpdateConfig:
    default = UpdateConfig()
    if f is None:
        return default
    out = UpdateConfig(
        # 0 is "all at once" in Docker as in swarmpy: an absent key is the same zero.
        parallelism=f.integer("Parallelism", 0),
        delay_s=f.seconds("Delay", 0.0),
        failure_action=_enum(f, "FailureAction", FailureAction, default.failure_action),
        monitor_s=f.seconds("Monitor", default.monitor_s),
        max_failure_ratio=f.number("MaxFailureRatio", 0.0),
        order=_enum(f, "Order", UpdateOrder, default.order),
    )
    f.done()
    return out


def _network_targets(items: list[Fields]) -> tuple[tuple[str, ...], tuple[NetworkAlias, ...]]:
    """The networks' targets, and the aliases of those that have some."""
    targets = []
    aliases = []
    for item in items:
        target = item.text("Target")
        if not target:
            raise InvalidArgument(f"invalid {item.path}: Target must name a network")
        names = item.strings("Aliases")
        item.unsupported(("DriverOpts",))
        item.done()
        targets.append(target)
        if names:
            aliases.append(NetworkAlias(target, names))
    return tuple(targets), tuple(aliases)


def _count(f: Fields, key: str, default: int) -> int:
    """A uint64 of Docker's: a negative one is refused rather than wrapped."""
    value = f.integer(key, default)
    if value < 0:
        raise InvalidArgument(f"invalid {f.name(key)} {value}: expected 0 or more")
    return value


def _mode(f: Fields | None) -> tuple[ServiceMode, int, int]:
    """The mode, its replicas (a replicated job's TotalCompletions) and MaxConcurrent."""
    if f is None:
        return ServiceMode.REPLICATED, 1, 0
    replicated, global_ = f.obj("Replicated"), f.obj("Global")
    replicated_job, global_job = f.obj("ReplicatedJob"), f.obj("GlobalJob")
    # Even {"Bogus": {}} names a mode, one swarmpy does not have.
    f.done(strict=True)
    given = [m for m in (replicated, global_, replicated_job, global_job) if m is not None]
    if len(given) > 1:
        raise InvalidArgument("must specify only one service mode")  # Docker's words
    if global_ is not None:
        global_.done()
        return ServiceMode.GLOBAL, 0, 0
    if global_job is not None:
        global_job.done()
        return ServiceMode.GLOBAL_JOB, 0, 0
    if replicated_job is not None:
        # Docker's daemon defaults: one at a time, and as many completions as that.
        concurrent = _count(replicated_job, "MaxConcurrent", 1)
        total = _count(replicated_job, "TotalCompletions", concurrent)
        replicated_job.done()
        return ServiceMode.REPLICATED_JOB, total, concurrent
    if replicated is None:
        return ServiceMode.REPLICATED, 1, 0
    replicas = replicated.integer("Replicas", 1)
    replicated.unsupported(("MaxConcurrent", "TotalCompletions"))
    replicated.done()
    return ServiceMode.REPLICATED, replicas, 0


def _preferences(items: list[Fields]) -> tuple[str, ...]:
    """Docker's [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}] as the descriptors."""
    out = []
    for item in items:
        spread = item.obj("Spread")
        item.done()
        if spread is None:
            raise InvalidArgument(f"invalid {item.path}: only Spread preferences are supported")
        descriptor = spread.text("SpreadDescriptor")
        spread.done()
        if not descriptor:
            raise InvalidArgument(f"invalid {spread.path}: SpreadDescriptor must be provided")
        out.append(descriptor)
    return tuple(out)


def _port(f: Fields) -> PortConfig:
    """Docker's PortConfig; an empty Protocol is tcp and an empty PublishMode ingress, as
    Docker's enums' zero values."""
    port = PortConfig(
        target=f.integer("TargetPort"),
        published=f.integer("PublishedPort"),
        protocol=_enum(f, "Protocol", PortProtocol, PortProtocol.TCP),
        publish_mode=_enum(f, "PublishMode", PublishMode, PublishMode.INGRESS),
        name=f.text("Name"),
    )
    f.done()
    return port


def _endpoint_spec(f: Fields | None) -> tuple[EndpointMode, tuple[PortConfig, ...]]:
    if f is None:
        return EndpointMode.VIP, ()
    mode = _enum(f, "Mode", EndpointMode, EndpointMode.VIP)
    ports = tuple(_port(p) for p in f.objs("Ports"))
    f.done()
    return mode, ports


def service_spec(body: Any) -> ServiceSpec:
    """A ServiceSpec from Docker's JSON."""
    f = Fields(body)
    name = f.text("Name")
    spec_labels = f.labels("Labels")
    template = f.obj("TaskTemplate") or Fields({}, "TaskTemplate")
    container = template.obj("ContainerSpec")
    if container is None:
        raise InvalidArgument("ContainerSpec: image reference must be provided")
    container_spec = _container(container)
    resources = _requirements(template.obj("Resources"))
    restart = _restart(template.obj("RestartPolicy"))
    constraints: tuple[str, ...] = ()
    prefs: tuple[str, ...] = ()
    max_replicas = 0
    placement = template.obj("Placement")
    if placement is not None:
        constraints = placement.strings("Constraints")
        prefs = _preferences(placement.objs("Preferences"))
        max_replicas = placement.integer("MaxReplicas")
        placement.unsupported(("Platforms",))
        placement.done()
    # Docker's CLI bumps this counter for ``service update --force``; kept as is, so that a
    # changed value replaces every task. A uint64 in Docker's Go types.
    force_update = template.integer("ForceUpdate")
    if force_update < 0:
        raise InvalidArgument(
            f"invalid TaskTemplate.ForceUpdate: expected a counter of 0 or more, got {force_update}"
        )
    runtime = template.text("Runtime")
    if runtime not in ("", "container"):
        raise InvalidArgument(
            f"invalid TaskTemplate.Runtime {runtime!r}: only container is supported"
        )
    networks, network_aliases = _network_targets(template.objs("Networks"))
    log_driver = _log_driver(template.obj("LogDriver"))
    if log_driver is not None:
        container_spec = dataclasses.replace(container_spec, log_driver=log_driver)
    template.unsupported(_UNSUPPORTED_TASK)
    template.done()
    # Docker's deprecated place for networks (API < 1.25) is still read, as Docker does.
    old_networks, old_aliases = _network_targets(f.objs("Networks"))
    networks += old_networks
    network_aliases += old_aliases
    mode, replicas, max_concurrent = _mode(f.obj("Mode"))
    endpoint_mode, ports = _endpoint_spec(f.obj("EndpointSpec"))
    update_config = f.obj("UpdateConfig")
    if mode.is_job and update_config is not None:
        raise InvalidArgument("Jobs may not have an update config")  # SwarmKit's words
    spec = ServiceSpec(
        name=name,
        container=container_spec,
        labels=spec_labels,
        mode=mode,
        replicas=replicas,
        max_concurrent=max_concurrent,
        restart=restart,
        update=_update_config(update_config),
        rollback=_update_config(f.obj("RollbackConfig")),
        constraints=constraints,
        resources=resources,
        networks=networks,
        network_aliases=network_aliases,
        endpoint_mode=endpoint_mode,
        ports=ports,
        force_update=force_update,
        placement_prefs=prefs,
        max_replicas=max_replicas,
    )
    f.done()
    return spec


# ---------------------------------------------------------------- model -> Docker JSON


def _resources_json(r: Resources, limits: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"NanoCPUs": r.nano_cpus, "MemoryBytes": r.memory_bytes}
    if limits:
        out["Pids"] = r.pids
    if r.generic:
        out["GenericResources"] = genericresource.to_json(r.generic)
    return out


def _update_json(u: UpdateConfig) -> dict[str, Any]:
    return {
        "Parallelism": u.parallelism,
        "Delay": nanos(u.delay_s),
        "FailureAction": str(u.failure_action),
        "Monitor": nanos(u.monitor_s),
        "MaxFailureRatio": u.max_failure_ratio,
        "Order": str(u.order),
    }


def container_spec_json(c: ContainerSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"Image": c.image}
    if c.labels:
        out["Labels"] = labels(c.labels)
    for key, values in (
        ("Command", c.command),
        ("Args", c.args),
        ("Env", c.env),
        ("CapabilityAdd", c.cap_add),
        ("CapabilityDrop", c.cap_drop),
        ("Groups", c.groups),
    ):
        if values:
            out[key] = list(values)
    for key, text in (("Hostname", c.hostname), ("Dir", c.workdir), ("User", c.user)):
        if text:
            out[key] = text
    if c.mounts:
        out["Mounts"] = [_mount_json(m) for m in c.mounts]
    out["StopGracePeriod"] = nanos(c.stop_grace_s)
    if c.stop_signal:
        out["StopSignal"] = c.stop_signal
    for key, flag in (("TTY", c.tty), ("ReadOnly", c.read_only)):
        if flag:
            out[key] = True
    # Docker's Init is a *bool: false is sent as such by its CLI, so it is always shown.
    out["Init"] = c.init
    dns = {
        "Nameservers": list(c.dns_nameservers),
        "Search": list(c.dns_search),
        "Options": list(c.dns_options),
    }
    out["DNSConfig"] = {k: v for k, v in dns.items() if v}
    if c.hosts:
        out["Hosts"] = list(c.hosts)
    if c.sysctls:
        out["Sysctls"] = labels(c.sysctls)
    if c.ulimits:
        out["Ulimits"] = [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in c.ulimits]
    if c.healthcheck is not None:
        out["Healthcheck"] = health_json(c.healthcheck)
    if c.secrets:
        out["Secrets"] = [file_reference_json(r, "Secret") for r in c.secrets]
    if c.configs:
        out["Configs"] = [file_reference_json(r, "Config") for r in c.configs]
    # "" only from a raw control-API client: the default, as Docker's enum has it.
    out["Isolation"] = c.isolation or "default"
    source, _, value = c.credential_spec.partition("://")
    if source in CREDENTIAL_SPEC_SOURCES:
        out["Privileges"] = {"CredentialSpec": {source.capitalize(): value}}
    return out


def _mount_json(m: Mount) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Type": str(m.type),
        "Source": m.source,
        "Target": m.target,
        "ReadOnly": m.readonly,
    }
    if m.bind_propagation:
        out["BindOptions"] = {"Propagation": m.bind_propagation}
    if m.tmpfs_size or m.tmpfs_mode:
        tmpfs: dict[str, Any] = {}
        if m.tmpfs_size:
            tmpfs["SizeBytes"] = m.tmpfs_size
        if m.tmpfs_mode:
            tmpfs["Mode"] = m.tmpfs_mode
        out["TmpfsOptions"] = tmpfs
    if m.volume_nocopy or m.volume_labels or m.volume_options:
        volume: dict[str, Any] = {}
        if m.volume_nocopy:
            volume["NoCopy"] = True
        if m.volume_labels:
            volume["Labels"] = dict(m.volume_labels)
        if m.volume_options:
            volume["DriverConfig"] = {"Name": "local", "Options": dict(m.volume_options)}
        out["VolumeOptions"] = volume
    return out


def _log_driver(f: Fields | None) -> LogDriver | None:
    """Docker's Driver: a Name and string Options; none at all (or no name) is the default."""
    if f is None:
        return None
    name = f.text("Name")
    options = f.labels("Options")
    f.done()
    if not name:
        if options:
            raise InvalidArgument("invalid TaskTemplate.LogDriver: options without a Name")
        return None
    driver = LogDriver(name, options)
    try:
        settings(driver)  # refused here, naming the field, as every unsupported field is
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid TaskTemplate.LogDriver: {exc}") from None
    return driver


def task_spec_json(spec: ServiceSpec) -> dict[str, Any]:
    """Docker's TaskSpec (a service's TaskTemplate, and each task's Spec)."""
    out: dict[str, Any] = {
        "ContainerSpec": container_spec_json(spec.container),
        "Resources": {
            "Limits": _resources_json(spec.resources.limits, limits=True),
            "Reservations": _resources_json(spec.resources.reservations, limits=False),
        },
        "RestartPolicy": {
            "Condition": str(spec.restart.condition),
            "Delay": nanos(spec.restart.delay_s),
            "MaxAttempts": spec.restart.max_attempts,
            "Window": nanos(spec.restart.window_s),
        },
        "Placement": _placement_json(spec),
        "ForceUpdate": spec.force_update,
        "Runtime": "container",
    }
    if spec.container.log_driver is not None:
        out["LogDriver"] = log_driver_json(spec.container.log_driver)
    if spec.networks:
        aliases = {a.network: list(a.aliases) for a in spec.network_aliases}
        out["Networks"] = [
            {"Target": n, "Aliases": aliases[n]} if n in aliases else {"Target": n}
            for n in spec.networks
        ]
    return out


def _placement_json(spec: ServiceSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.constraints:
        out["Constraints"] = list(spec.constraints)
    if spec.placement_prefs:
        out["Preferences"] = [{"Spread": {"SpreadDescriptor": d}} for d in spec.placement_prefs]
    if spec.max_replicas:
        out["MaxReplicas"] = spec.max_replicas
    return out


def mode_json(spec: ServiceSpec) -> dict[str, Any]:
    """Docker's ServiceMode: one of its four keys."""
    if spec.mode == ServiceMode.REPLICATED_JOB:
        return {
            "ReplicatedJob": {
                "MaxConcurrent": spec.max_concurrent,
                "TotalCompletions": spec.replicas,
            }
        }
    if spec.mode == ServiceMode.GLOBAL_JOB:
        return {"GlobalJob": {}}
    if spec.mode == ServiceMode.GLOBAL:
        return {"Global": {}}
    return {"Replicated": {"Replicas": spec.replicas}}


def _update_configs_json(spec: ServiceSpec) -> dict[str, Any]:
    # A job has no UpdateConfig (one sent back would be refused). SwarmKit keeps a
    # RollbackConfig a client gave a job, so Docker shows it; an unset one is the default.
    if spec.mode.is_job:
        if spec.rollback == UpdateConfig():
            return {}
        return {"RollbackConfig": _update_json(spec.rollback)}
    return {
        "UpdateConfig": _update_json(spec.update),
        "RollbackConfig": _update_json(spec.rollback),
    }


def service_spec_json(spec: ServiceSpec) -> dict[str, Any]:
    mode = mode_json(spec)
    return {
        "Name": spec.name,
        "Labels": labels(spec.labels),
        "TaskTemplate": task_spec_json(spec),
        "Mode": mode,
        **_update_configs_json(spec),
        "EndpointSpec": endpoint_spec_json(spec),
    }


def port_json(p: PortConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"Name": p.name} if p.name else {}
    out.update(Protocol=str(p.protocol), TargetPort=p.target)
    if p.published:  # Docker's omitempty: a port without one (yet) has no key
        out["PublishedPort"] = p.published
    out["PublishMode"] = str(p.publish_mode)
    return out


def endpoint_spec_json(spec: ServiceSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"Mode": str(spec.endpoint_mode)}
    if spec.ports:
        out["Ports"] = [port_json(p) for p in spec.ports]
    return out


def service_json(
    service: Service, index: int | None, status: tuple[int, int, int] | None = None
) -> dict[str, Any]:
    """A Service; ``status`` (running, desired, completed) adds Docker's ServiceStatus
    (``?status=true``)."""
    endpoint_spec = endpoint_spec_json(service.spec)
    out: dict[str, Any] = {
        "ID": service.id,
        "Version": version(index),
        "CreatedAt": timestamp(service.created_at),
        "UpdatedAt": timestamp(service.updated_at),
        "Spec": service_spec_json(service.spec),
        "Endpoint": {"Spec": endpoint_spec},
    }
    if service.previous_spec is not None:
        out["PreviousSpec"] = service_spec_json(service.previous_spec)
    if service.endpoint_ports:
        out["Endpoint"]["Ports"] = [port_json(p) for p in service.endpoint_ports]
    if service.virtual_ips:
        out["Endpoint"]["VirtualIPs"] = [
            {"NetworkID": v.network_id, "Addr": v.addr} for v in service.virtual_ips
        ]
    us = service.update_status
    if us is not None and us.state != UpdateState.UNKNOWN:
        # As dockerd (convert/service.go): a time not reached yet is absent, not Go's zero
        # time, so `--format '{{.UpdateStatus.CompletedAt}}'` shows <nil> while updating.
        out["UpdateStatus"] = {"State": str(us.state)}
        if us.started_at > 0:
            out["UpdateStatus"]["StartedAt"] = timestamp(us.started_at)
        if us.completed_at > 0:
            out["UpdateStatus"]["CompletedAt"] = timestamp(us.completed_at)
        out["UpdateStatus"]["Message"] = us.message
    if status is not None:
        running, desired, completed = status
        out["ServiceStatus"] = {
            "RunningTasks": running,
            "DesiredTasks": desired,
            "CompletedTasks": completed,
        }
    if service.job_status is not None:
        out["JobStatus"] = {
            "JobIteration": {"Index": service.job_status.iteration},
            "LastExecution": timestamp(service.job_status.last_execution),
        }
    return out
