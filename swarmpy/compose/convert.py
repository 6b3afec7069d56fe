"""A loaded project (swarmpy.compose.loader) as Engine API specs, as docker/cli's
cli/compose/convert: NetworkCreate bodies, SecretSpecs, ConfigSpecs and ServiceSpecs, named
``STACK_name`` and labelled ``com.docker.stack.namespace=STACK``. Pure, but for reading the
files of secrets and configs.

What swarm would do with a key that swarmpy cannot honour is refused here, by key, rather than
dropped: the daemon would refuse it anyway, after part of the stack had been made.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from typing import Any

from swarmpy.compose import LABEL_IMAGE, LABEL_NAMESPACE
from swarmpy.compose.loader import Project, go_text
from swarmpy.compose.units import parse_cpus, parse_duration, ram_in_bytes
from swarmpy.errors import InvalidArgument

DEFAULT_NETWORK = "default"
DEFAULT_DRIVER = "overlay"

# Keys docker/cli converts that swarmpy's daemon has no field for: refused by name.
_NOT_SUPPORTED = {
    "logging": "logging drivers",
    "stdin_open": "stdin_open",
    "oom_score_adj": "oom_score_adj",
}


def scope(namespace: str, name: str) -> str:
    return f"{namespace}_{name}"


def stack_labels(namespace: str, labels: Mapping[str, Any] | None) -> dict[str, str]:
    return {**{k: go_text(v) for k, v in (labels or {}).items()}, LABEL_NAMESPACE: namespace}


def _nanos(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # docker/cli's mapstructure reads a bare number as nanoseconds
    nanos = parse_duration(str(value))
    if nanos is None:
        raise InvalidArgument(f"{where}: invalid duration {value}")
    return nanos


def _bytes(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    size = ram_in_bytes(str(value))
    if size is None:
        raise InvalidArgument(f"{where}: invalid size: '{value}'")
    return size


def _cpus(value: Any, where: str) -> int:
    try:
        return parse_cpus(go_text(value))
    except ValueError as e:
        raise InvalidArgument(f"{where}: {e}") from None


# ---------------------------------------------------------------- networks


def service_networks(project: Project) -> set[str]:
    """The networks the services use (``default`` for a service that names none)."""
    used: set[str] = set()
    for service in project.services.values():
        used.update(service.get("networks") or [DEFAULT_NETWORK])
    return used


def networks(namespace: str, project: Project) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The networks to create (by name, their NetworkCreate bodies) and the external ones the
    services use, as docker/cli's convert.Networks."""
    creates: dict[str, dict[str, Any]] = {}
    external: list[str] = []
    for internal in sorted(service_networks(project)):
        net = project.networks.get(internal) or {}
        if net.get("external"):
            external.append(str(net.get("name") or internal))
            continue
        where = f"networks.{internal}"
        if net.get("internal"):
            raise InvalidArgument(f"{where}.internal: internal networks are not supported")
        if net.get("enable_ipv6"):
            raise InvalidArgument(f"{where}.enable_ipv6: IPv6 networks are not supported")
        body: dict[str, Any] = {
            "Labels": stack_labels(namespace, net.get("labels")),
            "Driver": net.get("driver") or DEFAULT_DRIVER,
            "Options": {k: go_text(v) for k, v in (net.get("driver_opts") or {}).items()},
            "Attachable": bool(net.get("attachable")),
        }
        ipam = net.get("ipam") or {}
        if ipam.get("driver") or ipam.get("config"):
            body["IPAM"] = {
                "Driver": ipam.get("driver", ""),
                "Config": [{"Subnet": c.get("subnet", "")} for c in ipam.get("config") or []],
            }
        name = str(net.get("name") or scope(namespace, internal))
        creates[name] = {"Name": name, **body}
    return creates, external


# ---------------------------------------------------------------- secrets and configs


