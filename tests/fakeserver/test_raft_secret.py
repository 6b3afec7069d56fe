"""The Raft transport's secret is replaced when a manager leaves: three managers' RaftLogs in
this process on 127.0.0.1; once one is removed, the leader's rotation runs, and the old secret
no longer lets anyone append, vote, read or send admin commands to the remaining two."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from swarmpy.manager.raftsecret import SecretKeeper, SecretRotation, Step
from swarmpy.manager.state.raft.keyring import KeyRing, answers, load_secret, run_utility
from swarmpy.manager.state.raft.log import RaftLog
from swarmpy.manager.state.store import CLUSTERS, NODES, Store, Tx
from swarmpy.model import Cluster, Node
from tests.support.poll import wait_for_async
from tests.support.ports import free_port
from tests.support.raftpeer import FORGED_TERM, forged_vote, raft_term, send_as_member

pytestmark = pytest.mark.fakeserver

PASSWORD = "the-secret-every-manager-started-with"


@dataclass
class Peer:
    raft: RaftLog
    store: Store
    keeper: SecretKeeper
    task: asyncio.Task[None]


@contextlib.asynccontextmanager
async def three_managers(tmp: Path) -> AsyncIterator[list[Peer]]:
    addrs = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    peers: list[Peer] = []
    try:
        for i, addr in enumerate(addrs):
            raft = RaftLog(addr, addrs, tmp / f"m{i}", PASSWORD, timeout=10)
            store = Store(raft)
            keeper = SecretKeeper(store, raft.keys, raft.data_dir)
            keeper.restore()
            raft.start()
            peers.append(Peer(raft, store, keeper, asyncio.create_task(keeper.run())))
        yield peers
    finally:
        for peer in peers:
            peer.task.cancel()
            await peer.raft.stop()


async def leader_of(peers: list[Peer]) -> Peer:
    return await wait_for_async(
        "a leader", lambda: next((p for p in peers if p.raft.is_leader()), None), 20
    )


def test_a_removed_manager_can_no_longer_append_vote_or_read(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with three_managers(tmp_path) as peers:
            leader = await leader_of(peers)

            def bootstrap(tx: Tx) -> None:
                tx.create(CLUSTERS, Cluster(id="c1", raft_secret=PASSWORD))

            await leader.store.update(bootstrap)
            rotation = SecretRotation(leader.store, lambda: [m.addr for m in leader.raft.members()])
            assert await rotation.tick() is Step.REMEMBER
            assert await rotation.tick() is Step.NOTHING

            gone = next(p for p in peers if p is not leader)
            stay = [p for p in peers if p is not gone]
            follower = next(p for p in stay if p is not leader)
            old = KeyRing(PASSWORD)
            # Before: the old secret is the secret, and opens the transport.
            assert answers(follower.raft.self_addr, old, 3)
            await leader.raft.remove_member(gone.raft.self_addr)
            await gone.raft.stop()

            taken: list[Step] = []

            async def rotated() -> Cluster | None:
                step = await rotation.tick()
                if step is not Step.NOTHING:
                    taken.append(step)
                cluster = leader.store.view().cluster()
                assert cluster is not None
                keys = cluster.raft_keys
                done = keys.epoch == 1 and not keys.next and not keys.previous
                return cluster if done else None

            cluster = await wait_for_async("the secret replaced", rotated, 30)
            assert taken == [Step.INTRODUCE, Step.SWITCH, Step.DROP]
            new = cluster.raft_secret
            assert new != PASSWORD
            assert cluster.raft_keys.holders == tuple(sorted(p.raft.self_addr for p in stay))

            await wait_for_async(
                "every remaining manager on the new secret alone",
                lambda: all(p.raft.keys.accepted == (new,) for p in stay),
                10,
            )
            for p in stay:
                assert load_secret(p.raft.data_dir) == (1, new)
                addr = p.raft.self_addr
                term = raft_term(addr, KeyRing(new))
                # The old secret: no admin command, no key exchange, so no vote or append.
                assert not answers(addr, old, 3)
                assert not send_as_member(addr, old, gone.raft.self_addr, [forged_vote()])
                assert not send_as_member(addr, old, "readonly", [])
                assert raft_term(addr, KeyRing(new)) == term

            # The two go on replicating under the new secret.
            def write(tx: Tx) -> None:
                tx.create(NODES, Node("after", "after"))

            await leader.store.update(write)
            await wait_for_async(
                "the write on the follower",
                lambda: follower.store.view().get(NODES, "after") is not None,
                10,
            )

            # Read-only peers (they would get the whole log) are refused, even with the key;
            # a member's address is not (the control).
            addr = follower.raft.self_addr
            assert not send_as_member(addr, KeyRing(new), "readonly", [], linger=1.0)
            assert send_as_member(addr, KeyRing(new), leader.raft.self_addr, [], linger=1.0)
            status = run_utility(KeyRing(new), addr, ["status"], 3)
            assert status["readonly_nodes_count"] == 0

            # The control: the same forged vote with the current secret does move a term.
            claim = leader.raft.self_addr
            assert send_as_member(follower.raft.self_addr, KeyRing(new), claim, [forged_vote()])
            await wait_for_async(
                "the forged vote taken under the current secret",
                lambda: raft_term(follower.raft.self_addr, KeyRing(new)) >= FORGED_TERM,
                10,
            )

    asyncio.run(scenario())
