"""Every manager's keys follow the cluster object: the unlock key (autolock) and the data key.

- **Unlock key.** ``swarm init --autolock`` / ``swarm update --autolock=true`` put a key in the
  cluster object (sealed with the data key, ``controlapi.cluster``); ``swarm unlock-key
  --rotate`` replaces it. The store replicates it through Raft, and every manager's
  ``KeyKeeper`` re-encrypts the node's key material on disk under it as soon as it sees it
  (``NodeKeys.use_kek``: the TLS key and the state file's Raft password and data keys), or
  writes them back in clear when autolock goes off. So after a rotation the old key opens
  nothing on any manager that was up to see it, and a restarted one asks for the new key.
- **Data key.** The cluster object names the current key by its id, never the key. The
  leader makes a new key when the cluster has none (a swarm from before data keys), or when
  a rotation is asked (autolock turned on, as SwarmKit then rotates its Raft DEK); it keeps it
  first, then names it and seals the unlock key with it, in one write. A manager that does not
  hold the key named asks for the keys with a certificate renewal (``NodeCA`` hands them to
  managers only, over mutual TLS, as at join): so the keys travel only between managers and
  never through the store. Every manager keeps the old keys, so what was sealed before stays
  readable.

The decisions are plain functions (``leader_step``, ``wanted_kek``); the loops are thin.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from swarmpy.errors import SwarmpyError
from swarmpy.manager import sealing
from swarmpy.manager.controlapi.cluster import UNLOCK_KEY_ID, unlock_key_of
from swarmpy.manager.state.store import CLUSTERS, Store
from swarmpy.model import Cluster, now

log = logging.getLogger(__name__)

# A manager missing the current data key asks again after this (a renewal that reached a
# manager that did not hold it yet either).
FETCH_RETRY_S = 2.0


class NodeKeys(Protocol):
    """What the keepers need of the node (the daemon): its keys and where they are saved."""

    def data_keys(self) -> tuple[str, ...]:
        """Every data key this manager holds (hex), the current one first."""
        ...

    def add_data_key(self, key: str) -> None:
        """Make ``key`` the current data key, saved (under the KEK if any) before return."""
        ...

    def kek(self) -> bytes | None:
        """The unlock key the node's key material on disk is encrypted under now."""
        ...

    def use_kek(self, kek: bytes | None) -> None:
        """Write the node's key material again, under ``kek`` (None: in clear)."""
        ...

    async def fetch_data_keys(self) -> None:
        """Ask a manager for the data keys (a certificate renewal); raises SwarmpyError."""
        ...


class Step(enum.Enum):
    NOTHING = "nothing"
    NAME = "name"  # the cluster names no key, this leader holds one: name it
    ROTATE = "rotate"  # make a new key (first one, or a rotation asked)
    FETCH = "fetch"  # the key named is not held here


def held_ids(keys: tuple[str, ...]) -> set[str]:
    return {sealing.key_id(k) for k in keys}


def leader_step(cluster: Cluster, keys: tuple[str, ...]) -> Step:
    if not cluster.data_key_id:
        return Step.NAME if keys else Step.ROTATE
    if cluster.data_key_id not in held_ids(keys):
        return Step.FETCH
    if cluster.rotate_data_key:
        return Step.ROTATE
    return Step.NOTHING


def missing_key(cluster: Cluster, keys: tuple[str, ...]) -> bool:
    return bool(cluster.data_key_id) and cluster.data_key_id not in held_ids(keys)


def wanted_kek(cluster: Cluster, keys: tuple[str, ...]) -> tuple[bool, bytes | None]:
    """(known, kek): the unlock key the node's files should be under, if this manager can
    tell yet (it may not hold the data key the unlock key is sealed with)."""
    try:
        return True, unlock_key_of(cluster, keys)
    except sealing.SealingError:
        return False, None


def renamed(cluster: Cluster, keys: tuple[str, ...], new_key: str) -> Cluster:
    """The cluster naming ``new_key`` (the ring's first), the unlock key sealed with it."""
    changed = dataclasses.replace(
        cluster, data_key_id=sealing.key_id(new_key), rotate_data_key=False
    )
    if cluster.autolock and cluster.unlock_key:
        kek = sealing.unseal(keys, UNLOCK_KEY_ID, cluster.unlock_key)
        changed = dataclasses.replace(
            changed, unlock_key=sealing.seal((new_key, *keys), UNLOCK_KEY_ID, kek)
        )
    return changed


class KeyKeeper:
    """Every manager's loop (see the module docstring); ``leading`` says whether this manager
    is the leader, which alone makes and names data keys."""

    def __init__(self, store: Store, node: NodeKeys, leading: Callable[[], bool]) -> None:
        self.store = store
        self.node = node
        self._leading = leading
        self._fetching: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            with self.store.watch(CLUSTERS) as watch:
                await self._follow(watch.snapshot.cluster())
                async for _event in watch:
                    watch.pending()  # one look covers the batch
                    await self._follow(self.store.view().cluster())
        finally:
            if self._fetching is not None:
                self._fetching.cancel()

    async def _follow(self, cluster: Cluster | None) -> None:
        try:
            await self.follow(cluster)
        except SwarmpyError as exc:
            # No leader for a moment, a write refused: the next change of the cluster, or
            # the next fetch, looks again.
            log.info("autolock: %s", exc)

    async def follow(self, cluster: Cluster | None) -> None:
        if cluster is None:
            return
        keys = self.node.data_keys()
        if self._leading():
            step = leader_step(cluster, keys)
            if step in (Step.NAME, Step.ROTATE):
                await self._name_key(cluster, keys, fresh=step is Step.ROTATE)
                return  # the write comes back as an event
        if missing_key(cluster, keys):
            self._fetch_soon()
        known, kek = wanted_kek(cluster, keys)
        if known and kek != self.node.kek():
            self.node.use_kek(kek)
            log.info("autolock: this manager's keys are now %s", "locked" if kek else "in clear")

    async def _name_key(self, seen: Cluster, keys: tuple[str, ...], fresh: bool) -> None:
        key = sealing.new_data_key() if fresh else keys[0]
        if fresh:
            # Kept before it is named: a key named in the store that no manager holds would
            # seal nothing anyone can open.
            self.node.add_data_key(key)

        def write(tx):  # type: ignore[no-untyped-def]
            cluster = tx.snapshot.cluster()
            if cluster is None or cluster.data_key_id != seen.data_key_id:
                return
            changed = renamed(cluster, keys, key)
            tx.replace(
                CLUSTERS,
                cluster.id,
                data_key_id=changed.data_key_id,
                rotate_data_key=False,
                unlock_key=changed.unlock_key,
                updated_at=now(),
            )

        await self.store.update(write)
        log.info("data key %s is now the cluster's", sealing.key_id(key))

    def _fetch_soon(self) -> None:
        if self._fetching is None or self._fetching.done():
            self._fetching = asyncio.create_task(self._fetch(self.node.fetch_data_keys))

    async def _fetch(self, fetch: Callable[[], Awaitable[None]]) -> None:
        while True:
            cluster = self.store.view().cluster()
            if cluster is None or not missing_key(cluster, self.node.data_keys()):
                break
            with contextlib.suppress(SwarmpyError):
                await fetch()
            if not missing_key(cluster, self.node.data_keys()):
                await self.follow(self.store.view().cluster())
                break
            await asyncio.sleep(FETCH_RETRY_S)