def _file_data(kind: str, name: str, entry: Mapping[str, Any]) -> bytes:
    where = f"{kind}.{name}"
    for key in ("driver", "template_driver"):
        if entry.get(key):
            raise InvalidArgument(f"{where}.{key}: {key.replace('_', ' ')}s are not supported")
    path = entry.get("file")
    if not path:
        raise InvalidArgument(f"{where}: a file or external: true is required")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InvalidArgument(
            f"{where}.file: open {path}: {(e.strerror or str(e)).lower()}"
        ) from None


def file_objects(kind: str, namespace: str, project: Project) -> list[dict[str, Any]]:
    """The SecretSpecs (``kind`` "secrets") or ConfigSpecs of the stack's own objects, their
    data read from their files; external ones are not the stack's."""
    entries = project.secrets if kind == "secrets" else project.configs
    out = []
    for name, entry in sorted(entries.items()):
        if entry.get("external"):
            continue
        data = _file_data(kind, name, entry)
        out.append(
            {
                "Name": str(entry.get("name") or scope(namespace, name)),
                "Labels": stack_labels(namespace, entry.get("labels")),
                "Data": base64.b64encode(data).decode(),
            }
        )
    return out


def external_objects(kind: str, project: Project) -> list[str]:
    """The names of the external secrets (or configs) the services use."""
    entries = project.secrets if kind == "secrets" else project.configs
    used = {ref["source"] for s in project.services.values() for ref in s.get(kind) or []}
    if kind == "configs":
        used |= {c for s in project.services.values() if (c := _credential_config(s))}
    return sorted(
        str(entries[name].get("name") or name)
        for name in used
        if name in entries and entries[name].get("external")
    )


def _file_references(
    kind: str, namespace: str, service: Mapping[str, Any], project: Project, where: str
) -> list[dict[str, Any]]:
    """docker/cli's convertServiceSecrets/convertServiceConfigObjs; the IDs are the caller's
    to fill in (with_ids) once the objects exist."""
    entries = project.secrets if kind == "secrets" else project.configs
    word = "Secret" if kind == "secrets" else "Config"
    refs = []
    for ref in service.get(kind) or []:
        source = ref["source"]
        if source not in entries:
            raise InvalidArgument(f"{where}.{kind}: undefined {kind[:-1]} {source!r}")
        entry = entries[source]
        name = str(entry.get("name") or scope(namespace, source))
        mode = ref.get("mode")
        refs.append(
            {
                "File": {
                    "Name": str(ref.get("target") or source),
                    "UID": str(ref.get("uid") or "0"),
                    "GID": str(ref.get("gid") or "0"),
                    "Mode": 0o444 if mode is None else int(mode),
                },
                f"{word}ID": "",
                f"{word}Name": name,
            }
        )
    config = _credential_config(service) if kind == "configs" else ""
    if config:
        # docker/cli: the credential spec's config, read by the runtime, not a file.
        if config not in entries:
            raise InvalidArgument(f"{where}.credential_spec: undefined config {config!r}")
        name = str(entries[config].get("name") or scope(namespace, config))
        refs.append({"Runtime": {}, "ConfigID": "", "ConfigName": name})
    return sorted(refs, key=lambda r: str(r[f"{word}Name"]))


def _credential_config(service: Mapping[str, Any]) -> str:
    return str((service.get("credential_spec") or {}).get("config") or "")


def _credential_spec(
    namespace: str, service: Mapping[str, Any], configs: list[dict[str, Any]]
) -> dict[str, str] | None:
    """docker/cli's convertCredentialSpec: one of config, file or registry; a config named by
    the reference that carries it (its id filled in by with_ids)."""
    spec = service.get("credential_spec") or {}
    given = [f'"{k.capitalize()}"' for k in ("config", "file", "registry") if spec.get(k)]
    if len(given) == 2:
        raise InvalidArgument(f"invalid credential spec: cannot specify both {' and '.join(given)}")
    if len(given) > 2:
        raise InvalidArgument(
            f"invalid credential spec: cannot specify both {', '.join(given[:-1])}, and {given[-1]}"
        )
    if not given:
        return None
    config = _credential_config(service)
    if not config:
        return {k.capitalize(): str(v) for k, v in spec.items() if v}
    names = [r["ConfigName"] for r in configs]
    for name in (config, scope(namespace, config)):
        if name in names:
            return {"Config": name}
    raise InvalidArgument(
        f"invalid credential spec: spec specifies config {config}, but no such config can be found"
    )


