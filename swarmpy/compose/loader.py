"""Compose files to one project, as docker/cli's cli/compose/loader: each file is parsed (YAML),
checked for forbidden keys, interpolated, validated against the schema of its version and
normalised (every short syntax to its long form); then the files are merged in order.

Errors are InvalidArgument, one line, naming the file and the key: nothing has been sent to a
daemon yet when they are raised.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from swarmpy.compose.interpolate import interpolate
from swarmpy.compose.schema import validate, version_of
from swarmpy.errors import InvalidArgument

# docker/cli's types.UnsupportedProperties, and depends_on and tmpfs, which swarm ignores
# too (docker/cli drops them without a word; we say so).
UNSUPPORTED = (
    "build",
    "cgroupns_mode",
    "cgroup_parent",
    "depends_on",
    "devices",
    "domainname",
    "external_links",
    "ipc",
    "links",
    "mac_address",
    "network_mode",
    "pid",
    "privileged",
    "restart",
    "security_opt",
    "shm_size",
    "tmpfs",
    "userns_mode",
)
DEPRECATED = {
    "container_name": "Setting the container name is not supported.",
    "expose": "Exposing ports is unnecessary - services on the same network can access each "
    "other's containers on any port.",
}
FORBIDDEN = {
    "extends": "Support for `extends` is not implemented yet.",
    "volume_driver": "Instead of setting the volume driver on the service, define a volume "
    "using the top-level `volumes` option and specify the driver there.",
    "volumes_from": "To share a volume between services, define it using the top-level "
    "`volumes` option and reference it from each service that shares it using the "
    "service-level `volumes` option.",
    "cpu_quota": "Set resource limits using deploy.resources",
    "cpu_shares": "Set resource limits using deploy.resources",
    "cpuset": "Set resource limits using deploy.resources",
    "mem_limit": "Set resource limits using deploy.resources",
    "memswap_limit": "Set resource limits using deploy.resources",
}
PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")
SECTIONS = ("networks", "volumes", "secrets", "configs")


@dataclass(frozen=True)
class ConfigFile:
    """One Compose file as parsed: its name (for messages) and its mapping."""

    filename: str
    config: dict[str, Any]


@dataclass(frozen=True)
class Project:
    """The merged files: services by name (normalised) and the top-level sections; and the
    warnings docker/cli prints on stderr before it deploys."""

    services: dict[str, dict[str, Any]]
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


# ---------------------------------------------------------------- YAML


def _string_keys(value: Any, prefix: str) -> Any:
    """docker/cli's convertToStringKeysRecursive: a mapping's keys must be strings (a YAML
    date stays the text it was written as, as Go's YAML leaves it)."""
    if isinstance(value, dict):
        out = {}
        for key, entry in value.items():
            if not isinstance(key, str):
                where = f"in {prefix}" if prefix else "at top level"
                shown = str(key).lower() if isinstance(key, bool) else str(key)
                raise InvalidArgument(f"Non-string key {where}: {shown}")
            out[key] = _string_keys(entry, f"{prefix}.{key}" if prefix else key)
        return out
    if isinstance(value, list):
        return [_string_keys(v, f"{prefix}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def parse_yaml(source: str | bytes, filename: str) -> ConfigFile:
    """One file's text as a ConfigFile; its YAML and top-level checks, with the file named."""
    try:
        data = yaml.safe_load(source)
    except yaml.MarkedYAMLError as e:
        line = f"line {e.problem_mark.line + 1}: " if e.problem_mark else ""
        raise InvalidArgument(f"{filename}: yaml: {line}{e.problem or e}") from None
    except yaml.YAMLError as e:
        raise InvalidArgument(f"{filename}: yaml: {e}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"{filename}: Top-level object must be a mapping")
    try:
        return ConfigFile(filename, _string_keys(data, ""))
    except InvalidArgument as e:
        raise InvalidArgument(f"{filename}: {e.message}") from None


def read_file(path: str, stdin_text: str | None = None) -> ConfigFile:
    """A Compose file from disk, or ``-`` from ``stdin_text``."""
    if path == "-":
        return parse_yaml(stdin_text or "", "-")
    try:
        with open(path, "rb") as f:
            return parse_yaml(f.read(), path)
    except OSError as e:
        raise InvalidArgument(f"open {path}: {(e.strerror or str(e)).lower()}") from None


# ---------------------------------------------------------------- small conversions


def go_text(value: Any) -> str:
    """fmt.Sprint of a YAML scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _mapping(value: Any, sep: str, allow_none: bool) -> dict[str, str | None]:
    """docker/cli's transformMappingOrList: a mapping, or a list of ``key<sep>value``."""
    if isinstance(value, dict):
        return {k: (None if v is None and allow_none else go_text(v)) for k, v in value.items()}
    out: dict[str, str | None] = {}
    for item in value or []:
        key, found, rest = str(item).partition(sep)
        out[key] = rest if found else (None if allow_none else "")
    return out


def _strings(value: Any) -> list[str]:
    """A string or a list of them, as a list."""
    if value is None:
        return []
    if isinstance(value, list):
        return [go_text(v) for v in value]
    return [go_text(value)]


def _shell_command(value: Any, where: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as e:
            raise InvalidArgument(f"{where}: {e}") from None
    return [go_text(v) for v in value]


# ---------------------------------------------------------------- ports


def _port_range(text: str, what: str, spec: str) -> list[int]:
    first, sep, last = text.partition("-")
    try:
        low, high = int(first), int(last if sep else first)
    except ValueError:
        raise InvalidArgument(f"Invalid {what}: {text}") from None
    if not (0 <= low <= high <= 65535) or (what == "containerPort" and low == 0):
        raise InvalidArgument(f"Invalid {what}: {text}")
    return list(range(low, high + 1))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def short_ports(spec: str) -> list[dict[str, Any]]:
    """docker's nat.ParsePortSpecs of one short port (``[ip:][published:]target[/proto]``,
    with ranges) as long-form ports, docker/cli's toServicePortConfigs."""
    body, _, proto = spec.partition("/")
    proto = proto.lower() or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"Invalid proto: {proto}")
    parts = body.rsplit(":", 2) if body.count(":") >= 2 else body.split(":")
    host_ip = ""
    if len(parts) == 3:
        host_ip, parts = parts[0].strip("[]"), parts[1:]
    if host_ip and not _is_ip(host_ip):
        raise InvalidArgument(f"Invalid ip address {host_ip}")
    if host_ip not in ("", "0.0.0.0", "::"):
        raise InvalidArgument(
            f"Invalid port {spec}: publishing on one host address ({host_ip}) is not "
            "supported by swarm services"
        )
    published_text = parts[0] if len(parts) == 2 else ""
    targets = _port_range(parts[-1], "containerPort", spec)
    published = _port_range(published_text, "hostPort", spec) if published_text else []
    if published and len(published) != len(targets) and len(targets) != 1:
        raise InvalidArgument(
            f"Invalid ranges specified for container and host Ports: {parts[-1]} and "
            f"{published_text}"
        )
    out: list[dict[str, Any]] = []
    for i, target in enumerate(targets):
        if len(targets) == 1 and len(published) > 1:
            out.extend(
                {"mode": "ingress", "target": target, "published": p, "protocol": proto}
                for p in published
            )
            continue
        port = published[i] if published else 0
        out.append({"mode": "ingress", "target": target, "published": port, "protocol": proto})
    return sorted(out, key=lambda p: (p["target"], p["published"]))


def _ports(value: list[Any], where: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            out.append(dict(item))
            continue
        try:
            out.extend(short_ports(go_text(item)))
        except InvalidArgument as e:
            raise InvalidArgument(f"{where}.{i}: {e.message}") from None
    return out


# ---------------------------------------------------------------- volumes


def short_volume(spec: str) -> dict[str, Any]:
    """docker/cli's ParseVolume: ``[source:]target[:options]``; a source that looks like a
    path (., /, ~) is a bind, any other a named volume."""
    if not spec:
        raise InvalidArgument("invalid empty volume spec")
    volume: dict[str, Any] = {}
    if len(spec) <= 2:
        return {"type": "volume", "target": spec}
    sections = spec.split(":")
    if any(s == "" for s in sections):
        raise InvalidArgument(f"invalid spec: {spec}: empty section between colons")
    if len(sections) > 3:
        raise InvalidArgument(f"invalid spec: {spec}: too many colons")
    if len(sections) == 1:
        return {"type": "volume", "target": spec}
    volume["source"], volume["target"] = sections[0], sections[1]
    if len(sections) == 3:
        for option in sections[2].split(","):
            if option in ("ro", "rw"):
                volume["read_only"] = option == "ro"
            elif option == "nocopy":
                volume["volume"] = {"nocopy": True}
            elif option in PROPAGATIONS:
                volume["bind"] = {"propagation": option}
            else:
                raise InvalidArgument(f"invalid spec: {spec}: unknown option {option!r}")
    volume["type"] = "bind" if volume["source"][0] in "./~" else "volume"
    return volume


def _volumes(
    value: list[Any], where: str, working_dir: str, env: Mapping[str, str]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        try:
            volume = dict(item) if isinstance(item, dict) else short_volume(str(item))
        except InvalidArgument as e:
            raise InvalidArgument(f"{where}.{i}: {e.message}") from None
        if volume.get("type") == "bind":
            source = volume.get("source", "")
            if not source:
                raise InvalidArgument(
                    f'{where}.{i}: invalid mount config for type "bind": field Source must '
                    "not be empty"
                )
            if source.startswith("~") and "HOME" in env:
                source = env["HOME"] + source[1:]
            volume["source"] = os.path.normpath(os.path.join(working_dir, source))
        out.append(volume)
    return out


# ---------------------------------------------------------------- env files


def read_env_file(path: str, env: Mapping[str, str]) -> list[str]:
    """docker's opts.ParseEnvFile: KEY=value lines; a bare KEY takes the value of the
    environment, and is left out when it has none."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise InvalidArgument(f"open {path}: {(e.strerror or str(e)).lower()}") from None
    except UnicodeDecodeError:
        raise InvalidArgument(f"env file {path} contains invalid utf8 bytes") from None
    out = []
    for raw in lines:
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, _ = line.partition("=")
        key = key.lstrip()
        if any(c.isspace() for c in key):
            raise InvalidArgument(f"variable '{key}' contains whitespaces")
        if sep:
            out.append(line)
        elif key in env:
            out.append(f"{key}={env[key]}")
    return out


def _environment(
    service: Mapping[str, Any], where: str, working_dir: str, env: Mapping[str, str]
) -> dict[str, str | None]:
    """docker/cli's resolveEnvironment: env_file's variables, then environment's; a variable
    without a value takes the shell's, if it has one."""
    out: dict[str, str | None] = {}

    def update(values: Mapping[str, str | None]) -> None:
        for key, value in values.items():
            if not value and key in env:
                out[key] = env[key]
            else:
                out[key] = value

    for name in _strings(service.get("env_file")):
        path = os.path.join(working_dir, name)
        try:
            lines = read_env_file(path, os.environ)
        except InvalidArgument as e:
            raise InvalidArgument(f"{where}.env_file: {e.message}") from None
        update(_mapping(lines, "=", True))
    update(_mapping(service.get("environment"), "=", True))
    return out


# ---------------------------------------------------------------- one service


def normalise_service(
    name: str, raw: Mapping[str, Any], working_dir: str, env: Mapping[str, str]
) -> dict[str, Any]:
    """A (validated) service mapping with every short syntax in its long form, its paths
    absolute and its environment resolved."""
    where = f"services.{name}"
    service = dict(raw)
    for key in ("command", "entrypoint"):
        if key in service:
            service[key] = _shell_command(service[key], f"{where}.{key}")
    if "environment" in service or "env_file" in service:
        service["environment"] = _environment(service, where, working_dir, env)
        service.pop("env_file", None)
    if "labels" in service:
        service["labels"] = _mapping(service["labels"], "=", False)
    if "ports" in service:
        service["ports"] = _ports(service["ports"], f"{where}.ports")
    if "volumes" in service:
        service["volumes"] = _volumes(service["volumes"], f"{where}.volumes", working_dir, env)
    if "networks" in service:
        nets = service["networks"]
        service["networks"] = (
            dict.fromkeys(nets) if isinstance(nets, list) else {k: v for k, v in nets.items()}
        )
    for key in ("secrets", "configs"):
        if key in service:
            service[key] = [
                {"source": item} if isinstance(item, str) else dict(item) for item in service[key]
            ]
    for key in ("dns", "dns_search"):
        if key in service:
            service[key] = _strings(service[key])
    if "extra_hosts" in service:
        hosts = service["extra_hosts"]
        service["extra_hosts"] = (
            sorted(f"{k}:{go_text(v)}" for k, v in hosts.items() if v is not None)
            if isinstance(hosts, dict)
            else [str(h) for h in hosts]
        )
    if "sysctls" in service:
        service["sysctls"] = _mapping(service["sysctls"], "=", False)
    health = service.get("healthcheck")
    if isinstance(health, dict) and isinstance(health.get("test"), str):
        service["healthcheck"] = {**health, "test": ["CMD-SHELL", health["test"]]}
    deploy = service.get("deploy")
    if isinstance(deploy, dict) and "labels" in deploy:
        service["deploy"] = {**deploy, "labels": _mapping(deploy["labels"], "=", False)}
    return service


# ---------------------------------------------------------------- merge


def _merge_keyed(base: list[Any], override: list[Any], key: str) -> list[Any]:
    merged = {item.get(key): item for item in base}
    merged.update({item.get(key): item for item in override})
    return sorted(merged.values(), key=lambda item: (str(type(item.get(key))), item.get(key)))


# Lists merged by a key (docker/cli's mergeSlice specials), and lists an override replaces.
_KEYED = {"ports": "published", "secrets": "source", "configs": "source", "volumes": "target"}
_REPLACED = ("command", "entrypoint", "test")


def _merge(base: Any, override: Any, key: str = "") -> Any:
    """docker/cli's mergo.Merge with its specials, over normalised mappings: mappings merge
    key by key, the override winning; lists append, except those merged by a key and the
    commands, which the override replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = _merge(base[k], v, k) if k in base else v
        return out
    if isinstance(base, list) and isinstance(override, list):
        if key in _KEYED:
            return _merge_keyed(base, override, _KEYED[key])
        if key in _REPLACED:
            return override or base
        return base + override
    return override


def merge_services(
    base: Mapping[str, dict[str, Any]], override: Mapping[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    out = dict(base)
    for name, service in override.items():
        out[name] = _merge(out[name], service) if name in out else service
    return dict(sorted(out.items()))


# ---------------------------------------------------------------- files


def _services_of(config: Mapping[str, Any]) -> dict[str, Any]:
    services = config.get("services")
    return services if isinstance(services, dict) else {}


def _forbidden(file: ConfigFile) -> None:
    found = sorted(
        {
            key
            for service in _services_of(file.config).values()
            if isinstance(service, dict)
            for key in service
            if key in FORBIDDEN
        }
    )
    if found:
        detail = " ".join(f"{key}: {FORBIDDEN[key]}" for key in found)
        raise InvalidArgument(
            f"{file.filename}: Compose file contains unsupported options: {detail}"
        )


def warnings(files: Sequence[ConfigFile]) -> tuple[str, ...]:
    """docker/cli's "Ignoring unsupported options" and "Ignoring deprecated options" lines."""
    used = {
        key
        for file in files
        for service in _services_of(file.config).values()
        if isinstance(service, dict)
        for key in service
    }
    out = []
    unsupported = sorted(used & set(UNSUPPORTED))
    if unsupported:
        out.append(f"Ignoring unsupported options: {', '.join(unsupported)}")
    deprecated = sorted(used & set(DEPRECATED))
    if deprecated:
        # docker/cli's words and layout: a paragraph per option.
        out.append(
            "Ignoring deprecated options:\n\n"
            + "\n\n".join(f"{key}: {DEPRECATED[key]}" for key in deprecated)
        )
    return tuple(out)


def _external_name(kind: str, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """docker/cli's handling of ``external: {name: x}`` (the old spelling of ``name``)."""
    external = entry.get("external")
    if isinstance(external, dict):
        if "name" in external and entry.get("name"):
            raise InvalidArgument(
                f"{kind} {name}: {kind}.external.name and {kind}.name conflict; only use "
                f"{kind}.name"
            )
        entry = {**entry, "external": True}
        if "name" in external:
            entry["name"] = external["name"]
    if entry.get("external") and not entry.get("name"):
        entry = {**entry, "name": name}
    return entry


def _section(kind: str, config: Mapping[str, Any], working_dir: str) -> dict[str, dict[str, Any]]:
    out = {}
    for name, raw in (config.get(kind) or {}).items():
        entry = _external_name(kind[:-1], name, dict(raw or {}))
        if "labels" in entry:
            entry["labels"] = _mapping(entry["labels"], "=", False)
        if kind in ("secrets", "configs") and not entry.get("external") and "file" in entry:
            entry["file"] = os.path.normpath(os.path.join(working_dir, entry["file"]))
        if kind == "volumes" and entry.get("external"):
            for key in ("driver", "driver_opts", "labels"):
                if entry.get(key):
                    raise InvalidArgument(
                        f'conflicting parameters "external" and "{key}" specified for '
                        f'volume "{name}"'
                    )
        out[name] = entry
    return out


def load(files: Sequence[ConfigFile], env: Mapping[str, str], working_dir: str) -> Project:
    """The files, merged in order, as docker/cli's loader.Load (and stack deploy's checks of
    each service's image)."""
    if not files:
        raise InvalidArgument("specify a Compose file (with --compose-file)")
    version = ""
    services: dict[str, dict[str, Any]] = {}
    sections: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in SECTIONS}
    for file in files:
        this = version_of(file.config)
        version = version or this
        if this != version:
            raise InvalidArgument(
                f"version mismatched between two composefiles : {version} and {this}"
            )
        try:
            _forbidden(file)
            config = interpolate(file.config, env)
            validate(config, version)
            normalised = {
                name: normalise_service(name, raw, working_dir, env)
                for name, raw in _services_of(config).items()
            }
            for kind in SECTIONS:
                sections[kind].update(_section(kind, config, working_dir))
        except InvalidArgument as e:
            if e.message.startswith(f"{file.filename}: "):
                raise
            raise InvalidArgument(f"{file.filename}: {e.message}") from None
        services = merge_services(services, normalised)
    for name, service in services.items():
        if not service.get("image"):
            raise InvalidArgument(
                f"{', '.join(f.filename for f in files)}: invalid image reference for service "
                f"{name}: no image specified"
            )
    return Project(services=services, warnings=warnings(files), **sections)
