"""Replacing the Raft transport's secret when a manager leaves (demoted, left, force-new-cluster).

The secret (``Cluster.raft_secret``) is what pysyncobj's transport encrypts and authenticates
with (``swarmpy.manager.state.raft.keyring``); a manager that leaves Raft keeps its copy, so
while the others go on using it, it can still append, vote or read the log. The leader moves
them all to a new one in three writes, each made only once every member has taken the one
before (a member that cannot decrypt the leader's messages could never catch up):

1. **introduce**: a new secret in ``raft_keys.next``; every manager accepts it, none sends it.
   The holders become the current members: the one that left is not among them.
2. **switch**: once every member accepts ``next`` (a probe encrypted with it is answered),
   it becomes ``raft_secret`` (sent by all), the old one ``raft_keys.previous`` (still accepted
   from members that have not applied the switch yet), and the epoch goes up.
3. **drop**: once every member sends with the new secret (answers a probe under it alone),
   ``previous`` goes: from then on the old secret opens nothing.

A member that is down holds the rotation back until it is back or demoted: going on without
it would lock it out for good. A manager is recorded as a holder in the transaction that hands
it the secret (``record_holder``, at join or promotion), so one demoted before the leader's
next look still counts; members the leader sees that are not yet holders are added too.
Every manager (``SecretKeeper``) keeps its transport's key ring in step with the cluster
object and remembers what it sends with (``keyring.save_secret``) for its next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import functools
import logging
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path

from swarmpy.errors import SwarmpyError
from swarmpy.manager.state.raft import atrest
from swarmpy.manager.state.raft.keyring import (
    KeyRing,
    answers,
    load_secret,
    save_secret,
    secret_in_clear,
)
from swarmpy.manager.state.store import CLUSTERS, Store, Tx
from swarmpy.model import Cluster, now

log = logging.getLogger(__name__)

# The leader looks this often: Raft membership changes are not store events.
ROTATION_POLL_S = 1.0
# How long a probe waits for one member's answer.
PROBE_TIMEOUT_S = 2.0


class Step(enum.Enum):
    NOTHING = "nothing"
    REMEMBER = "remember"  # new members got the secret: record them as holders
    INTRODUCE = "introduce"
    SWITCH = "switch"
    DROP = "drop"


def plan(cluster: Cluster, members: Sequence[str]) -> Step:
    """The next step for the cluster's secret, given the Raft members now."""
    keys = cluster.raft_keys
    if set(members) - set(keys.holders):
        return Step.REMEMBER
    if keys.next:
        return Step.SWITCH
    if keys.previous:
        return Step.DROP
    if set(keys.holders) - set(members):
        return Step.INTRODUCE
    return Step.NOTHING


def probe_keys(cluster: Cluster, step: Step) -> KeyRing | None:
    """What every member must answer before ``step`` is written (None: nothing to check)."""
    if step is Step.SWITCH:
        # Sent with the new secret; a member may still answer with the current one.
        return KeyRing(cluster.raft_keys.next, (cluster.raft_secret,))
    if step is Step.DROP:
        return KeyRing(cluster.raft_secret)
    return None


def take_step(cluster: Cluster, step: Step, members: Sequence[str], fresh: str) -> Cluster:
    """The cluster after ``step``; ``fresh`` is the new secret an introduction brings."""
    keys = cluster.raft_keys
    if step is Step.REMEMBER:
        holders = tuple(sorted(set(keys.holders) | set(members)))
        keys = dataclasses.replace(keys, holders=holders)
    elif step is Step.INTRODUCE:
        keys = dataclasses.replace(keys, next=fresh, holders=tuple(sorted(members)))
    elif step is Step.SWITCH:
        return dataclasses.replace(
            cluster,
            raft_secret=keys.next,
            raft_keys=dataclasses.replace(
                keys, epoch=keys.epoch + 1, next="", previous=cluster.raft_secret
            ),
        )
    elif step is Step.DROP:
        keys = dataclasses.replace(keys, previous="")
    return dataclasses.replace(cluster, raft_keys=keys)


def record_holder(tx: Tx, raft_addr: str) -> str:
    """In the transaction that hands a joining or promoted manager the secret: count it among
    the holders (it can use the secret from now on, whether or not it ever joins Raft) and
    return the secret to hand it."""
    cluster = tx.snapshot.cluster()
    if cluster is None:
        return ""
    keys = cluster.raft_keys
    if raft_addr not in keys.holders:
        holders = tuple(sorted({*keys.holders, raft_addr}))
        tx.replace(
            CLUSTERS,
            cluster.id,
            raft_keys=dataclasses.replace(keys, holders=holders),
            updated_at=now(),
        )
    return cluster.raft_secret


