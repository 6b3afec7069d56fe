"""A standalone container's request (``POST /containers/create``: Docker's Config,
HostConfig and NetworkingConfig), read strictly into plain data (pure).

What swarmpy implements is taken; a Docker field it lacks is accepted only at the zero value
Docker's clients send when it is not set, anything else is refused naming the field (see
``swarmpy/dockerjson/fields.py``). The request's JSON is what the daemon keeps (the record is
re-read with this same function after a restart), so there is one reading of it.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Any

from swarmpy.dockerjson import logdriver
from swarmpy.dockerjson.fields import Fields
from swarmpy.dockerjson.health import read_health
from swarmpy.dockerjson.logdriver import LogSettings
from swarmpy.errors import InvalidArgument
from swarmpy.model import HealthConfig, LogDriver
from swarmpy.standalone import restart
from swarmpy.standalone.ports import PortRequest, parse_port_key, requests_of

# Docker's container name grammar (daemon/names.go).
NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
NETWORK_MODES = ("default", "bridge", "host", "none")

# HostConfig fields Docker's CLI and docker-py send at zero when not set.
_HOST_ZERO = (
    "ContainerIDFile",
    "VolumeDriver",
    "VolumesFrom",
    "CgroupnsMode",
    "GroupAdd",
    "IpcMode",
    "Cgroup",
    "Links",
    "OomScoreAdj",
    "PidMode",
    "Privileged",
    "SecurityOpt",
    "UTSMode",
    "UsernsMode",
    "ShmSize",
    "Isolation",
    "CpuShares",
    "CgroupParent",
    "BlkioWeight",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "CpuPeriod",
    "CpuQuota",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "CpusetCpus",
    "CpusetMems",
    "Devices",
    "DeviceCgroupRules",
    "DeviceRequests",
    "KernelMemory",
    "KernelMemoryTCP",
    "MemoryReservation",
    "MemorySwap",
    "MemorySwappiness",
    "OomKillDisable",
    "Ulimits",
    "CpuCount",
    "CpuPercent",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
    "MaskedPaths",
    "ReadonlyPaths",
    "Runtime",
)
# HostConfig's maps swarmpy has no use for: refused with any entry.
_HOST_MAPS = ("StorageOpt", "Sysctls", "Tmpfs", "Annotations")
_HOST_DEFAULTS = {
    "MemorySwappiness": -1,
    "CgroupnsMode": "private",
    "Isolation": "default",
    "IpcMode": "private",
}
_CONFIG_ZERO = ("Domainname", "ArgsEscaped", "NetworkDisabled", "MacAddress", "OnBuild", "Shell")


@dataclass(frozen=True)
class MountRequest:
    """One of HostConfig.Binds or HostConfig.Mounts, as asked (resolved at create by
    ``swarmpy.standalone.mounts``)."""

    type: str  # bind | volume | tmpfs
    target: str
    source: str = ""  # a host path (bind), a volume name ("" for an anonymous volume)
    readonly: bool = False
    propagation: str = ""
    tmpfs_size: int = 0
    tmpfs_mode: int = 0
    # -v's (HostConfig.Binds): a missing host directory is made, as dockerd makes it;
    # --mount's bind refuses a missing source.
    make_source: bool = False


@dataclass(frozen=True)
class CreateSpec:
    image: str
    hostname: str = ""
    user: str = ""
    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None  # None: the image's
    # None: the image's; () clears it; ("",) clears it and the image's Cmd (merge_command)
    entrypoint: tuple[str, ...] | None = None
    workdir: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    attach: tuple[bool, bool, bool] = (False, False, False)  # stdin, stdout, stderr
    exposed: tuple[str, ...] = ()  # "80/tcp"
    volumes: tuple[str, ...] = ()  # Config.Volumes: anonymous volumes' targets
    healthcheck: HealthConfig | None = None
    stop_signal: str = ""
    stop_timeout: int | None = None
    mounts: tuple[MountRequest, ...] = ()
    network_mode: str = "default"
    # The endpoint's --network-alias and --ip (a user network's, swarmpy.overlay.bridges).
    network_aliases: tuple[str, ...] = ()
    ip: str = ""
    port_requests: tuple[PortRequest, ...] = ()
    publish_all: bool = False
    restart_policy: restart.RestartPolicy = restart.NO_RESTART
    auto_remove: bool = False
    memory: int = 0
    nano_cpus: int = 0
    pids_limit: int = 0
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    read_only: bool = False
    init: bool = False
    # HostConfig.LogConfig (--log-driver, --log-opt), checked as a service's log driver.
    log: LogSettings = field(default_factory=LogSettings)
    # --add-host: (name, address) each; the address may be HOST_GATEWAY.
    extra_hosts: tuple[tuple[str, str], ...] = ()
    # --dns, --dns-search, --dns-option: what the container's resolv.conf says instead.
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()

    @property
    def network(self) -> str:
        """The network the container is on: Docker's "default" is the bridge."""
        return "bridge" if self.network_mode == "default" else self.network_mode

    @property
    def joins(self) -> str:
        """The container whose network namespace this one joins (``container:<ref>``), or
        ""."""
        kind, sep, ref = self.network_mode.partition(":")
        return ref if kind == "container" and sep else ""

    @property
    def user_network(self) -> bool:
        """Whether the container is on a user bridge (swarmpy.overlay.bridges)."""
        return self.network not in ("bridge", "host", "none") and not self.joins


