"""Docker's Swarm, SwarmSpec, init and join JSON <-> swarmpy.model
(daemon/cluster/convert/swarm.go). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swarmpy.errors import InvalidArgument
from swarmpy.model import Cluster
from swarmpy.protocol import DEFAULT_HEARTBEAT_PERIOD_S
from swarmpy.server.convert.common import nanos, timestamp, version
from swarmpy.server.convert.fields import Fields, is_zero

VXLAN_PORT = 4789


def swarm_spec_json(cluster: Cluster) -> dict[str, Any]:
    return {
        "Name": cluster.name,
        "Labels": {},
        "Orchestration": {"TaskHistoryRetentionLimit": cluster.task_history_limit},
        # pysyncobj has no ticks or snapshot interval to show: Docker's zero values.
        "Raft": {},
        "Dispatcher": {"HeartbeatPeriod": nanos(cluster.heartbeat_period_s)},
        "CAConfig": {"NodeCertExpiry": nanos(cluster.node_cert_expiry_s)},
        "TaskDefaults": {},
        "EncryptionConfig": {"AutoLockManagers": False},
    }


def cluster_info_json(cluster: Cluster, index: int | None) -> dict[str, Any]:
    """Docker's ClusterInfo: the swarm as /info shows it (no join tokens)."""
    return {
        "ID": cluster.id,
        "Version": version(index),
        "CreatedAt": timestamp(cluster.created_at),
        "UpdatedAt": timestamp(cluster.updated_at),
        "Spec": swarm_spec_json(cluster),
        "TLSInfo": {"TrustRoot": cluster.root_ca_cert},
        "RootRotationInProgress": cluster.root_rotation is not None,
        "DataPathPort": VXLAN_PORT,
        "DefaultAddrPool": [],
        "SubnetSize": 24,
    }


def swarm_json(cluster: Cluster, index: int | None) -> dict[str, Any]:
    """GET /swarm: ClusterInfo and the join tokens."""
    out = cluster_info_json(cluster, index)
    out["JoinTokens"] = {"Worker": cluster.tokens.worker, "Manager": cluster.tokens.manager}
    return out


def _differences(sent: Any, have: Any, path: str) -> list[str]:
    """Where ``sent`` asks for something other than ``have`` (zeros ask for nothing)."""
    if isinstance(sent, dict):
        have_map = have if isinstance(have, dict) else {}
        out: list[str] = []
        for key, value in sent.items():
            out += _differences(value, have_map.get(key), f"{path}.{key}" if path else key)
        return out
    if is_zero(sent) or sent == have:
        return []
    return [path]


def check_swarm_spec_unchanged(body: Any, cluster: Cluster) -> None:
    """swarmpy's control API changes no swarm setting after init, so /swarm/update takes only
    the spec a client read back (to rotate a join token) and refuses any change, by name."""
    changed = _differences(body if body is not None else {}, swarm_spec_json(cluster), "")
    if changed:
        raise InvalidArgument(
            f"unsupported change of {changed[0]}: swarmpy cannot change it after swarm init"
        )


@dataclass(frozen=True)
class InitRequest:
    advertise_addr: str
    listen_addr: str
    force_new_cluster: bool
    heartbeat_period_s: float
    task_history_limit: int


def _check_node_options(f: Fields) -> None:
    availability = f.text("Availability")
    if availability not in ("", "active"):
        raise InvalidArgument(
            f"unsupported Availability {availability!r} at join: set it with node update"
        )
    port = f.integer("DataPathPort")
    if port not in (0, VXLAN_PORT):
        raise InvalidArgument(f"unsupported DataPathPort {port}: VXLAN uses {VXLAN_PORT}")
    f.unsupported(("DataPathAddr",))


def init_request(body: Any) -> InitRequest:
    f = Fields(body)
    advertise = f.text("AdvertiseAddr")
    listen = f.text("ListenAddr")
    force = f.flag("ForceNewCluster")
    _check_node_options(f)
    # 24 is Docker's CLI's default SubnetSize, and swarmpy's.
    f.unsupported(("AutoLockManagers", "DefaultAddrPool", "SubnetSize"), zeros={"SubnetSize": 24})
    heartbeat, history = 0.0, 0
    spec = f.obj("Spec")
    if spec is not None:
        orchestration = spec.obj("Orchestration")
        if orchestration is not None:
            history = orchestration.integer("TaskHistoryRetentionLimit")
            orchestration.done()
        dispatcher = spec.obj("Dispatcher")
        if dispatcher is not None:
            heartbeat = dispatcher.seconds("HeartbeatPeriod", 0.0)
            dispatcher.done()
        spec.unsupported(
            ("Name", "Labels", "Raft", "CAConfig", "TaskDefaults", "EncryptionConfig"),
            zeros={"Name": "default"},
        )
        spec.done()
    f.done()
    return InitRequest(advertise, listen, force, heartbeat or DEFAULT_HEARTBEAT_PERIOD_S, history)


@dataclass(frozen=True)
class JoinRequest:
    token: str
    remote_addr: str
    advertise_addr: str
    listen_addr: str


def join_request(body: Any) -> JoinRequest:
    f = Fields(body)
    token = f.text("JoinToken")
    remotes = f.strings("RemoteAddrs")
    advertise = f.text("AdvertiseAddr")
    listen = f.text("ListenAddr")
    _check_node_options(f)
    f.done()
    if not remotes:
        raise InvalidArgument("invalid RemoteAddrs: at least 1 RemoteAddr is required to join")
    # One manager is enough to join: it tells the node of the others.
    return JoinRequest(token, remotes[0], advertise, listen)