def ring_for(cluster: Cluster, kept: tuple[int, str] | None) -> tuple[str, tuple[str, ...]]:
    """The key a manager sends with and the keys it accepts, from its copy of the cluster and
    what it sent with before (``kept``: epoch, secret).

    A store older than what the manager already sent with (just restarted, not caught up)
    must not move it back: it keeps sending its own key and accepts the store's too."""
    keys = cluster.raft_keys
    known = tuple(k for k in (cluster.raft_secret, keys.next, keys.previous) if k)
    if kept is not None and kept[0] > keys.epoch:
        return kept[1], (kept[1], *known)
    return cluster.raft_secret, known


class SecretRotation:
    """The leader's loop that takes the steps (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        members: Callable[[], Sequence[str]],
        poll_s: float = ROTATION_POLL_S,
    ) -> None:
        self.store = store
        self._members = members
        self._poll_s = poll_s
        self._running = False
        self._wake = asyncio.Event()

    async def run(self) -> None:
        self._running = True
        while self._running:
            try:
                await self.tick()
            except SwarmpyError as exc:
                log.info("raft secret: %s; trying again", exc)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)

    async def stop(self) -> None:
        self._running = False
        self._wake.set()

    async def tick(self) -> Step:
        """Take the next step if it is due; returns the step taken (NOTHING if none)."""
        cluster = self.store.view().cluster()
        if cluster is None:
            return Step.NOTHING
        members = self._members()
        step = plan(cluster, members)
        if step is Step.NOTHING:
            return step
        ring = probe_keys(cluster, step)
        if ring is not None and not await self._all_answer(members, ring):
            return Step.NOTHING
        fresh = secrets.token_hex(32) if step is Step.INTRODUCE else ""
        await self.store.update(
            functools.partial(_write, seen=cluster, step=step, members=members, fresh=fresh)
        )
        after = self.store.view().cluster()
        log.info("raft secret: %s (epoch %d)", step.value, (after or cluster).raft_keys.epoch)
        return step

    async def _all_answer(self, members: Sequence[str], ring: KeyRing) -> bool:
        replies = await asyncio.gather(
            *(asyncio.to_thread(answers, addr, ring, PROBE_TIMEOUT_S) for addr in members)
        )
        return all(replies)


def _write(tx: Tx, *, seen: Cluster, step: Step, members: Sequence[str], fresh: str) -> None:
    cluster = tx.snapshot.cluster()
    if cluster is None or cluster.raft_keys != seen.raft_keys:
        return  # moved on meanwhile (another leader): the next tick plans again
    after = take_step(cluster, step, members, fresh)
    tx.replace(
        CLUSTERS,
        cluster.id,
        raft_secret=after.raft_secret,
        raft_keys=after.raft_keys,
        updated_at=now(),
    )


class SecretKeeper:
    """Every manager's side: its transport's keys follow the cluster object, and the secret
    it sends with is kept under its Raft directory for its next start."""

    def __init__(self, store: Store, keys: KeyRing, data_dir: Path) -> None:
        self.store = store
        self.keys = keys
        self.data_dir = data_dir
        self._kept = load_secret(data_dir)
        self._in_clear = secret_in_clear(data_dir)

    def restore(self) -> None:
        """Before Raft starts: send with what this manager sent with last (its peers may have
        moved past the password it joined with) and accept that password too."""
        if self._kept is not None:
            self.keys.set(self._kept[1], self.keys.accepted)

    async def run(self) -> None:
        with self.store.watch(CLUSTERS) as watch:
            self.follow(watch.snapshot.cluster())
            async for _event in watch:
                watch.pending()  # one look covers the batch
                self.follow(self.store.view().cluster())

    def follow(self, cluster: Cluster | None) -> None:
        if cluster is None or not cluster.raft_secret:
            return
        send, accept = ring_for(cluster, self._kept)
        if (send, accept) != (self.keys.send, self.keys.accepted):
            self.keys.set(send, accept)
        epoch = max(cluster.raft_keys.epoch, self._kept[0] if self._kept else 0)
        # Kept again sealed once this manager holds its first data key (the cluster object
        # then names it): nothing under the Raft directory stays in clear.
        unsealed = self._in_clear and atrest.holds_key(self.data_dir)
        if self._kept != (epoch, send) or unsealed:
            self._kept = (epoch, send)
            self._in_clear = not save_secret(self.data_dir, epoch, send)
