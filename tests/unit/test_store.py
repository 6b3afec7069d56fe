"""The store over LocalLog: transactions, conflicts and retries, watches (no Raft)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from swarmpy.errors import Conflict, InvalidArgument, NotFound
from swarmpy.manager.state.raft.log import RaftLog
from swarmpy.manager.state.raft.machine import install
from swarmpy.manager.state.store import (
    MUST_NOT_EXIST,
    ApplyResult,
    Event,
    LocalLog,
    Op,
    Store,
    StoreState,
    Tx,
)
from swarmpy.model import Node, NodeAvailability


class YieldingLog(LocalLog):
    """Lets other coroutines run between a transaction's snapshot and its commit."""

    async def propose(self, ops: tuple[Op, ...]) -> ApplyResult:
        await asyncio.sleep(0)
        return await super().propose(ops)


def must(obj: Node | None) -> Node:
    assert obj is not None
    return obj


def node(node_id: str, hostname: str = "") -> Node:
    return Node(node_id, hostname or node_id)


def test_create_put_delete() -> None:
    async def main() -> None:
        store = Store(LocalLog())
        await store.update(lambda tx: tx.create("nodes", node("a", "host-a")))
        assert store.view().node("a") == node("a", "host-a")
        first = store.view().version("nodes", "a")

        await store.update(lambda tx: tx.put("nodes", node("a", "renamed")))
        view = store.view()
        assert view.node("a") == node("a", "renamed")
        assert view.version("nodes", "a") != first

        await store.update(lambda tx: tx.delete("nodes", "a"))
        assert store.view().node("a") is None
        assert store.view().nodes() == []

    asyncio.run(main())


def test_concurrent_updates_of_one_object_both_land() -> None:
    async def main() -> None:
        store = Store(YieldingLog())
        await store.update(lambda tx: tx.create("nodes", node("a")))
        runs = 0

        def add_label(key: str) -> Callable[[Tx], None]:
            def fn(tx: Tx) -> None:
                nonlocal runs
                runs += 1
                current = must(tx.get("nodes", "a"))
                tx.put("nodes", dataclasses.replace(current, labels=(*current.labels, (key, "1"))))

            return fn

        await asyncio.gather(store.update(add_label("x")), store.update(add_label("y")))
        labels = must(store.view().node("a")).label_dict()
        assert labels == {"x": "1", "y": "1"}
        assert runs > 2  # one of them conflicted and was re-run on a fresh snapshot

    asyncio.run(main())


def test_duplicate_create_fails_cleanly() -> None:
    async def main() -> None:
        log = LocalLog()
        store = Store(log)
        await store.update(lambda tx: tx.create("nodes", node("a", "first")))
        before = store.view().index

        result = await log.propose((Op("nodes", "a", node("a", "second"), MUST_NOT_EXIST),))
        assert not result.ok
        assert result.conflict == "nodes/a exists"

        with pytest.raises(Conflict):
            await store.update(lambda tx: tx.create("nodes", node("a", "second")))
        assert store.view().node("a") == node("a", "first")
        assert store.view().index == before

    asyncio.run(main())


def test_failed_batch_applies_nothing() -> None:
    async def main() -> None:
        log = LocalLog()
        await log.propose((Op("nodes", "a", node("a")),))
        result = await log.propose(
            (Op("nodes", "b", node("b")), Op("nodes", "a", node("a", "x"), MUST_NOT_EXIST))
        )
        assert not result.ok
        assert log.state.snapshot().node("b") is None

    asyncio.run(main())


def test_watch_sees_every_event_after_its_snapshot_and_none_before() -> None:
    async def main() -> None:
        store = Store(LocalLog())
        await store.update(lambda tx: tx.create("nodes", node("before")))
        snapshot, queue, cancel = store.watch()
        try:
            assert [n.id for n in snapshot.nodes()] == ["before"]
            await store.update(lambda tx: tx.create("nodes", node("after")))
            await store.update(lambda tx: tx.replace("nodes", "before", hostname="changed"))
            await store.update(lambda tx: tx.delete("nodes", "after"))
            await asyncio.sleep(0)  # deliveries go through call_soon_threadsafe

            events = [queue.get_nowait() for _ in range(queue.qsize())]
            assert [(e.action, e.obj.id) for e in events] == [
                ("create", "after"),
                ("update", "before"),
                ("delete", "after"),
            ]
            assert must(events[1].old).hostname == "before"
            assert events[1].obj.hostname == "changed"
        finally:
            cancel()
        await store.update(lambda tx: tx.create("nodes", node("unwatched")))
        await asyncio.sleep(0)
        assert queue.empty()

    asyncio.run(main())


def test_tx_replace() -> None:
    async def main() -> None:
        store = Store(LocalLog())
        await store.update(lambda tx: tx.create("nodes", node("a")))
        updated = await store.update(
            lambda tx: tx.replace("nodes", "a", availability=NodeAvailability.DRAIN)
        )
        assert updated.availability == NodeAvailability.DRAIN
        assert must(store.view().node("a")).availability == NodeAvailability.DRAIN
        assert must(store.view().node("a")).hostname == "a"

        with pytest.raises(NotFound, match="node missing not found"):
            await store.update(lambda tx: tx.replace("nodes", "missing", hostname="x"))

    asyncio.run(main())


def test_snapshot_install_reports_the_difference() -> None:
    """A Raft snapshot replaces the state in place and tells the watches what changed."""
    state = StoreState()
    state.apply((Op("nodes", "kept", node("kept")), Op("nodes", "gone", node("gone"))))
    loaded = StoreState()
    loaded.apply((Op("nodes", "kept", node("kept")),))
    loaded.apply((Op("nodes", "kept", node("kept", "new")), Op("nodes", "new", node("new"))))
    heard: list[ApplyResult] = []

    install(state, loaded, heard.append)

    assert state.snapshot().node("kept") == node("kept", "new")
    assert state.snapshot().node("gone") is None
    assert state.index == loaded.index
    assert sorted((e.action, e.obj.id) for e in heard[0].events) == [
        ("create", "new"),
        ("delete", "gone"),
        ("update", "kept"),
    ]
    assert isinstance(heard[0].events[0], Event)


def test_raft_log_requires_a_password(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        RaftLog("127.0.0.1:1", [], tmp_path, "")


def test_snapshots_share_unchanged_tables_but_never_see_later_writes() -> None:
    state = StoreState()
    state.apply((Op("nodes", "a", node("a")),))
    first = state.snapshot()
    assert state.snapshot().all("nodes") == first.all("nodes")
    state.apply((Op("nodes", "b", node("b")), Op("nodes", "a", None)))
    assert [n.id for n in first.all("nodes")] == ["a"]  # the older snapshot is unchanged
    assert [n.id for n in state.snapshot().all("nodes")] == ["b"]
    loaded = StoreState()
    loaded.apply((Op("nodes", "c", node("c")),))
    install(state, loaded, None)
    assert [n.id for n in state.snapshot().all("nodes")] == ["c"]