# ---------------------------------------------------------------- services


def _volume_options(
    namespace: str, source: str, volume: Mapping[str, Any], project: Project, at: str
) -> dict[str, Any]:
    """A named volume's options, as docker/cli's handleVolumeToMount: the stack's label and
    the volume's (unless external), its driver, and nocopy."""
    if source not in project.volumes:
        raise InvalidArgument(f"{at}: undefined volume {source!r}")
    stack_volume = project.volumes[source] or {}
    options: dict[str, Any] = {}
    if (volume.get("volume") or {}).get("nocopy"):
        options["NoCopy"] = True
    if stack_volume.get("external"):
        return options
    options["Labels"] = stack_labels(namespace, stack_volume.get("labels"))
    if stack_volume.get("driver") or stack_volume.get("driver_opts") is not None:
        options["DriverConfig"] = {
            "Name": str(stack_volume.get("driver") or ""),
            "Options": {k: go_text(v) for k, v in (stack_volume.get("driver_opts") or {}).items()},
        }
    return options


def _mounts(
    namespace: str, service: Mapping[str, Any], project: Project, where: str
) -> list[dict[str, Any]]:
    """docker/cli's convert.Volumes."""
    mounts = []
    for i, volume in enumerate(service.get("volumes") or []):
        at = f"{where}.volumes.{i}"
        kind = volume.get("type") or "volume"
        mount: dict[str, Any] = {
            "Type": kind,
            "Target": volume.get("target", ""),
            "ReadOnly": bool(volume.get("read_only")),
        }
        if volume.get("consistency"):
            raise InvalidArgument(f"{at}.consistency: not supported")
        source = volume.get("source", "")
        options = {k for k in ("bind", "volume", "tmpfs") if volume.get(k) is not None}
        if options - {kind}:
            other = sorted(options - {kind})[0]
            raise InvalidArgument(f"{at}: {other} options are incompatible with type {kind}")
        if kind == "volume":
            mount["Source"] = source
            if source:  # an anonymous volume has neither a stack name nor options
                mount["VolumeOptions"] = _volume_options(namespace, source, volume, project, at)
                named = (project.volumes.get(source) or {}).get("name")
                mount["Source"] = str(named or scope(namespace, source))
        elif kind == "bind":
            if not source:
                raise InvalidArgument(f"{at}: invalid bind source, source cannot be empty")
            mount["Source"] = source
            propagation = (volume.get("bind") or {}).get("propagation")
            if propagation:
                mount["BindOptions"] = {"Propagation": propagation}
        elif kind == "tmpfs":
            if source:
                raise InvalidArgument(f"{at}: invalid tmpfs source, source must be empty")
            tmpfs = volume.get("tmpfs") or {}
            if "size" in tmpfs:
                mount["TmpfsOptions"] = {"SizeBytes": _bytes(tmpfs["size"], f"{at}.tmpfs.size")}
        else:
            raise InvalidArgument(f"{at}.type: volume type must be volume, bind or tmpfs")
        mounts.append(mount)
    return mounts


def _healthcheck(health: Mapping[str, Any] | None, where: str) -> dict[str, Any] | None:
    if health is None:
        return None
    if health.get("disable"):
        if health.get("test"):
            raise InvalidArgument(f"{where}: test and disable can't be set at the same time")
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {"Test": [str(t) for t in health.get("test") or []]}
    for key, name in (
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start_period", "StartPeriod"),
    ):
        if health.get(key) is not None:
            out[name] = _nanos(health[key], f"{where}.{key}")
    if health.get("start_interval") is not None:
        raise InvalidArgument(f"{where}.start_interval: not supported")
    if health.get("retries") is not None:
        out["Retries"] = int(health["retries"])
    return out