# --add-host's special address: the default bridge's gateway, the host as containers see it.
HOST_GATEWAY = "host-gateway"


def parse_extra_host(entry: str) -> tuple[str, str]:
    """An --add-host entry, "name:address" (or "name=address", as dockerd also takes it; an
    IPv6 address keeps its colons), as (name, address), checked with Docker's words."""
    separator = "=" if "=" in entry else ":"
    name, sep, address = entry.partition(separator)
    if not sep or not name:
        raise InvalidArgument(f'bad format for add-host: "{entry}"')
    address = address.strip("[]")
    if address != HOST_GATEWAY:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise InvalidArgument(f'invalid IP address in add-host: "{address}"') from None
    return name, address


def merge_command(
    entrypoint: tuple[str, ...] | None,
    cmd: tuple[str, ...] | None,
    image_entrypoint: tuple[str, ...],
    image_cmd: tuple[str, ...],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Docker's Config.Entrypoint and Config.Cmd merged with the image's (moby's ``merge``
    then ``mergeAndVerifyConfig``): any Entrypoint given drops the image's Cmd, written for
    the image's Entrypoint; an empty one given (``[]``) clears the image's Entrypoint but keeps
    its Cmd; ``[""]`` (what ``run --entrypoint ""`` sends) clears both."""
    if not entrypoint:
        if not cmd:
            cmd = image_cmd
        if entrypoint is None:
            entrypoint = image_entrypoint
    if entrypoint == ("",):
        entrypoint = ()
    if not entrypoint and not cmd:
        raise InvalidArgument("no command specified")
    return entrypoint, cmd or ()


def check_name(name: str) -> str:
    """A requested name without its leading slash; Docker's refusal otherwise."""
    if not NAME_RE.match(name):
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name.lstrip("/")


def _optional_strings(f: Fields, key: str) -> tuple[str, ...] | None:
    raw = f.peek(key)
    if raw is None:
        f.unsupported([key])
        return None
    if isinstance(raw, str):  # docker-py and older clients send a command line as a string
        f.raw(key)
        return ("/bin/sh", "-c", raw) if key == "Cmd" else (raw,)
    return f.strings(key)


def parse_bind(text: str) -> MountRequest:
    """``-v SRC:DST[:OPTIONS]`` as HostConfig.Binds carries it."""
    parts = text.split(":")
    if len(parts) < 2 or len(parts) > 3 or not parts[0] or not parts[1]:
        raise InvalidArgument(f"invalid volume specification: '{text}'")
    source, target = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) == 3 else []
    readonly = False
    propagation = ""
    for opt in options:
        if opt in ("ro", "rw"):
            readonly = opt == "ro"
        elif opt in ("private", "rprivate", "shared", "rshared", "slave", "rslave"):
            propagation = opt
        elif opt in ("z", "Z", "nocopy", ""):
            continue  # SELinux labels (no SELinux here) and volume copy: nothing to do
        else:
            raise InvalidArgument(f"invalid mode: {opt}")
    if not target.startswith("/"):
        raise InvalidArgument(
            f"invalid volume specification: '{text}': invalid mount config for type "
            f"\"bind\": invalid mount path: '{target}' mount path must be absolute"
        )
    if source.startswith("/"):
        return MountRequest("bind", target, source, readonly, propagation, make_source=True)
    return MountRequest("volume", target, source, readonly, propagation)


