"""Docker's Swarm, SwarmSpec, init and join JSON <-> swarmpy.model
(daemon/cluster/convert/swarm.go). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swarmpy.ca import rotation
from swarmpy.dockerjson.common import nanos, timestamp, version
from swarmpy.dockerjson.fields import Fields
from swarmpy.errors import InvalidArgument
from swarmpy.manager.allocator.network import DEFAULT_POOL, DEFAULT_PREFIX
from swarmpy.manager.controlapi.cluster import ClusterUpdate
from swarmpy.model import Cluster, NodeAvailability
from swarmpy.protocol import DEFAULT_HEARTBEAT_PERIOD_S

VXLAN_PORT = 4789


def swarm_spec_json(cluster: Cluster) -> dict[str, Any]:
    return {
        "Name": cluster.name,
        "Labels": {},
        "Orchestration": {"TaskHistoryRetentionLimit": cluster.task_history_limit},
        # pysyncobj has no ticks or snapshot interval to show: Docker's zero values.
        "Raft": {},
        "Dispatcher": {"HeartbeatPeriod": nanos(cluster.heartbeat_period_s)},
        # Never the signing certificate or key, as Docker: a client sends back what it read.
        "CAConfig": {
            "NodeCertExpiry": nanos(cluster.node_cert_expiry_s),
            "ForceRotate": cluster.force_rotate,
        },
        "TaskDefaults": {},
        "EncryptionConfig": {"AutoLockManagers": cluster.autolock},
    }


def _tls_info_json(cluster: Cluster) -> dict[str, str]:
    """As Docker's: the root the swarm trusts, and the issuer certificates should come from,
    the new root's during a rotation. Docker's CLI follows `swarm ca --rotate` by comparing
    each node's TLSInfo with this."""
    trusted = rotation.cluster_tls_info(cluster)
    issuer = rotation.rotation_tls_info(cluster) or trusted
    return {
        "TrustRoot": trusted.trust_root,
        "CertIssuerSubject": issuer.cert_issuer_subject,
        "CertIssuerPublicKey": issuer.cert_issuer_public_key,
    }


def cluster_info_json(cluster: Cluster, index: int | None) -> dict[str, Any]:
    """Docker's ClusterInfo: the swarm as /info shows it (no join tokens)."""
    return {
        "ID": cluster.id,
        "Version": version(index),
        "CreatedAt": timestamp(cluster.created_at),
        "UpdatedAt": timestamp(cluster.updated_at),
        "Spec": swarm_spec_json(cluster),
        "TLSInfo": _tls_info_json(cluster),
        "RootRotationInProgress": cluster.root_rotation is not None,
        "DataPathPort": VXLAN_PORT,
        # The pool overlay subnets come from, shown as SwarmKit shows its built-in one (for
        # `docker info`'s "Default Address Pool: 10.0.0.0/8").
        "DefaultAddrPool": [str(DEFAULT_POOL)],
        "SubnetSize": DEFAULT_PREFIX,
    }


def swarm_json(cluster: Cluster, index: int | None) -> dict[str, Any]:
    """GET /swarm: ClusterInfo and the join tokens."""
    out = cluster_info_json(cluster, index)
    out["JoinTokens"] = {"Worker": cluster.tokens.worker, "Manager": cluster.tokens.manager}
    return out


# SwarmSpec fields swarmpy has no equivalent of (pysyncobj has no ticks or snapshot settings;
# no external CAs, no task defaults): taken only at their zero value.
_UNSUPPORTED_SPEC = {
    "Raft": (
        "SnapshotInterval",
        "KeepOldSnapshots",
        "LogEntriesForSlowFollowers",
        "ElectionTick",
        "HeartbeatTick",
    ),
    "TaskDefaults": ("LogDriver",),
}


