"""One sequential writer costs a leader one append per follower and write, beyond heartbeats
(patches.PatchedSyncObj): no commit notice once the next write's append carried the commit
index, and no entries sent again because a follower's answer to an older append arrived
after a newer one went out. Three managers' RaftLogs in this process on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from swarmpy.manager.state.raft import patches
from swarmpy.manager.state.store import CLUSTERS, Store, Tx
from swarmpy.model import Cluster
from tests.support.poll import wait_for_async
from tests.support.raftcluster import raft_logs

pytestmark = pytest.mark.fakeserver

PASSWORD = "the-raft-transport-secret"
WRITES = 300
# pysyncobj's heartbeat period (appendEntriesPeriod, left at its default).
HEARTBEAT_S = 0.1


def create(name: str) -> Any:
    def fn(tx: Tx) -> None:
        tx.create(CLUSTERS, Cluster(id=name))

    return fn


def test_a_sequential_writer_sends_each_follower_one_append_per_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    appends: Counter[tuple[int, str]] = Counter()
    send = patches.DurableTransport.send

    def counting_send(self: Any, node: Any, message: Any) -> bool:
        if message.get("type") == "append_entries":
            appends[(id(self._syncObj), str(node.address))] += 1
        return bool(send(self, node, message))

    monkeypatch.setattr(patches.DurableTransport, "send", counting_send)

    async def run() -> None:
        async with raft_logs(tmp_path, PASSWORD) as rafts:
            leader = await wait_for_async(
                "a leader", lambda: next((r for r in rafts if r.is_leader()), None), 30
            )
            store = Store(leader)
            await store.update(create("warm-up"))
            appends.clear()
            slow = 0
            started = time.monotonic()
            for i in range(WRITES):
                t0 = time.monotonic()
                await store.update(create(f"c{i}"))
                # A write whose next one comes later than the notice delay rightly has its
                # commit told by a message of its own.
                slow += time.monotonic() - t0 > patches.COMMIT_NOTICE_DELAY / 2
            elapsed = time.monotonic() - started
            heartbeats = elapsed / HEARTBEAT_S + 2
            followers = [r.self_addr for r in rafts if r is not leader]
            sent = {addr: appends[(id(leader._obj), addr)] for addr in followers}
            allowed = WRITES + heartbeats + slow
            assert all(n <= allowed for n in sent.values()), (sent, allowed, slow)

    asyncio.run(run())