def _mount(f: Fields) -> MountRequest:
    kind = f.text("Type")
    target = f.text("Target")
    source = f.text("Source")
    readonly = f.flag("ReadOnly")
    f.unsupported(["Consistency"])
    propagation = ""
    size = mode = 0
    bind = f.obj("BindOptions")
    if bind is not None:
        propagation = bind.text("Propagation")
        bind.unsupported(["NonRecursive", "CreateMountpoint"])
        bind.done()
    volume = f.obj("VolumeOptions")
    if volume is not None:
        if kind != "volume":
            raise InvalidArgument(f"invalid mount config: VolumeOptions for type {kind!r}")
        volume.unsupported(["NoCopy", "Labels", "DriverConfig"])
        volume.done()
    tmpfs = f.obj("TmpfsOptions")
    if tmpfs is not None:
        size = tmpfs.integer("SizeBytes")
        mode = tmpfs.integer("Mode")
        tmpfs.done()
    f.done()
    if kind not in ("bind", "volume", "tmpfs"):
        raise InvalidArgument(f"invalid mount config: mount type unknown: {kind!r}")
    if not target.startswith("/"):
        raise InvalidArgument(
            f"invalid mount config for type \"{kind}\": invalid mount path: '{target}' "
            "mount path must be absolute"
        )
    if kind == "bind" and not source:
        raise InvalidArgument(
            'invalid mount config for type "bind": field Source must not be empty'
        )
    return MountRequest(kind, target, source, readonly, propagation, size, mode)


