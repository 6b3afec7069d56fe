"""A write refused for want of a leader stays refused: one of three managers' RaftLogs in
this process on 127.0.0.1 runs alone (quorum lost), is asked for a write that fails, and
then a second one starts and a leader is elected."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from swarmpy.errors import NoLeader
from swarmpy.manager.state.raft.log import RaftLog
from swarmpy.manager.state.store import CLUSTERS, Store, Tx
from swarmpy.model import Cluster
from tests.support.poll import wait_for_async
from tests.support.ports import free_port
from tests.support.raftcluster import raft_logs

pytestmark = pytest.mark.fakeserver

PASSWORD = "the-raft-transport-secret"


def create(name: str) -> Callable[[Tx], None]:
    def fn(tx: Tx) -> None:
        tx.create(CLUSTERS, Cluster(id=name))

    return fn


def test_a_write_refused_without_leader_is_not_applied_once_one_is_elected(
    tmp_path: Path,
) -> None:
    # `service create` on the last manager standing said "The swarm does not have a leader"
    # and yet the service appeared once another manager came back: the write had waited
    # in the raft queue for a leader, long after its caller was told it failed.
    addrs = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    logs = [
        RaftLog(addr, addrs, tmp_path / f"m{i}", PASSWORD, timeout=1.0)
        for i, addr in enumerate(addrs)
    ]

    async def run() -> None:
        alone, other = logs[0], logs[1]
        alone.start()
        try:
            with pytest.raises(NoLeader):
                await Store(alone).update(create("refused"))
            other.start()
            await wait_for_async("a leader", lambda: alone.leader() is not None, 30)
            # A write of its own after the refused one: once it is applied, the refused one
            # would have been too.
            for _ in range(10):
                try:
                    await Store(alone).update(create("accepted"))
                    break
                except NoLeader:
                    await asyncio.sleep(0.2)
            await wait_for_async(
                "the accepted write applied",
                lambda: alone.state.tables[CLUSTERS.name].get("accepted") is not None,
                10,
            )
            assert alone.state.tables[CLUSTERS.name].get("refused") is None
        finally:
            await alone.stop()
            await other.stop()

    asyncio.run(run())


def test_a_manager_cut_off_from_the_others_forgets_its_leader(tmp_path: Path) -> None:
    # With the other two of three managers killed, pysyncobj (which calls an election only
    # when connected to someone) kept the dead leader for good: `node ls` answered from a
    # stale store naming it Leader, and writes timed out instead of "no leader".
    async def run() -> None:
        async with raft_logs(tmp_path, PASSWORD, commit_timeout_s=1.0) as rafts:
            leader = await wait_for_async(
                "a leader", lambda: next((r for r in rafts if r.is_leader()), None), 30
            )
            survivor = next(r for r in rafts if r is not leader)
            await wait_for_async(
                "the leader known", lambda: survivor.leader() == leader.self_addr, 10
            )
            for raft in rafts:
                if raft is not survivor:
                    await raft.stop()
            await wait_for_async("the leader forgotten", lambda: survivor.leader() is None, 10)
            assert not any(m.is_leader for m in survivor.members())
            with pytest.raises(NoLeader):
                await Store(survivor).update(create("refused"))

    asyncio.run(run())
