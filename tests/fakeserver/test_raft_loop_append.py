"""A write proposed from the event loop is appended and sent by the loop itself while the
tick thread waits for the network, and acknowledged only after the tick thread synced it
(patches.PatchedSyncObj._append_now); with the tick thread busy, the tick thread appends it.
A lone manager on 127.0.0.1 in this process."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from swarmpy.manager.state.raft import storage
from swarmpy.manager.state.raft.log import RaftLog
from swarmpy.manager.state.store import CLUSTERS, Store, Tx
from swarmpy.model import Cluster
from tests.support.poll import wait_for_async
from tests.support.ports import free_port

pytestmark = pytest.mark.fakeserver

PASSWORD = "the-raft-transport-secret"


@pytest.fixture
def journal_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, int]]:
    """(what, thread, entry index) of every append and of every sync that wrote something."""
    calls: list[tuple[str, str, int]] = []
    add, sync = storage.FileJournal.add, storage.FileJournal.sync
    last = [0]

    def recording_add(self: Any, command: bytes, idx: int, term: int) -> None:
        calls.append(("append", threading.current_thread().name, idx))
        add(self, command, idx, term)
        last[0] = idx

    def recording_sync(self: Any) -> None:
        dirty = self.dirty
        sync(self)
        if dirty:
            calls.append(("sync", threading.current_thread().name, last[0]))

    monkeypatch.setattr(storage.FileJournal, "add", recording_add)
    monkeypatch.setattr(storage.FileJournal, "sync", recording_sync)
    return calls


def create(name: str) -> Any:
    def fn(tx: Tx) -> None:
        tx.create(CLUSTERS, Cluster(id=name))

    return fn


@contextlib.asynccontextmanager
async def leading(tmp_path: Path) -> AsyncIterator[RaftLog]:
    """A lone manager's Raft, once it leads; stopped on leaving."""
    raft = RaftLog(f"127.0.0.1:{free_port()}", [], tmp_path, PASSWORD, timeout=10.0)
    raft.start()
    try:
        await wait_for_async("a leader", raft.is_leader, 30)
        yield raft
    finally:
        await raft.stop()


def test_the_loop_appends_and_the_write_is_acknowledged_once_synced(
    tmp_path: Path, journal_calls: list[tuple[str, str, int]]
) -> None:
    async def run() -> None:
        async with leading(tmp_path) as raft:
            store = Store(raft)
            appended_by: list[str] = []
            for i in range(10):
                journal_calls.clear()
                await store.update(create(f"c{i}"))
                appends = [c for c in journal_calls if c[0] == "append"]
                assert len(appends) == 1, journal_calls
                appended_by.append(appends[0][1])
                # Acknowledged: the entry was synced first, and not by the loop.
                synced = [c for c in journal_calls if c[0] == "sync" and c[2] >= appends[0][2]]
                assert synced, journal_calls
                assert synced[0][1] != "MainThread", journal_calls
            # The loop appends whenever the tick thread is waiting (it may be mid-tick, on a
            # timer, now and then).
            assert "MainThread" in appended_by, appended_by
            assert {c.id for c in store.view().all(CLUSTERS)} == {f"c{i}" for i in range(10)}

    asyncio.run(run())


def test_a_write_waits_for_a_busy_tick_thread_to_append_it(
    tmp_path: Path, journal_calls: list[tuple[str, str, int]]
) -> None:
    async def run() -> None:
        async with leading(tmp_path) as raft:
            store = Store(raft)
            lock = raft._obj._poller.lock
            journal_calls.clear()
            # The tick thread mid-tick: the loop must leave the append to it.
            lock.acquire()
            try:
                write = asyncio.ensure_future(store.update(create("busy")))
                queue = raft._obj._SyncObj__commandsQueue
                await wait_for_async("the write to be queued", lambda: queue._FastQueue__queue, 10)
                await asyncio.sleep(0)  # the loop's turn in which it tried the lock
                assert not [c for c in journal_calls if c[0] == "append"], journal_calls
            finally:
                lock.release()
            await write
            appends = [c for c in journal_calls if c[0] == "append"]
            assert len(appends) == 1, journal_calls
            assert appends[0][1] != "MainThread", journal_calls
            assert store.view().get(CLUSTERS, "busy") is not None

    asyncio.run(run())