def parse_create(body: Any) -> CreateSpec:
    """Docker's create request body (Config with HostConfig and NetworkingConfig inside)."""
    f = Fields(body)
    image = f.text("Image")
    if not image:
        raise InvalidArgument("image name is required")
    spec: dict[str, Any] = {
        "image": image,
        "hostname": f.text("Hostname"),
        "user": f.text("User"),
        "env": f.strings("Env"),
        "cmd": _optional_strings(f, "Cmd"),
        "entrypoint": _optional_strings(f, "Entrypoint"),
        "workdir": f.text("WorkingDir"),
        "labels": f.labels("Labels"),
        "tty": f.flag("Tty"),
        "open_stdin": f.flag("OpenStdin"),
        "stdin_once": f.flag("StdinOnce"),
        "attach": (f.flag("AttachStdin"), f.flag("AttachStdout"), f.flag("AttachStderr")),
        "stop_signal": f.text("StopSignal"),
    }
    for item in spec["env"]:
        if not item or item.startswith("="):
            raise InvalidArgument(f"invalid environment variable: {item}")
    if spec["workdir"] and not spec["workdir"].startswith("/"):
        raise InvalidArgument(
            f"the working directory '{spec['workdir']}' is invalid, it needs to be an absolute path"
        )
    exposed = f.obj("ExposedPorts")
    keys: list[str] = []
    if exposed is not None:
        keys = exposed.keys()
        for key in keys:
            exposed.raw(key)
        spec["exposed"] = tuple(sorted({_port_key(k) for k in keys}))
    volumes = f.obj("Volumes")
    if volumes is not None:
        spec["volumes"] = tuple(sorted(volumes.keys()))
        for key in spec["volumes"]:
            volumes.raw(key)
    health = f.obj("Healthcheck")
    if health is not None:
        spec["healthcheck"] = read_health(health)
        health.done()
    timeout = f.raw("StopTimeout")
    if timeout is not None:
        if not isinstance(timeout, int) or isinstance(timeout, bool):
            raise InvalidArgument("invalid StopTimeout: expected an integer")
        spec["stop_timeout"] = timeout
    f.unsupported(_CONFIG_ZERO)
    host = f.obj("HostConfig")
    if host is not None:
        spec.update(_host_config(host, spec))
    net = f.obj("NetworkingConfig")
    if net is not None:
        endpoints = net.obj("EndpointsConfig")
        if endpoints is not None:
            names = endpoints.keys()
            if len(names) > 1:
                raise InvalidArgument(
                    "Container cannot be connected to network endpoints: "
                    + ", ".join(sorted(names))
                )
            for name in names:
                ep = endpoints.obj(name)
                if ep is not None:
                    spec["network_aliases"] = ep.strings("Aliases")
                    ipam = ep.obj("IPAMConfig")
                    if ipam is not None:
                        spec["ip"] = ipam.text("IPv4Address")
                        ipam.unsupported(["IPv6Address", "LinkLocalIPs"])
                        ipam.done()
                    ep.unsupported(
                        [
                            "Links",
                            "NetworkID",
                            "EndpointID",
                            "Gateway",
                            "IPAddress",
                            "IPPrefixLen",
                            "IPv6Gateway",
                            "GlobalIPv6Address",
                            "GlobalIPv6PrefixLen",
                            "MacAddress",
                            "DriverOpts",
                        ]
                    )
                    ep.done()
            endpoints.done()
        net.done()
    f.done()
    return CreateSpec(**spec)


def _port_key(key: str) -> str:
    port, proto = parse_port_key(key)
    return f"{port}/{proto}"


def _check_dns(mode: str, servers: tuple[str, ...], any_dns: bool) -> None:
    """--dns and its kin, where swarmpy can honour them: a container sharing another's
    namespace has its resolv.conf (moby refuses --dns there, in these words), one on no
    network has none, and on a user or swarm network the embedded DNS answers at
    127.0.0.11, forwarding to the node's resolvers, not to servers of the container's."""
    if mode in ("none", "container") or mode.startswith("container:"):
        if any_dns:
            raise InvalidArgument("conflicting options: dns and the network mode")
        return
    for server in servers:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise InvalidArgument(f"IP address is not correctly formatted: {server}") from None
    if servers and mode not in ("default", "bridge", "host"):
        raise InvalidArgument(
            "--dns is supported on the default bridge and the host network only: on "
            f"{mode} the embedded DNS forwards to the node's resolvers"
        )


def _check_container_mode(
    mode: str, spec: dict[str, Any], publishes: bool, extra_hosts: bool
) -> None:
    """moby's validateNetContainerMode, in its words (Dns and Links are refused for every
    mode already)."""
    if not mode.partition(":")[2]:
        raise InvalidArgument("invalid network mode: invalid container format container:<name|id>")
    if spec.get("hostname"):
        raise InvalidArgument("conflicting options: hostname and the network mode")
    if extra_hosts:
        raise InvalidArgument("conflicting options: custom host-to-IP mapping and the network mode")
    if publishes:
        raise InvalidArgument(
            "conflicting options: port publishing and the container type network mode"
        )
    if spec.get("exposed"):
        raise InvalidArgument(
            "conflicting options: port exposing and the container type network mode"
        )


