"""``run`` and ``create``'s flags as Docker's create request (pure), the way docker/cli's
``cli/command/container/opts.go`` reads them; and the port lines ``ps`` and ``port`` print.

The daemon checks the request again (restart policy, names, mounts); what is checked here is
what docker's client refuses itself, in its words, before anything reaches the daemon.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from swarmpy.cli import specflags
from swarmpy.dockerjson.health import health_json
from swarmpy.dockerjson.service import _mount_json
from swarmpy.errors import InvalidArgument
from swarmpy.model import HealthConfig

PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class RunOptions:
    image: str
    command: tuple[str, ...] = ()
    name: str = ""
    detach: bool = False
    rm: bool = False
    interactive: bool = False
    tty: bool = False
    env: tuple[str, ...] = ()
    env_files: tuple[str, ...] = ()
    network: str = "default"
    network_aliases: tuple[str, ...] = ()  # --network-alias, on a user network
    ip: str = ""  # --ip, an IPv4 address on a user network
    cpus: str = ""
    memory: str = ""
    restart: str = ""
    hostname: str = ""
    workdir: str = ""
    user: str = ""
    entrypoint: str | None = None
    labels: tuple[str, ...] = ()
    publish: tuple[str, ...] = ()
    publish_all: bool = False
    expose: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    mounts: tuple[str, ...] = ()
    health_cmd: str = ""
    health_interval: str = ""
    health_timeout: str = ""
    health_retries: int = 0
    health_start_period: str = ""
    no_healthcheck: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    read_only: bool = False
    stop_signal: str = ""
    stop_timeout: int | None = None
    pids_limit: int = 0
    init: bool = False
    attach: tuple[str, ...] = field(default=())
    detach_keys: str = ""  # --detach-keys: for the attach, never part of the container


# ---------------------------------------------------------------- ports


def _port_range(text: str, what: str) -> tuple[int, int]:
    low, sep, high = text.partition("-")
    try:
        first = int(low)
        last = int(high) if sep else first
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}") from None
    if not (0 < first <= last < 65536):
        raise InvalidArgument(f"invalid {what}: {text}")
    return first, last


def parse_publish(text: str) -> list[tuple[str, str, str]]:
    """``-p [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`` (ranges too) as (port key, host IP,
    host port) triples, as nat.ParsePortSpec."""
    raw, _, proto = text.partition("/")
    proto = proto.lower() or "tcp"
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    ip, host, container = "", "", raw
    if raw.startswith("["):  # [::1]:80:80
        end = raw.find("]")
        ip, rest = raw[1:end], raw[end + 2 :]
        host, _, container = rest.rpartition(":")
    else:
        parts = raw.split(":")
        if len(parts) == 2:
            host, container = parts
        elif len(parts) == 3:
            ip, host, container = parts
        elif len(parts) > 3:
            raise InvalidArgument(f"invalid port format for --publish: {text}")
    if ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise InvalidArgument(f"invalid IP address: {ip}") from None
    if not container:
        raise InvalidArgument(f"no port specified: {text}<empty>")
    first, last = _port_range(container, "containerPort")
    if host:
        hfirst, hlast = _port_range(host, "hostPort")
        if hlast - hfirst != last - first and hfirst != hlast:
            raise InvalidArgument(f"invalid ranges specified for container and host Ports: {text}")
    out = []
    for i, port in enumerate(range(first, last + 1)):
        host_port = ""
        if host:
            host_port = str(hfirst + i) if hlast != hfirst else str(hfirst)
        out.append((f"{port}/{proto}", ip, host_port))
    return out


def parse_expose(text: str) -> list[str]:
    raw, _, proto = text.partition("/")
    proto = proto.lower() or "tcp"
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    first, last = _port_range(raw, "range format for --expose")
    return [f"{p}/{proto}" for p in range(first, last + 1)]


def display_ports(ports: Sequence[dict[str, Any]]) -> str:
    """docker ps's PORTS (api/types DisplayablePorts): ranges of the same address and type
    grouped, published ports as ``IP:HOST->CONTAINER/PROTO``."""

    def key(p: dict[str, Any]) -> tuple[int, str, int, str]:
        return (
            int(p.get("PrivatePort", 0)),
            str(p.get("IP", "")),
            int(p.get("PublicPort", 0)),
            str(p.get("Type", "")),
        )

    groups: dict[str, list[int]] = {}
    order: list[str] = []
    result: list[str] = []
    mappings: list[str] = []
    for p in sorted(ports, key=key):
        current = int(p.get("PrivatePort", 0))
        kind = str(p.get("Type", ""))
        ip = str(p.get("IP", "") or "")
        group_key = kind
        if ip:
            public = int(p.get("PublicPort", 0))
            if public != current:
                host = f"[{ip}]" if ":" in ip else ip
                mappings.append(f"{host}:{public}->{current}/{kind}")
                continue
            group_key = f"{ip}/{kind}"
        group = groups.get(group_key)
        if group is None:
            groups[group_key] = [current, current]
            order.append(group_key)
            continue
        if current == group[1] + 1:
            group[1] = current
            continue
        result.append(_form_group(group_key, group[0], group[1]))
        groups[group_key] = [current, current]
    for group_key in order:
        first, last = groups[group_key]
        result.append(_form_group(group_key, first, last))
    return ", ".join(result + mappings)


def _form_group(key: str, first: int, last: int) -> str:
    parts = key.split("/")
    kind, ip = parts[-1], parts[0] if len(parts) > 1 else ""
    group = str(first) if first == last else f"{first}-{last}"
    if ip:
        group = f"{ip}:{group}->{group}"
    return f"{group}/{kind}"


def port_lines(ports: dict[str, Any], wanted: str = "", container: str = "") -> list[str]:
    """``docker port``: ``80/tcp -> 0.0.0.0:8080`` for each binding (only the host side for
    one asked-for port), naturally sorted, an IPv6 host in brackets; the errors in docker's
    words, which name the port and the container as given (docker/cli's runPort)."""
    if wanted:
        port, _, proto = wanted.partition("/")
        _check_port_number(port)
        bindings = ports.get(f"{port}/{proto or 'tcp'}")
        if not bindings:
            raise InvalidArgument(f"Error: No public port '{wanted}' published for {container}")
        lines = [_join_host_port(b["HostIp"], b["HostPort"]) for b in bindings]
    else:
        lines = [
            f"{key} -> {_join_host_port(b['HostIp'], b['HostPort'])}"
            for key, bindings in ports.items()
            for b in bindings or []
        ]
    return sorted(lines, key=_natural_key)


def _check_port_number(port: str) -> None:
    """As Go's strconv.ParseUint(port, 10, 16), in its words."""
    if not port.isascii() or not port.isdigit():
        reason = "invalid syntax"
    elif int(port) > 0xFFFF:
        reason = "value out of range"
    else:
        return
    raise InvalidArgument(
        f'Error: invalid port ({port}): strconv.ParseUint: parsing "{port}": {reason}'
    )


def _join_host_port(host: str, port: str) -> str:
    """Go's net.JoinHostPort: an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _natural_key(text: str) -> list[tuple[int, int, str]]:
    """sortorder.NaturalLess as a key: runs of digits compare as numbers, before the rest."""
    chunks = re.split(r"(\d+)", text)
    return [(0, int(c), "") if c.isdigit() else (1, 0, c) for c in chunks if c]


# ---------------------------------------------------------------- the request


def restart_policy(text: str) -> dict[str, Any]:
    """--restart as docker's opts.ParseRestartPolicy (the daemon checks the name)."""
    if not text:
        return {"Name": "no", "MaximumRetryCount": 0}
    parts = text.split(":")
    if len(parts) > 2:
        raise InvalidArgument("invalid restart policy format")
    count = 0
    if len(parts) == 2:
        try:
            count = int(parts[1])
        except ValueError:
            raise InvalidArgument("maximum retry count must be an integer") from None
    return {"Name": parts[0], "MaximumRetryCount": count}


def _health(o: RunOptions) -> HealthConfig | None:
    def seconds(text: str, flag: str) -> float:
        if not text:
            return 0.0
        value = specflags.duration(text)
        if value < 0:
            raise InvalidArgument(f"--{flag} cannot be negative")
        return value

    have = bool(o.health_cmd or o.health_interval or o.health_timeout or o.health_retries)
    if o.no_healthcheck:
        if have:
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return HealthConfig(test=("NONE",))
    if o.health_retries < 0:
        raise InvalidArgument("--health-retries cannot be negative")
    if not have and not o.health_start_period:
        return None
    return HealthConfig(
        test=("CMD-SHELL", o.health_cmd) if o.health_cmd else (),
        interval_s=seconds(o.health_interval, "health-interval"),
        timeout_s=seconds(o.health_timeout, "health-timeout"),
        retries=o.health_retries,
        start_period_s=seconds(o.health_start_period, "health-start-period"),
    )


def create_request(o: RunOptions) -> dict[str, Any]:
    """Docker's create body (Config with HostConfig and NetworkingConfig) for the flags."""
    if o.rm and o.restart not in ("", "no"):
        raise InvalidArgument("Conflicting options: --restart and --rm")
    if o.detach and o.attach:
        raise InvalidArgument("Conflicting options: -a and -d")
    env = environment(o.env_files, o.env)
    labels = dict(specflags.key_values(o.labels, "label")) if o.labels else {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in o.publish:
        for key, ip, host in parse_publish(spec):
            bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": host})
    exposed: dict[str, dict[str, Any]] = {key: {} for e in o.expose for key in parse_expose(e)}
    exposed.update({key: {} for key in bindings})
    binds: list[str] = []
    volumes: dict[str, dict[str, Any]] = {}
    for v in o.volumes:
        if ":" in v:
            binds.append(v)
        else:
            volumes[v] = {}  # -v /data: an anonymous volume
    mounts = [_mount_json(specflags.mount(m)) for m in o.mounts]
    attach = set(o.attach) if o.attach else ({"stdout", "stderr"} if not o.detach else set())
    if o.interactive and not o.detach:
        attach.add("stdin")
    for stream in attach:
        if stream not in ("stdin", "stdout", "stderr"):
            raise InvalidArgument(
                f'invalid argument {stream!r} for "-a, --attach" flag: valid streams are '
                "STDIN, STDOUT and STDERR"
            )
    health = _health(o)
    body: dict[str, Any] = {
        "Hostname": o.hostname,
        "User": o.user,
        "AttachStdin": "stdin" in attach,
        "AttachStdout": "stdout" in attach,
        "AttachStderr": "stderr" in attach,
        "ExposedPorts": exposed or None,
        "Tty": o.tty,
        "OpenStdin": o.interactive,
        "StdinOnce": o.interactive and not o.detach,
        "Env": env,
        "Cmd": list(o.command) or None,
        "Image": o.image,
        "Volumes": volumes or None,
        "WorkingDir": o.workdir,
        # As docker/cli: an empty --entrypoint is [""], which resets the image's.
        "Entrypoint": None if o.entrypoint is None else [o.entrypoint],
        "Labels": labels,
        "HostConfig": {
            "Binds": binds or None,
            "NetworkMode": o.network or "default",
            "PortBindings": bindings or None,
            "RestartPolicy": restart_policy(o.restart),
            "AutoRemove": o.rm,
            "PublishAllPorts": o.publish_all,
            "Memory": specflags.memory_bytes(o.memory) if o.memory else 0,
            "NanoCpus": specflags.nano_cpus(o.cpus) if o.cpus else 0,
            "CapAdd": list(o.cap_add) or None,
            "CapDrop": list(o.cap_drop) or None,
            "ReadonlyRootfs": o.read_only,
            "PidsLimit": o.pids_limit or None,
            "Mounts": mounts or None,
            **({"Init": True} if o.init else {}),
        },
        "NetworkingConfig": {"EndpointsConfig": _endpoints(o)},
    }
    if health is not None:
        body["Healthcheck"] = health_json(health)
    if o.stop_signal:
        body["StopSignal"] = o.stop_signal
    if o.stop_timeout is not None:
        body["StopTimeout"] = o.stop_timeout
    return body


def _endpoints(o: RunOptions) -> dict[str, Any]:
    """docker/cli's EndpointsConfig: the network's aliases and address, when given."""
    if not (o.network_aliases or o.ip):
        return {}
    endpoint: dict[str, Any] = {}
    if o.network_aliases:
        endpoint["Aliases"] = list(o.network_aliases)
    if o.ip:
        endpoint["IPAMConfig"] = {"IPv4Address": o.ip}
    return {o.network or "default": endpoint}


def environment(env_files: Sequence[str], env: Sequence[str]) -> list[str]:
    """docker run's and exec's --env-file, then -e (a later value wins in the process):
    -e KEY=value as is; -e KEY takes this shell's value, or is left out."""
    import os

    out = specflags.env_file(env_files)
    for item in env:
        if item.startswith("="):
            raise InvalidArgument(f"invalid environment variable: {item}")
        if "=" in item:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return out


def start_exit_code(message: str) -> int:
    """docker run's exit status when the start failed (runStartContainerErr): 127 for a
    command that does not exist, 126 for one that cannot be run, else 125."""
    if (
        "executable file not found" in message
        or "no such file or directory" in message
        or "system cannot find the file specified" in message
    ):
        return 127
    if "permission denied" in message:
        return 126
    return 125
