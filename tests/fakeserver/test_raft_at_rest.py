"""A dump travels from leader to follower, each sealing it under its own data keys: two
managers' RaftLogs in this process on 127.0.0.1, the second added after the first compacted
its log, so it can only catch up from the leader's dump."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from swarmpy.manager import sealing
from swarmpy.manager.state.raft import atrest
from swarmpy.manager.state.raft.log import RaftLog
from swarmpy.manager.state.raft.storage import DUMP_FILE, JOURNAL_FILE, read_journal
from swarmpy.manager.state.store import CLUSTERS, Store, Tx
from swarmpy.model import Cluster
from tests.support.poll import wait_for_async

pytestmark = pytest.mark.fakeserver

PASSWORD = "the-raft-transport-secret"
CA_KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIAtestonly\n-----END EC PRIVATE KEY-----\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sealed_with(path: Path, key: str) -> bool:
    data = path.read_bytes()
    return data.startswith(atrest.DUMP_MAGIC) and data[len(atrest.DUMP_MAGIC) :].startswith(
        bytes.fromhex(sealing.key_id(key))
    )


def test_a_follower_seals_the_leaders_dump_under_its_own_key(tmp_path: Path) -> None:
    first, second = tmp_path / "m1", tmp_path / "m2"
    keys = {first: sealing.new_data_key(), second: sealing.new_data_key()}
    for where, key in keys.items():
        atrest.register(where, key)
    addr1, addr2 = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"

    async def run() -> None:
        leader = RaftLog(addr1, [], first, PASSWORD, timeout=10.0)
        leader.start()
        follower: RaftLog | None = None
        try:
            await wait_for_async("a leader", leader.is_leader, 30)
            store = Store(leader)

            def create(tx: Tx) -> None:
                tx.create(CLUSTERS, Cluster(id="c1", raft_secret=PASSWORD, root_ca_key=CA_KEY))

            await store.update(create)
            for _ in range(20):
                await leader.propose(())
            obj = leader._running()
            obj.forceLogCompaction()
            await wait_for_async("a compaction", lambda: len(obj._SyncObj__raftLog) <= 2, 30)
            assert sealed_with(first / DUMP_FILE, keys[first])
            # One manager alone cannot commit a second one's addition without it: both go on.
            adding = asyncio.create_task(leader.add_member(addr2))
            follower = RaftLog(addr2, [addr1], second, PASSWORD, timeout=10.0)
            follower.start()
            await adding
            await wait_for_async(
                "the follower to load the leader's dump",
                lambda: follower is not None and follower.state.index == leader.state.index,
                30,
            )
            cluster = follower.state.tables[CLUSTERS.name]["c1"]
            assert cluster.root_ca_key == CA_KEY
            assert sealed_with(second / DUMP_FILE, keys[second])
        finally:
            if follower is not None:
                follower.close()
            leader.close()
        for where in (first, second):
            assert read_journal(where / JOURNAL_FILE)[0]  # opens under its own key
            for path in where.rglob("*"):
                assert b"PRIVATE KEY" not in path.read_bytes(), path

    try:
        asyncio.run(asyncio.wait_for(run(), 60))
    finally:
        for where in keys:
            atrest.unregister(where)