def _restart_policy(service: Mapping[str, Any], where: str) -> dict[str, Any] | None:
    """deploy.restart_policy, else the ``restart`` docker/cli maps onto one."""
    policy = (service.get("deploy") or {}).get("restart_policy")
    if policy is None:
        restart = str(service.get("restart") or "no")
        name, _, count = restart.partition(":")
        if name == "no":
            return None
        if name in ("always", "unless-stopped"):
            return {"Condition": "any"}
        if name == "on-failure":
            try:
                attempts = int(count or "0")
            except ValueError:
                raise InvalidArgument(
                    f"{where}.restart: invalid restart policy {restart}"
                ) from None
            return {"Condition": "on-failure", "MaxAttempts": attempts}
        raise InvalidArgument(f"{where}.restart: unknown restart policy: {restart}")
    at = f"{where}.deploy.restart_policy"
    out: dict[str, Any] = {"Condition": policy.get("condition", "")}
    if policy.get("delay") is not None:
        out["Delay"] = _nanos(policy["delay"], f"{at}.delay")
    if policy.get("max_attempts") is not None:
        out["MaxAttempts"] = int(policy["max_attempts"])
    if policy.get("window") is not None:
        out["Window"] = _nanos(policy["window"], f"{at}.window")
    return out


def _update_config(config: Mapping[str, Any] | None, where: str) -> dict[str, Any] | None:
    if config is None:
        return None
    parallelism = config.get("parallelism")
    out: dict[str, Any] = {
        "Parallelism": 1 if parallelism is None else int(parallelism),
        "MaxFailureRatio": float(config.get("max_failure_ratio", 0)),
        "Order": config.get("order", ""),
    }
    # Docker's JSON leaves these out at zero (omitempty), so the daemon's defaults apply.
    delay = _nanos(config.get("delay", 0), f"{where}.delay")
    if delay:
        out["Delay"] = delay
    if config.get("failure_action"):
        out["FailureAction"] = config["failure_action"]
    monitor = _nanos(config.get("monitor", 0), f"{where}.monitor")
    if monitor:
        out["Monitor"] = monitor
    return out


