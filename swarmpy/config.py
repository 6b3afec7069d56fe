"""The daemon's configuration and the node's persisted swarm identity."""

from __future__ import annotations

import dataclasses
import json
import socket
from dataclasses import dataclass, field
from pathlib import Path

from swarmpy.fsutil import write_atomic

DEFAULT_DATA_ROOT = Path("/var/lib/swarmpy")
# Where the Docker Engine API listens when no -H is given (and where the CLI looks for it).
DEFAULT_HOST = "unix:///run/swarmpy/swarmpy.sock"
DEFAULT_SOCKET_GROUP = "swarmpy"  # may use the local socket, as the docker group docker.sock
DEFAULT_PORT = 2377
# pysyncobj speaks its own protocol, so Raft gets the port after the control port.
RAFT_PORT_OFFSET = 1


@dataclass(frozen=True)
class DaemonConfig:
    data_root: Path = DEFAULT_DATA_ROOT
    # Where the Docker Engine API listens (dockerd's -H, repeatable: unix:///path,
    # tcp://addr:port). TCP needs TLS (dockerd's --tlsverify and friends) or
    # api_insecure_tcp.
    hosts: tuple[str, ...] = (DEFAULT_HOST,)
    listen_addr: str = ""  # default for swarm init/join: "<advertise>:2377"
    advertise_addr: str = ""
    insecure_registries: tuple[str, ...] = ()
    registry_mirrors: tuple[str, ...] = ()
    resolv_conf: Path = Path("/etc/resolv.conf")
    local_subnet: str = "172.18.0.0/16"
    # Prefix of every kernel object this daemon makes (netns, bridges, cgroups, nft tables):
    # several daemons on one machine (the lab) must not share one.
    name_prefix: str = "sp"
    # Members of this group may use the local socket (0660 root:<group>); without the group
    # it is root's only (0600). dockerd's --group.
    socket_group: str = DEFAULT_SOCKET_GROUP
    tls_verify: bool = False
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    api_insecure_tcp: bool = False

    @property
    def runc_root(self) -> Path:
        return self.data_root / "runc"

    @property
    def state_file(self) -> Path:
        return self.data_root / "swarm" / "state.json"

    @property
    def certs_dir(self) -> Path:
        return self.data_root / "certificates"

    @property
    def raft_dir(self) -> Path:
        return self.data_root / "raft"

    @property
    def hostname(self) -> str:
        return socket.gethostname()


@dataclass(frozen=True)
class SwarmState:
    """What a node remembers of its swarm between restarts (certificates live beside it)."""

    node_id: str
    cluster_id: str
    role: str
    listen_addr: str
    advertise_addr: str
    managers: tuple[str, ...] = ()
    raft_password: str = ""
    raft_members: tuple[str, ...] = field(default_factory=tuple)
    # Managers only: the key secrets are sealed with in the store (swarmpy.manager.sealing).
    data_key: str = ""

    @property
    def raft_addr(self) -> str:
        host, port = split_addr(self.listen_addr)
        return f"{self.advertise_addr or host}:{port + RAFT_PORT_OFFSET}"

    @property
    def api_addr(self) -> str:
        _, port = split_addr(self.listen_addr)
        return f"{self.advertise_addr}:{port}"

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # 0600 from its creation (it holds the Raft password), whatever the umask; durable,
        # since a node that lost it on a power cut would forget it ever joined.
        write_atomic(path, json.dumps(dataclasses.asdict(self), indent=2), 0o600)

    @classmethod
    def load(cls, path: Path) -> SwarmState | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        data["managers"] = tuple(data.get("managers", ()))
        data["raft_members"] = tuple(data.get("raft_members", ()))
        return cls(**data)


def split_addr(addr: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """'h:p' / 'h' → (h, p); raises ValueError on a bad port."""
    host, sep, port = addr.rpartition(":")
    if not sep:
        return addr, default_port
    return host, int(port)