def _host_config(h: Fields, spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    mounts = [parse_bind(b) for b in h.strings("Binds")]
    mounts += [_mount(m) for m in h.objs("Mounts")]
    out["mounts"] = tuple(mounts)
    mode = h.text("NetworkMode") or "default"
    out["network_mode"] = mode
    raw_bindings = h.raw("PortBindings") or {}
    if not isinstance(raw_bindings, dict):
        raise InvalidArgument("invalid HostConfig.PortBindings: expected an object")
    publish_all = h.flag("PublishAllPorts")
    out["extra_hosts"] = tuple(parse_extra_host(entry) for entry in h.strings("ExtraHosts"))
    out["dns"] = h.strings("Dns")
    out["dns_search"] = h.strings("DnsSearch")
    out["dns_options"] = h.strings("DnsOptions")
    _check_dns(mode, out["dns"], bool(out["dns"] or out["dns_search"] or out["dns_options"]))
    if mode == "container" or mode.startswith("container:"):
        publishes = bool(raw_bindings or publish_all)
        _check_container_mode(mode, spec, publishes, bool(out["extra_hosts"]))
    out["publish_all"] = publish_all
    out["port_requests"] = requests_of(raw_bindings, (), False)
    if raw_bindings:
        # A published port is exposed, as Docker's CLI and daemon make it.
        spec["exposed"] = tuple(
            sorted(set(spec.get("exposed", ())) | {_port_key(k) for k in raw_bindings})
        )
    if mode in ("host", "none") and (raw_bindings or publish_all):
        # Docker ignores them with a warning; publishing nothing must not look like success.
        raise InvalidArgument(f"published ports are discarded when using {mode} network mode")
    log_config = h.obj("LogConfig")
    if log_config is not None:
        driver = log_config.text("Type")
        options = log_config.labels("Config")
        log_config.done()
        if driver or options:  # nothing said: swarmpy's default keeping
            out["log"] = logdriver.settings(LogDriver(driver or logdriver.JSON_FILE, options))
    policy = h.obj("RestartPolicy")
    if policy is not None:
        out["restart_policy"] = restart.check(
            policy.text("Name"), policy.integer("MaximumRetryCount")
        )
        policy.done()
    out["auto_remove"] = h.flag("AutoRemove")
    if out["auto_remove"] and out.get("restart_policy", restart.NO_RESTART).restarts:
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    out["memory"] = h.integer("Memory")
    if out["memory"] and out["memory"] < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    out["nano_cpus"] = h.integer("NanoCpus")
    # dockerd's bound: no more CPUs than the daemon may run on (a quota above them would
    # never limit anything, so it is a typo).
    cpus = len(os.sched_getaffinity(0))
    if not 0 <= out["nano_cpus"] <= cpus * 1_000_000_000:
        raise InvalidArgument(
            f"Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        )
    pids = h.raw("PidsLimit")
    if isinstance(pids, int) and not isinstance(pids, bool) and pids > 0:
        out["pids_limit"] = pids
    out["cap_add"] = h.strings("CapAdd")
    out["cap_drop"] = h.strings("CapDrop")
    out["read_only"] = h.flag("ReadonlyRootfs")
    init = h.raw("Init")
    if init is not None and not isinstance(init, bool):
        raise InvalidArgument("invalid HostConfig.Init: expected a boolean")
    out["init"] = bool(init)
    console = h.raw("ConsoleSize")
    if console is not None and not (
        isinstance(console, list) and all(isinstance(v, int) for v in console)
    ):
        raise InvalidArgument("invalid HostConfig.ConsoleSize: expected two integers")
    for key, default in _HOST_DEFAULTS.items():
        if h.peek(key) == default:
            h.raw(key)
    h.unsupported(_HOST_ZERO)
    h.unsupported_maps(_HOST_MAPS)
    h.done()
    return out
