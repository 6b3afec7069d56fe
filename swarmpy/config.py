"""The daemon's configuration and the node's persisted swarm identity."""

from __future__ import annotations

import dataclasses
import json
import socket
from dataclasses import dataclass, field
from pathlib import Path

from swarmpy.ca import keywrap
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
    # dockerd's --node-generic-resource: user-defined resources the node advertises to the
    # swarm ("gpu=UUID1", "SSD=3"); see swarmpy.genericresource.
    node_generic_resources: tuple[str, ...] = ()

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
    # Managers only: the key secrets are sealed with in the store (swarmpy.manager.sealing),
    # and the cluster's earlier ones (a rotation), newest first, for what they sealed.
    data_key: str = ""
    previous_data_keys: tuple[str, ...] = ()
    # Autolock: the three above, wrapped under the unlock key (swarmpy.ca.keywrap) while the
    # file holds them empty. A state loaded with it is *locked* until ``unlocked(kek)``.
    locked_keys: str = ""

    @property
    def locked(self) -> bool:
        return bool(self.locked_keys)

    @property
    def data_keys(self) -> tuple[str, ...]:
        """Every data key held, the current one first."""
        return tuple(k for k in (self.data_key, *self.previous_data_keys) if k)

    def with_data_key(self, key: str) -> SwarmState:
        """The state with ``key`` as the current data key, the others kept behind it."""
        rest = tuple(k for k in self.data_keys if k != key)
        return dataclasses.replace(self, data_key=key, previous_data_keys=rest)

    def merged_data_keys(self, keys: tuple[str, ...]) -> SwarmState:
        """The state with the keys a manager handed over (its current one first) added."""
        if not keys:
            return self
        ours = tuple(k for k in self.data_keys if k not in keys)
        return dataclasses.replace(self, data_key=keys[0], previous_data_keys=(*keys[1:], *ours))

    def unlocked(self, kek: bytes) -> SwarmState:
        """The state with its keys opened; ``keywrap.InvalidUnlockKey`` for a wrong key."""
        return self.opened(kek)[0]

    def opened(self, kek: bytes) -> tuple[SwarmState, bytes | None]:
        """The state with its keys opened, and the unlock key the node's TLS key may still be
        under (``save``'s ``previous_kek``); ``keywrap.InvalidUnlockKey`` for a wrong key."""
        if not self.locked_keys:
            return self, None
        secret = json.loads(keywrap.unwrap(kek, self.locked_keys, _STATE_LABEL))
        state = dataclasses.replace(
            self,
            raft_password=secret["raft_password"],
            data_key=secret["data_key"],
            previous_data_keys=tuple(secret["previous_data_keys"]),
            locked_keys="",
        )
        previous = secret.get("previous_kek")
        return state, bytes.fromhex(previous) if previous else None

    @property
    def raft_addr(self) -> str:
        host, port = split_addr(self.listen_addr)
        return f"{self.advertise_addr or host}:{port + RAFT_PORT_OFFSET}"

    @property
    def api_addr(self) -> str:
        _, port = split_addr(self.listen_addr)
        return f"{self.advertise_addr}:{port}"

    def save(self, path: Path, kek: bytes | None = None, previous_kek: bytes | None = None) -> None:
        """Write the state; with ``kek`` (autolock) its keys wrapped under it, and with
        ``previous_kek`` the unlock key the node's TLS key is under until it is written again
        (swarmpy.keyfiles: a crash between the two writes must not lock the node out)."""
        if self.locked_keys:
            raise ValueError("a locked swarm state is saved only once unlocked")
        data = dataclasses.asdict(self)
        if kek is not None:
            secret: dict[str, object] = {
                "raft_password": self.raft_password,
                "data_key": self.data_key,
                "previous_data_keys": list(self.previous_data_keys),
            }
            if previous_kek is not None:
                secret["previous_kek"] = previous_kek.hex()
            data.update(raft_password="", data_key="", previous_data_keys=[])
            data["locked_keys"] = keywrap.wrap(kek, json.dumps(secret).encode(), _STATE_LABEL)
        path.parent.mkdir(parents=True, exist_ok=True)
        # 0600 from its creation (it holds the Raft password), whatever the umask; durable,
        # since a node that lost it on a power cut would forget it ever joined.
        write_atomic(path, json.dumps(data, indent=2), 0o600)

    @classmethod
    def load(cls, path: Path) -> SwarmState | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        data["managers"] = tuple(data.get("managers", ()))
        data["raft_members"] = tuple(data.get("raft_members", ()))
        data["previous_data_keys"] = tuple(data.get("previous_data_keys", ()))
        return cls(**data)


# The associated data of the state file's wrapped keys.
_STATE_LABEL = "swarmpy swarm state keys"


def split_addr(addr: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """'h:p' / 'h' → (h, p); raises ValueError on a bad port."""
    host, sep, port = addr.rpartition(":")
    if not sep:
        return addr, default_port
    return host, int(port)
