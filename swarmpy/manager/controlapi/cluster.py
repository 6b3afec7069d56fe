"""The control API of the swarm itself: the cluster object, its managers, join tokens, its
settings (`swarm update`) and its root CA (`swarm ca --rotate`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from swarmpy.ca import certificates as ca
from swarmpy.ca import keywrap, rotation
from swarmpy.errors import InvalidArgument, NotFound
from swarmpy.manager import sealing
from swarmpy.manager.controlapi import validate
from swarmpy.manager.controlapi.common import sequenced
from swarmpy.manager.state.store import CLUSTERS, NODES, Store, Tx
from swarmpy.model import Cluster, JoinTokens, NodeRole, now


def check_heartbeat_period(seconds: float) -> float:
    """The period, checked by the bounds the CLI checks too (validate.py)."""
    validate.check_heartbeat_period(seconds)
    return seconds


def check_task_history_limit(limit: int) -> int:
    validate.check_history_limit(limit)
    return limit


@dataclass(frozen=True)
class ClusterUpdate:
    """What `swarm update` / `swarm ca --rotate` change; None leaves a setting as it is."""

    node_cert_expiry_s: float | None = None
    heartbeat_period_s: float | None = None
    task_history_limit: int | None = None
    force_rotate: int | None = None  # Docker's CAConfig.ForceRotate, kept as it was sent
    rotate_ca: bool = False
    ca_cert: str = ""
    ca_key: str = ""
    autolock: bool | None = None  # Docker's EncryptionConfig.AutoLockManagers
    rotate_unlock_key: bool = False  # Docker's rotateManagerUnlockKey


# The id the unlock key is sealed under in the cluster object (sealing's associated data).
UNLOCK_KEY_ID = "unlock-key"


def checked(update: ClusterUpdate) -> tuple[ClusterUpdate, ca.RootCA | None]:
    """The update with every value checked, and the root CA to rotate to, if any (a new one
    when none was given). Raised before anything is stored: a bad value changes nothing."""
    if update.node_cert_expiry_s is not None:
        rotation.check_node_cert_expiry(update.node_cert_expiry_s)
    if update.heartbeat_period_s is not None:
        check_heartbeat_period(update.heartbeat_period_s)
    if update.task_history_limit is not None:
        check_task_history_limit(update.task_history_limit)
    if (update.ca_cert or update.ca_key) and not update.rotate_ca:
        raise InvalidArgument("a CA certificate and key are only taken to rotate the root CA")
    if not update.rotate_ca:
        return update, None
    if bool(update.ca_cert) != bool(update.ca_key):
        raise InvalidArgument("rotating to a given root CA needs both its certificate and its key")
    if update.ca_cert:
        return update, ca.check_root_ca(update.ca_cert, update.ca_key)
    return update, ca.create_root_ca()


def apply_update(
    cluster: Cluster,
    update: ClusterUpdate,
    new_root: ca.RootCA | None,
    fresh_unlock_key: bytes = b"",
    data_keys: sealing.KeyRing = (),
) -> Cluster:
    """The cluster with a checked update applied (pure). ``fresh_unlock_key`` is the unlock
    key a change of autolock or a rotation brings, sealed with the current ``data_keys``."""
    settings = {
        name: value
        for name in (
            "node_cert_expiry_s",
            "heartbeat_period_s",
            "task_history_limit",
            "force_rotate",
        )
        if (value := getattr(update, name)) is not None
    }
    changed = replace(cluster, **settings)
    if new_root is not None:
        changed = rotation.start_rotation(changed, new_root)
    return _apply_autolock(changed, update, fresh_unlock_key, data_keys)


def _apply_autolock(
    cluster: Cluster, update: ClusterUpdate, fresh: bytes, data_keys: sealing.KeyRing
) -> Cluster:
    """As SwarmKit's UpdateCluster: autolock on makes a key if there is none (or a rotation
    is asked), off drops it; a rotation with autolock off changes nothing. Turning it on also
    replaces the data key, as SwarmKit then rotates its Raft DEK: the old one was on disk in
    clear until now."""
    autolock = cluster.autolock if update.autolock is None else update.autolock
    if not autolock:
        return replace(cluster, autolock=False, unlock_key=b"")
    if cluster.unlock_key and not update.rotate_unlock_key:
        return replace(cluster, autolock=True)
    return replace(
        cluster,
        autolock=True,
        unlock_key=sealing.seal(data_keys, UNLOCK_KEY_ID, fresh),
        rotate_data_key=cluster.rotate_data_key or not cluster.autolock,
    )


def unlock_key_of(cluster: Cluster, data_keys: sealing.KeySource) -> bytes | None:
    """The cluster's unlock key (None with autolock off); raises sealing.SealingError when
    this manager does not hold the data key it is sealed with yet."""
    if not cluster.autolock or not cluster.unlock_key:
        return None
    return sealing.unseal(data_keys, UNLOCK_KEY_ID, cluster.unlock_key)


class ClusterAPI:
    def __init__(self, store: Store, data_key: sealing.KeySource = "") -> None:
        self.store = store
        self.data_key = data_key

    def get(self) -> Cluster:
        cluster = self.store.view().cluster()
        if cluster is None:
            raise NotFound("the swarm has no cluster object yet")
        return cluster

    def manager_addrs(self) -> list[str]:
        return [
            n.manager.api_addr
            for n in self.store.view().all(NODES)
            if n.manager is not None and n.role == NodeRole.MANAGER
        ]

    async def _change(
        self, fn: Callable[[Cluster], Cluster], settings_read_at: int | None = None
    ) -> Cluster:
        """Write ``fn``'s change of the cluster. With ``settings_read_at`` (the version a
        client read, check_sequence) the change is one of the settings `swarm update` sets."""

        def change(tx: Tx) -> Cluster:
            cluster = tx.snapshot.cluster()
            if cluster is None:
                raise NotFound("the swarm has no cluster object yet")
            read_at = sequenced(tx, CLUSTERS, cluster, settings_read_at)
            changed = fn(cluster)
            if changed == cluster:
                return cluster
            if settings_read_at is not None:
                changed = replace(changed, spec_changed_after=read_at)
            stored: Cluster = tx.replace(
                CLUSTERS,
                cluster.id,
                **{
                    name: getattr(changed, name)
                    for name in changed.__dataclass_fields__
                    if getattr(changed, name) != getattr(cluster, name)
                },
                updated_at=now(),
            )
            return stored

        return await self.store.update(change)

    async def rotate_join_token(self, role: str) -> Cluster:
        if role not in (NodeRole.WORKER, NodeRole.MANAGER):
            raise InvalidArgument(f"unknown role {role}: expected worker or manager")

        def rotate(cluster: Cluster) -> Cluster:
            fresh = ca.new_join_token(cluster.root_ca_cert)
            tokens = (
                JoinTokens(worker=fresh, manager=cluster.tokens.manager)
                if role == NodeRole.WORKER
                else JoinTokens(worker=cluster.tokens.worker, manager=fresh)
            )
            return replace(cluster, tokens=tokens)

        return await self._change(rotate)

    async def update(self, update: ClusterUpdate, version: int | None = None) -> Cluster:
        """`swarm update` and `swarm ca --rotate`: the dispatcher and the agents take a new
        heartbeat period with their next beat, the task reaper a new limit at its next tick,
        the node CA a new validity with its next certificate; a new root CA starts a
        rotation (swarmpy.ca.rotation) that the leader's rotation loop completes. ``version``
        is the cluster's version the caller read the settings at (check_sequence)."""
        update, new_root = checked(update)
        fresh = keywrap.new_unlock_key()
        keys = sealing.ring(self.data_key)
        return await self._change(
            lambda cluster: apply_update(cluster, update, new_root, fresh, keys), version
        )

    def unlock_key(self) -> str:
        """`swarm unlock-key`: the key as Docker shows it, "" with autolock off."""
        key = unlock_key_of(self.get(), self.data_key)
        return keywrap.human_readable(key) if key else ""