def swarm_update(body: Any, cluster: Cluster, rotate_unlock_key: bool = False) -> ClusterUpdate:
    """What a SwarmSpec sent to /swarm/update changes, as Docker's daemon merges it: a
    duration of 0 or an absent key keeps the setting; a ForceRotate other than the one shown,
    or a SigningCACert (with its SigningCAKey), starts a root rotation. Fields swarmpy does
    not implement are taken only at their zero value, anything else is refused by name."""
    f = Fields(body)
    name = f.text("Name")
    if name not in ("", cluster.name):
        raise InvalidArgument("modification of cluster name is not allowed")
    f.unsupported(("Labels",))
    for key, fields in _UNSUPPORTED_SPEC.items():
        part = f.obj(key)
        if part is not None:
            part.unsupported(fields)
            part.done()
    history = cluster.task_history_limit
    orchestration = f.obj("Orchestration")
    if orchestration is not None:
        history = orchestration.integer("TaskHistoryRetentionLimit", history)
        orchestration.done()
    heartbeat: float | None = None
    dispatcher = f.obj("Dispatcher")
    if dispatcher is not None:
        heartbeat = dispatcher.seconds("HeartbeatPeriod", 0.0) or None
        dispatcher.done()
    if heartbeat is not None and heartbeat < 0:
        raise InvalidArgument("heartbeat time period cannot be a negative duration")
    expiry: float | None = None
    force_rotate = cluster.force_rotate
    ca_cert = ca_key = ""
    ca_config = f.obj("CAConfig")
    if ca_config is not None:
        expiry = ca_config.seconds("NodeCertExpiry", 0.0) or None
        force_rotate = ca_config.integer("ForceRotate", force_rotate)
        ca_cert = ca_config.text("SigningCACert")
        ca_key = ca_config.text("SigningCAKey")
        ca_config.unsupported(("ExternalCAs",))
        ca_config.done()
    if force_rotate < 0:
        raise InvalidArgument(
            f"invalid CAConfig.ForceRotate: expected a counter of 0 or more, got {force_rotate}"
        )
    if ca_key and not ca_cert:
        raise InvalidArgument(
            "if a signing CA key is provided, the signing CA cert must also be provided"
        )
    # As Docker's daemon: the spec sent is the whole spec, so an absent EncryptionConfig
    # means autolock off.
    autolock = False
    encryption = f.obj("EncryptionConfig")
    if encryption is not None:
        autolock = encryption.flag("AutoLockManagers")
        encryption.done()
    f.done()
    return ClusterUpdate(
        node_cert_expiry_s=expiry,
        heartbeat_period_s=heartbeat,
        task_history_limit=history,
        force_rotate=force_rotate if force_rotate != cluster.force_rotate else None,
        # As SwarmKit: a new counter makes a new root, a signing certificate (with its key)
        # is the root to rotate to.
        rotate_ca=force_rotate != cluster.force_rotate or bool(ca_cert),
        ca_cert=ca_cert,
        ca_key=ca_key,
        autolock=autolock,
        rotate_unlock_key=rotate_unlock_key,
    )


@dataclass(frozen=True)
class InitRequest:
    advertise_addr: str
    listen_addr: str
    force_new_cluster: bool
    heartbeat_period_s: float
    task_history_limit: int
    # 0: the default (DEFAULT_NODE_CERT_EXPIRY_S), as for Docker's zero duration.
    node_cert_expiry_s: float = 0.0
    autolock: bool = False
    # The first node's, as `docker swarm init --availability drain` (a manager that runs no
    # tasks) makes it from the start.
    availability: NodeAvailability = NodeAvailability.ACTIVE


def _availability(f: Fields) -> NodeAvailability:
    text = f.text("Availability") or "active"
    try:
        return NodeAvailability(text)
    except ValueError:
        raise InvalidArgument(
            f"invalid Availability {text!r}: expected active, pause or drain"
        ) from None


def _check_node_options(f: Fields) -> None:
    port = f.integer("DataPathPort")
    if port not in (0, VXLAN_PORT):
        raise InvalidArgument(f"unsupported DataPathPort {port}: VXLAN uses {VXLAN_PORT}")
    f.unsupported(("DataPathAddr",))


def init_request(body: Any) -> InitRequest:
    f = Fields(body)
    advertise = f.text("AdvertiseAddr")
    listen = f.text("ListenAddr")
    force = f.flag("ForceNewCluster")
    availability = _availability(f)
    _check_node_options(f)
    autolock = f.flag("AutoLockManagers")
    # 24 is Docker's CLI's default SubnetSize, and swarmpy's.
    f.unsupported(("DefaultAddrPool", "SubnetSize"), zeros={"SubnetSize": 24})
    heartbeat, history, expiry = 0.0, 0, 0.0
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
        ca_config = spec.obj("CAConfig")
        if ca_config is not None:
            expiry = ca_config.seconds("NodeCertExpiry", 0.0)
            # A new swarm makes its own root: no signing CA, no external CA, nothing to rotate.
            ca_config.unsupported(("ExternalCAs", "SigningCACert", "SigningCAKey", "ForceRotate"))
            ca_config.done()
        encryption = spec.obj("EncryptionConfig")
        if encryption is not None:
            # Docker's CLI sends the flag both here and at the top: either turns it on.
            autolock = encryption.flag("AutoLockManagers") or autolock
            encryption.done()
        spec.unsupported(("Name", "Labels", "Raft", "TaskDefaults"), zeros={"Name": "default"})
        spec.done()
    f.done()
    return InitRequest(
        advertise,
        listen,
        force,
        heartbeat or DEFAULT_HEARTBEAT_PERIOD_S,
        history,
        expiry,
        autolock,
        availability,
    )


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
    if _availability(f) != NodeAvailability.ACTIVE:
        raise InvalidArgument(
            "unsupported Availability at join: join, then set it with node update"
        )
    _check_node_options(f)
    f.done()
    if not remotes:
        raise InvalidArgument("invalid RemoteAddrs: at least 1 RemoteAddr is required to join")
    # One manager is enough to join: it tells the node of the others.
    return JoinRequest(token, remotes[0], advertise, listen)