def _resources(resources: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, name in (("limits", "Limits"), ("reservations", "Reservations")):
        section = (resources or {}).get(key)
        if section is None:
            continue
        at = f"{where}.{key}"
        if section.get("devices") or (key == "limits" and section.get("generic_resources")):
            raise InvalidArgument(f"{at}: generic resources are not supported")
        value: dict[str, Any] = {
            "NanoCPUs": _cpus(section["cpus"], f"{at}.cpus") if "cpus" in section else 0,
            "MemoryBytes": _bytes(section.get("memory", 0), f"{at}.memory"),
        }
        if section.get("generic_resources"):
            # As docker/cli's convertResources: the discrete ones (a count of a kind).
            value["GenericResources"] = [
                {"DiscreteResourceSpec": {"Kind": d["kind"], "Value": int(d["value"])}}
                if (d := r.get("discrete_resource_spec"))
                else {}
                for r in section["generic_resources"]
            ]
        if key == "limits" and "pids" in section:
            value["Pids"] = int(section["pids"])
        out[name] = value
    return out


def _mode(deploy: Mapping[str, Any], where: str) -> dict[str, Any]:
    mode = deploy.get("mode") or "replicated"
    replicas = deploy.get("replicas")
    if mode == "global":
        if replicas is not None:
            raise InvalidArgument(f"{where}: replicas can only be used with replicated mode")
        return {"Global": {}}
    if mode == "replicated":
        return {"Replicated": {} if replicas is None else {"Replicas": int(replicas)}}
    raise InvalidArgument(f"{where}.mode: Unknown mode: {mode}")


def _service_networks(
    namespace: str, name: str, service: Mapping[str, Any], project: Project, where: str
) -> list[dict[str, Any]]:
    """docker/cli's convertServiceNetworks: each network with its aliases and, on the stack's
    networks, the service's short name as one more (how ``db`` answers inside the stack)."""
    attached = service.get("networks") or {DEFAULT_NETWORK: None}
    out = []
    for internal, config in attached.items():
        if internal not in project.networks and internal != DEFAULT_NETWORK:
            raise InvalidArgument(f"{where}.networks: undefined network {internal!r}")
        net = project.networks.get(internal) or {}
        for key in ("ipv4_address", "ipv6_address"):
            if (config or {}).get(key):
                raise InvalidArgument(f"{where}.networks.{internal}.{key}: not supported")
        target = str(net.get("name") or scope(namespace, internal))
        aliases = [str(a) for a in (config or {}).get("aliases") or []]
        out.append({"Target": target, "Aliases": [*aliases, name]})
    return sorted(out, key=lambda n: str(n["Target"]))


def _ulimits(ulimits: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    out = []
    for name, value in sorted((ulimits or {}).items()):
        if isinstance(value, dict):
            out.append({"Name": name, "Soft": int(value["soft"]), "Hard": int(value["hard"])})
        else:
            out.append({"Name": name, "Soft": int(value), "Hard": int(value)})
    return out


def _capability(name: Any) -> str:
    text = str(name).strip().upper()
    return text if text in ("ALL", "RESET") or text.startswith("CAP_") else f"CAP_{text}"


def capabilities(add: Any, drop: Any) -> tuple[list[str], list[str]]:
    """docker/cli's EffectiveCapAddCapDrop: CAP_ names; ALL trumps the others on its side;
    a capability both added and dropped is added; RESET is dropped."""
    added = {_capability(c) for c in add or []}
    dropped = {_capability(c) for c in drop or []}
    if "ALL" in added:
        added = {"ALL"}
    if "ALL" in dropped:
        dropped = {"ALL"}
    return (
        sorted(added - {"RESET"}),
        sorted(c for c in dropped if c not in added and c != "RESET"),
    )


def _environment(env: Mapping[str, str | None] | None) -> list[str]:
    return sorted(k if v is None else f"{k}={v}" for k, v in (env or {}).items())


def _hosts(extra_hosts: list[str] | None) -> list[str]:
    """host:ip as SwarmKit's "ip host", docker/cli's convertExtraHosts."""
    out = []
    for entry in extra_hosts or []:
        host, sep, ip = entry.partition(":")
        if sep:
            out.append(f"{ip} {host}")
    return out


def service_spec(
    namespace: str, name: str, service: Mapping[str, Any], project: Project
) -> dict[str, Any]:
    """One service's ServiceSpec, as docker/cli's convert.Service."""
    where = f"services.{name}"
    for key, what in _NOT_SUPPORTED.items():
        if service.get(key) not in (None, False, ""):
            raise InvalidArgument(f"{where}.{key}: {what} are not supported by swarmpy")
    deploy = service.get("deploy") or {}
    placement = deploy.get("placement") or {}
    container: dict[str, Any] = {
        "Image": service["image"],
        "Labels": stack_labels(namespace, service.get("labels")),
        "Env": _environment(service.get("environment")),
        "Hostname": go_text(service.get("hostname", "")),
        "Dir": go_text(service.get("working_dir", "")),
        "User": go_text(service.get("user", "")),
        "Mounts": _mounts(namespace, service, project, where),
        "StopSignal": go_text(service.get("stop_signal", "")),
        "TTY": bool(service.get("tty")),
        "ReadOnly": bool(service.get("read_only")),
        "Init": bool(service.get("init")),
        # As docker's daemon reads it: process and hyperv kept, anything else the default.
        "Isolation": go_text(service.get("isolation", "")),
        "Hosts": _hosts(service.get("extra_hosts")),
        "Secrets": _file_references("secrets", namespace, service, project, where),
        "Configs": _file_references("configs", namespace, service, project, where),
    }
    credential_spec = _credential_spec(namespace, service, container["Configs"])
    if credential_spec is not None:
        container["Privileges"] = {"CredentialSpec": credential_spec}
    if service.get("entrypoint") is not None:
        container["Command"] = service["entrypoint"]
    if service.get("command") is not None:
        container["Args"] = service["command"]
    if service.get("stop_grace_period") is not None:
        container["StopGracePeriod"] = _nanos(
            service["stop_grace_period"], f"{where}.stop_grace_period"
        )
    if service.get("dns") is not None or service.get("dns_search") is not None:
        container["DNSConfig"] = {
            "Nameservers": service.get("dns") or [],
            "Search": service.get("dns_search") or [],
        }
    health = _healthcheck(service.get("healthcheck"), f"{where}.healthcheck")
    if health is not None:
        container["Healthcheck"] = health
    cap_add, cap_drop = capabilities(service.get("cap_add"), service.get("cap_drop"))
    if cap_add:
        container["CapabilityAdd"] = cap_add
    if cap_drop:
        container["CapabilityDrop"] = cap_drop
    if service.get("sysctls"):
        container["Sysctls"] = dict(service["sysctls"])
    if service.get("ulimits"):
        container["Ulimits"] = _ulimits(service["ulimits"])
    task: dict[str, Any] = {
        "ContainerSpec": container,
        "Resources": _resources(deploy.get("resources"), f"{where}.deploy.resources"),
        "Placement": {
            "Constraints": [str(c) for c in placement.get("constraints") or []],
            "Preferences": [
                {"Spread": {"SpreadDescriptor": str(p.get("spread", ""))}}
                for p in placement.get("preferences") or []
            ],
            "MaxReplicas": int(placement.get("max_replicas_per_node") or 0),
        },
        "Networks": _service_networks(namespace, name, service, project, where),
    }
    restart = _restart_policy(service, where)
    if restart is not None:
        task["RestartPolicy"] = restart
    ports: list[dict[str, Any]] = sorted(
        (
            {
                "Protocol": str(p.get("protocol", "")),
                "TargetPort": int(p.get("target", 0)),
                "PublishedPort": int(p.get("published", 0) or 0),
                "PublishMode": str(p.get("mode", "")),
            }
            for p in service.get("ports") or []
        ),
        key=lambda p: p["PublishedPort"],
    )
    spec: dict[str, Any] = {
        "Name": scope(namespace, name),
        "Labels": {
            **stack_labels(namespace, deploy.get("labels")),
            LABEL_IMAGE: service["image"],
        },
        "TaskTemplate": task,
        "Mode": _mode(deploy, f"{where}.deploy"),
        "EndpointSpec": {"Mode": str(deploy.get("endpoint_mode", "")).lower(), "Ports": ports},
    }
    update = _update_config(deploy.get("update_config"), f"{where}.deploy.update_config")
    if update is not None:
        spec["UpdateConfig"] = update
    rollback = _update_config(deploy.get("rollback_config"), f"{where}.deploy.rollback_config")
    if rollback is not None:
        spec["RollbackConfig"] = rollback
    return spec


def services(namespace: str, project: Project) -> dict[str, dict[str, Any]]:
    """Every service's spec, by its short name."""
    return {
        name: service_spec(namespace, name, service, project)
        for name, service in project.services.items()
    }


def with_ids(
    spec: Mapping[str, Any],
    secret_ids: Mapping[str, str],
    config_ids: Mapping[str, str],
    network_ids: Mapping[str, str],
) -> dict[str, Any]:
    """``spec`` with its secrets', configs' and networks' IDs filled in from name -> ID maps
    (as the daemon stores them, so that a spec read back compares equal)."""
    out = copy.deepcopy(dict(spec))
    container = out["TaskTemplate"]["ContainerSpec"]
    for key, word, ids in (("Secrets", "Secret", secret_ids), ("Configs", "Config", config_ids)):
        for ref in container.get(key, []):
            name = ref[f"{word}Name"]
            if name not in ids:
                raise InvalidArgument(f"{word.lower()} not found: {name}")
            ref[f"{word}ID"] = ids[name]
    credential_spec = container.get("Privileges", {}).get("CredentialSpec", {})
    if credential_spec.get("Config"):
        # Named by its config's name until that config exists (docker/cli names it by id).
        credential_spec["Config"] = config_ids[credential_spec["Config"]]
    for net in out["TaskTemplate"].get("Networks", []):
        net["Target"] = network_ids.get(net["Target"], net["Target"])
    return out
