"""Several "hosts" on one machine: network namespaces on a shared underlay bridge.

A host is a network namespace whose ``eth0`` is a veth into a bridge that lives in the lab's
own underlay namespace, so the lab adds nothing to the machine's root namespace. Processes run
inside a host through ``nsenter`` plus ``unshare --uts`` so each sees its own hostname. The
mount namespace is shared, hence every path a host's daemon uses lives under
``<state_dir>/<hostname>/``.

Everything the lab creates is written to ``<state_dir>/lab.json`` *before* it is created and
namespaces are named ``<lab>.<host>``, so ``destroy()`` works twice, and from another
process after the creating one was killed (``Lab.load(state_dir).destroy()``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any, TypeVar

from pyroute2 import IPRoute
from pyroute2 import netns as pyroute2_netns

from swarmpy.errors import AlreadyExists, InvalidArgument, NotFound, Unavailable
from swarmpy.lab import teardown
from swarmpy.lab.netns import call_in_netns, list_netns, netns_inode, netns_path

log = logging.getLogger(__name__)

T = TypeVar("T")

STATE_FILE = "lab.json"
DEFAULT_SUBNET = "198.51.100.0/24"
UNDERLAY_BRIDGE = "br0"
DEFAULT_MTU = 1500
# Host number (last octet offset) of the lab's infrastructure host: registry and DNS.
INFRA_HOST_NUMBER = 2
# The n-th host added gets host number FIRST_HOST_NUMBER + n (1-based): .11, .12, ...
FIRST_HOST_NUMBER = 10
CONTROL_PORT = 2377
REGISTRY_PORT = 5000
_SUN_PATH_MAX = 107

_LAB_NAME = re.compile(r"^[a-z0-9]{1,12}$")
_HOSTNAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


@dataclass(frozen=True)
class Host:
    name: str  # the hostname its processes see
    netns: str
    ip: str  # underlay address
    number: int  # host part of ``ip`` within the lab subnet
    dir: Path  # <state_dir>/<name>
    # The daemon's --name-prefix: its netns, links, cgroups and nft tables are named from it.
    daemon_prefix: str

    @property
    def socket_path(self) -> Path:
        return self.dir / "swarmpy.sock"

    @property
    def socket_url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def data_root(self) -> Path:
        return self.dir / "data"

    @property
    def runc_root(self) -> Path:
        return self.data_root / "runc"

    @property
    def resolv_conf(self) -> Path:
        return self.dir / "resolv.conf"

    @property
    def daemon_log(self) -> Path:
        return self.dir / "daemon.log"

    @property
    def control_addr(self) -> str:
        return f"{self.ip}:{CONTROL_PORT}"


@dataclass(frozen=True)
class _Process:
    pid: int
    started: int  # kernel start time: a recycled pid never matches


@dataclass(frozen=True)
class LabState:
    """What ``lab.json`` holds: enough to find everything again after a crash."""

    name: str
    subnet: str
    hosts: tuple[Host, ...] = ()
    processes: tuple[_Process, ...] = ()
    cgroup_prefixes: tuple[str, ...] = ()
    netns_prefixes: tuple[str, ...] = ()
    mtu: int = DEFAULT_MTU

    def to_json(self) -> str:
        data = asdict(self)
        for host in data["hosts"]:
            host["dir"] = str(host["dir"])
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> LabState:
        data = json.loads(text)
        return cls(
            name=data["name"],
            subnet=data["subnet"],
            hosts=tuple(Host(**{**h, "dir": Path(h["dir"])}) for h in data["hosts"]),
            processes=tuple(_Process(**p) for p in data["processes"]),
            cgroup_prefixes=tuple(data["cgroup_prefixes"]),
            netns_prefixes=tuple(data["netns_prefixes"]),
            mtu=int(data.get("mtu", DEFAULT_MTU)),
        )


def swarmpy_executable() -> Path:
    return Path(sys.executable).parent / "swarmpy"


def daemon_prefix(lab_name: str, hostname: str) -> str:
    """A 5-character --name-prefix (the daemon's maximum), unique per lab and host with
    overwhelming odds, so daemons of labs running side by side never share kernel objects."""
    digest = int.from_bytes(hashlib.sha256(f"{lab_name}/{hostname}".encode()).digest()[:8])
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "d" + "".join(alphabet[(digest >> (6 * i)) % 36] for i in range(4))


def daemon_cgroup_parent(prefix: str) -> str:
    # Mirrors the agent's runtime (cgroup parent "swarmpy-<name prefix>").
    return f"swarmpy-{prefix}"


def daemon_netns_prefix(prefix: str) -> str:
    # Mirrors swarmpy.overlay.names.Names.sandbox.
    return f"{prefix}-"


@dataclass
class Lab:
    """A set of hosts on one underlay. Not thread-safe; one Lab object per lab."""

    name: str
    state_dir: Path
    subnet: str = DEFAULT_SUBNET
    # Extra cgroup / netns name prefixes destroy() removes: whatever the daemons create.
    cgroup_prefixes: Sequence[str] = ()
    netns_prefixes: Sequence[str] = ()
    mtu: int = DEFAULT_MTU  # of the underlay links (9000: jumbo frames, as on many clouds)
    _state: LabState = field(init=False)
    _children: list[subprocess.Popen[bytes]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        if not _LAB_NAME.match(self.name):
            raise InvalidArgument(f"lab name {self.name!r} must be 1-12 of [a-z0-9]")
        self.state_dir = Path(self.state_dir).resolve()
        self._network = ipaddress.ip_network(self.subnet)
        self._state = LabState(
            name=self.name,
            subnet=self.subnet,
            cgroup_prefixes=tuple(self.cgroup_prefixes),
            netns_prefixes=tuple(self.netns_prefixes),
            mtu=self.mtu,
        )

    @classmethod
    def load(cls, state_dir: Path) -> Lab:
        """The lab recorded in ``state_dir`` (to destroy it, or to keep using it)."""
        path = Path(state_dir) / STATE_FILE
        try:
            state = LabState.from_json(path.read_text())
        except FileNotFoundError:
            raise NotFound(f"no lab state file at {path}") from None
        lab = cls(state.name, Path(state_dir), state.subnet, mtu=state.mtu)
        lab._state = state
        return lab

    # ------------------------------------------------------------ naming

    @property
    def netns_prefix(self) -> str:
        # Daemons name their namespaces "<prefix>-...": the dot keeps the two apart.
        return f"{self.name}."

    @property
    def underlay_netns(self) -> str:
        # '_' cannot appear in a hostname, so the underlay never collides with a host.
        return f"{self.netns_prefix}_ul"

    def host_netns(self, hostname: str) -> str:
        return f"{self.netns_prefix}{hostname}"

    def address(self, number: int) -> str:
        return str(self._network[number])

    @property
    def infra_ip(self) -> str:
        """The registry/DNS host's address; every host's resolv.conf points here."""
        return self.address(INFRA_HOST_NUMBER)

    @property
    def registry_addr(self) -> str:
        return f"{self.infra_ip}:{REGISTRY_PORT}"

    @property
    def hosts(self) -> tuple[Host, ...]:
        return self._state.hosts

    def host(self, hostname: str) -> Host:
        for host in self._state.hosts:
            if host.name == hostname:
                return host
        raise NotFound(f"lab {self.name} has no host {hostname!r}")

    # ------------------------------------------------------------ state

    def _save(self, state: LabState) -> None:
        self._state = state
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_dir / f".{STATE_FILE}.tmp"
        tmp.write_text(state.to_json())
        tmp.replace(self.state_dir / STATE_FILE)

    # ------------------------------------------------------------ building

    def create_underlay(self) -> None:
        self._save(self._state)
        _ensure_netns(self.underlay_netns)
        with IPRoute(netns=self.underlay_netns) as ipr:
            _link_up(ipr, "lo")
            if not ipr.link_lookup(ifname=UNDERLAY_BRIDGE):
                ipr.link("add", ifname=UNDERLAY_BRIDGE, kind="bridge")
            _link_up(ipr, UNDERLAY_BRIDGE)

    def add_host(self, hostname: str, *, number: int | None = None) -> Host:
        """Plug a new host into the underlay. ``number`` picks its address (default: the
        n-th host added gets .10+n)."""
        if not _HOSTNAME.match(hostname):
            raise InvalidArgument(f"hostname {hostname!r} must be [a-z0-9-], at most 31 chars")
        if any(h.name == hostname for h in self.hosts):
            raise AlreadyExists(f"lab {self.name} already has a host {hostname!r}")
        if number is None:
            number = FIRST_HOST_NUMBER + 1 + sum(h.number > FIRST_HOST_NUMBER for h in self.hosts)
        host = Host(
            name=hostname,
            netns=self.host_netns(hostname),
            ip=self.address(number),
            number=number,
            dir=self.state_dir / hostname,
            daemon_prefix=daemon_prefix(self.name, hostname),
        )
        if len(os.fsencode(host.socket_path)) > _SUN_PATH_MAX:
            raise InvalidArgument(f"state dir too long for a unix socket: {host.socket_path}")
        self._save(replace(self._state, hosts=(*self.hosts, host)))
        host.dir.mkdir(parents=True, exist_ok=True)
        host.resolv_conf.write_text(f"nameserver {self.infra_ip}\n")
        _ensure_netns(host.netns)
        self._plug(host)
        return host

    def _plug(self, host: Host) -> None:
        # Names inside the underlay namespace are private to the lab, so they stay short.
        port = f"h{host.number}"
        with IPRoute(netns=self.underlay_netns) as ipr:
            if not ipr.link_lookup(ifname=port):
                ipr.link(
                    "add",
                    ifname=port,
                    kind="veth",
                    mtu=self._state.mtu,
                    peer={"ifname": "eth0", "net_ns_fd": host.netns, "mtu": self._state.mtu},
                )
            bridge = ipr.link_lookup(ifname=UNDERLAY_BRIDGE)[0]
            ipr.link("set", index=ipr.link_lookup(ifname=port)[0], master=bridge, state="up")
        with IPRoute(netns=host.netns) as ipr:
            _link_up(ipr, "lo")
            eth0 = ipr.link_lookup(ifname="eth0")[0]
            ipr.addr("replace", index=eth0, address=host.ip, prefixlen=self._network.prefixlen)
            ipr.link("set", index=eth0, state="up")

    # ------------------------------------------------------------ processes

    def host_env(self, host: Host) -> dict[str, str]:
        # The docker CLI too (`lab exec node1 -- docker service ls`): on a lab host both
        # clients talk to that host's daemon, as on a Docker host.
        return {"SWARMPY_HOST": host.socket_url, "DOCKER_HOST": host.socket_url}

    def _argv(self, host: Host, argv: Sequence[str | os.PathLike[str]]) -> list[str]:
        return [
            "nsenter",
            f"--net={netns_path(host.netns)}",
            "unshare",
            "--uts",
            "sh",
            "-c",
            'hostname "$1" && shift && exec "$@"',
            "sh",
            host.name,
            *map(str, argv),
        ]

    def _env(self, host: Host, env: Mapping[str, str] | None) -> dict[str, str]:
        return {**os.environ, **self.host_env(host), **(env or {})}

    def run(
        self,
        host: Host,
        argv: Sequence[str | os.PathLike[str]],
        *,
        env: Mapping[str, str] | None = None,
        **kw: Any,
    ) -> subprocess.CompletedProcess[Any]:
        """Run ``argv`` to completion inside ``host`` (keywords go to subprocess.run)."""
        return subprocess.run(self._argv(host, argv), env=self._env(host, env), **kw)

    def spawn(
        self,
        host: Host,
        argv: Sequence[str | os.PathLike[str]],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a long-running ``argv`` inside ``host`` in its own process group, output
        appended to ``log_path``; destroy() kills it and everything it started."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            proc = _popen(self._argv(host, argv), self._env(host, env), out)
        self._children.append(proc)
        started = teardown.start_time(proc.pid)
        if started is not None:
            self._save(
                replace(
                    self._state, processes=(*self._state.processes, _Process(proc.pid, started))
                )
            )
        return proc

    def call_in(self, host: Host, fn: Callable[[], T]) -> T:
        """Run ``fn()`` in a thread inside ``host``'s network namespace (sockets it opens are
        on the underlay)."""
        return call_in_netns(host.netns, fn)

    # ------------------------------------------------------------ daemons

    def daemon_argv(self, host: Host, extra_args: Sequence[str] = ()) -> list[str]:
        return [
            str(swarmpy_executable()),
            "daemon",
            "--data-root",
            str(host.data_root),
            "--host",
            host.socket_url,
            "--advertise-addr",
            host.ip,
            "--listen-addr",
            host.control_addr,
            "--insecure-registry",
            self.registry_addr,
            "--registry-mirror",
            f"http://{self.registry_addr}",
            "--resolv-conf",
            str(host.resolv_conf),
            "--name-prefix",
            host.daemon_prefix,
            *extra_args,
        ]

    def start_daemon(self, host: Host, extra_args: Sequence[str] = ()) -> subprocess.Popen[bytes]:
        host.data_root.mkdir(parents=True, exist_ok=True)
        return self.spawn(host, self.daemon_argv(host, extra_args), host.daemon_log)

    def wait_for_socket(self, host: Host, timeout: float = 20.0) -> None:
        """Block until ``host``'s daemon accepts connections on its unix socket."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.socket(socket.AF_UNIX) as sock:
                    sock.connect(str(host.socket_path))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise Unavailable(
                        f"daemon on {host.name} did not listen on {host.socket_path} within "
                        f"{timeout:.0f}s; see {host.daemon_log}"
                    ) from None
                time.sleep(0.05)

    # ------------------------------------------------------------ teardown

    def destroy(self) -> None:
        """Remove everything the lab and its daemons made. Idempotent and crash-safe."""
        state = self._state
        namespaces = sorted(
            set(list_netns(self.netns_prefix))
            | {self.underlay_netns}
            | {ns for prefix in state.netns_prefixes for ns in list_netns(prefix)}
            | {ns for h in state.hosts for ns in list_netns(daemon_netns_prefix(h.daemon_prefix))}
        )
        inodes = {i for i in map(netns_inode, namespaces) if i is not None}
        recorded = {p.pid for p in state.processes if teardown.start_time(p.pid) == p.started}
        teardown.kill_and_wait(teardown.with_descendants(recorded | teardown.pids_in_netns(inodes)))
        for proc in self._children:
            proc.wait()
        self._children.clear()
        for runc_root in self.state_dir.glob("*/data/runc"):
            teardown.delete_runc_containers(runc_root)
        teardown.unmount_all(self.state_dir)
        teardown.remove_cgroups(
            (*state.cgroup_prefixes, *(daemon_cgroup_parent(h.daemon_prefix) for h in state.hosts))
        )
        for name in namespaces:
            _remove_netns(name)
        if teardown.mounts_under(self.state_dir):
            raise Unavailable(f"mounts remain under {self.state_dir}; not removing it")
        shutil.rmtree(self.state_dir, ignore_errors=True)


# ---------------------------------------------------------------- pyroute2 / process edges


def _ensure_netns(name: str) -> None:
    if netns_inode(name) is None:
        pyroute2_netns.create(name)


def _remove_netns(name: str) -> None:
    if netns_path(name).exists():
        try:
            pyroute2_netns.remove(name)
        except OSError as exc:
            log.warning("cannot remove network namespace %s: %s", name, exc)


def _link_up(ipr: IPRoute, ifname: str) -> None:
    ipr.link("set", index=ipr.link_lookup(ifname=ifname)[0], state="up")


def _popen(argv: list[str], env: dict[str, str], out: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
