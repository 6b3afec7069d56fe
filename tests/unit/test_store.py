"""The store over LocalLog: transactions, conflicts and retries, watches (no Raft)."""

from __future__ import annotations

import asyncio
import dataclasses
import pickle
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from swarmpy import codec
from swarmpy.api import objects_pb2
from swarmpy.errors import Conflict, InvalidArgument, NotFound
from swarmpy.manager.state.raft.log import RaftLog
from swarmpy.manager.state.raft.machine import install
from swarmpy.manager.state.store import (
    MUST_NOT_EXIST,
    NODES,
    SERVICES,
    ApplyResult,
    Event,
    LocalLog,
    Op,
    Store,
    StoreState,
    Tx,
    Watch,
)
from swarmpy.model import (
    ContainerSpec,
    Node,
    NodeAvailability,
    Service,
    ServiceSpec,
    UpdateState,
    UpdateStatus,
)


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
        await store.update(lambda tx: tx.create(NODES, node("a", "host-a")))
        assert store.view().get(NODES, "a") == node("a", "host-a")
        first = store.view().version(NODES, "a")

        await store.update(lambda tx: tx.put(NODES, node("a", "renamed")))
        view = store.view()
        assert view.get(NODES, "a") == node("a", "renamed")
        assert view.version(NODES, "a") != first

        await store.update(lambda tx: tx.delete(NODES, "a"))
        assert store.view().get(NODES, "a") is None
        assert store.view().all(NODES) == []

    asyncio.run(main())


def test_concurrent_updates_of_one_object_both_land() -> None:
    async def main() -> None:
        store = Store(YieldingLog())
        await store.update(lambda tx: tx.create(NODES, node("a")))
        runs = 0

        def add_label(key: str) -> Callable[[Tx], None]:
            def fn(tx: Tx) -> None:
                nonlocal runs
                runs += 1
                current = must(tx.get(NODES, "a"))
                tx.put(NODES, dataclasses.replace(current, labels=(*current.labels, (key, "1"))))

            return fn

        await asyncio.gather(store.update(add_label("x")), store.update(add_label("y")))
        labels = must(store.view().get(NODES, "a")).label_dict()
        assert labels == {"x": "1", "y": "1"}
        assert runs > 2  # one of them conflicted and was re-run on a fresh snapshot

    asyncio.run(main())


def test_duplicate_create_fails_cleanly() -> None:
    async def main() -> None:
        log = LocalLog()
        store = Store(log)
        await store.update(lambda tx: tx.create(NODES, node("a", "first")))
        before = store.view().index

        result = await log.propose((Op("nodes", "a", node("a", "second"), MUST_NOT_EXIST),))
        assert not result.ok
        assert result.conflict == "nodes/a exists"

        with pytest.raises(Conflict):
            await store.update(lambda tx: tx.create(NODES, node("a", "second")))
        assert store.view().get(NODES, "a") == node("a", "first")
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
        assert log.state.snapshot().get(NODES, "b") is None

    asyncio.run(main())


def test_watch_sees_every_event_after_its_snapshot_and_none_before() -> None:
    async def main() -> None:
        store = Store(LocalLog())
        await store.update(lambda tx: tx.create(NODES, node("before")))
        with store.watch() as watch:
            assert [n.id for n in watch.snapshot.all(NODES)] == ["before"]
            await store.update(lambda tx: tx.create(NODES, node("after")))
            await store.update(lambda tx: tx.replace(NODES, "before", hostname="changed"))
            await store.update(lambda tx: tx.delete(NODES, "after"))
            await asyncio.sleep(0)  # deliveries go through call_soon_threadsafe

            events = watch.pending()
            assert [(e.action, e.table, e.obj.id) for e in events] == [
                ("create", NODES, "after"),
                ("update", NODES, "before"),
                ("delete", NODES, "after"),
            ]
            assert must(events[1].old).hostname == "before"
            assert events[1].obj.hostname == "changed"
        await store.update(lambda tx: tx.create(NODES, node("unwatched")))
        await asyncio.sleep(0)
        assert watch.pending() == []

    asyncio.run(main())


def test_watch_filters_by_table_and_action() -> None:
    async def main() -> None:
        store = Store(LocalLog())
        svc = Service("s1", ServiceSpec("web", ContainerSpec("busybox")))
        with store.watch(NODES, actions=("create", "delete")) as watch:
            await store.update(lambda tx: tx.create(SERVICES, svc))
            await store.update(lambda tx: tx.create(NODES, node("a")))
            await store.update(lambda tx: tx.replace(NODES, "a", hostname="renamed"))
            await store.update(lambda tx: tx.delete(NODES, "a"))
            seen = [(e.action, e.obj.id) async for e in _first(watch, 2)]
            assert seen == [("create", "a"), ("delete", "a")]
            assert watch.pending() == []

    asyncio.run(main())


async def _first(watch: Watch, count: int) -> AsyncIterator[Event]:
    async for event in watch:
        yield event
        count -= 1
        if not count:
            return


def test_tx_replace() -> None:
    async def main() -> None:
        store = Store(LocalLog())
        await store.update(lambda tx: tx.create(NODES, node("a")))
        updated = await store.update(
            lambda tx: tx.replace(NODES, "a", availability=NodeAvailability.DRAIN)
        )
        assert updated.availability == NodeAvailability.DRAIN
        assert must(store.view().get(NODES, "a")).availability == NodeAvailability.DRAIN
        assert must(store.view().get(NODES, "a")).hostname == "a"

        with pytest.raises(NotFound, match="node missing not found"):
            await store.update(lambda tx: tx.replace(NODES, "missing", hostname="x"))

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

    assert state.snapshot().get(NODES, "kept") == node("kept", "new")
    assert state.snapshot().get(NODES, "gone") is None
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
    assert state.snapshot().all(NODES) == first.all(NODES)
    state.apply((Op("nodes", "b", node("b")), Op("nodes", "a", None)))
    assert [n.id for n in first.all(NODES)] == ["a"]  # the older snapshot is unchanged
    assert [n.id for n in state.snapshot().all(NODES)] == ["b"]
    loaded = StoreState()
    loaded.apply((Op("nodes", "c", node("c")),))
    install(state, loaded, None)
    assert [n.id for n in state.snapshot().all(NODES)] == ["c"]


def test_a_service_logged_before_update_state_was_an_enum_still_applies() -> None:
    """Raft entries pickled by an older swarmpy carry the update state as a plain str."""
    status = UpdateStatus(started_at=1.0, message="update in progress", spec_version=2)
    object.__setattr__(status, "state", "updating")  # as an older manager wrote it
    svc = Service("s1", ServiceSpec("web", ContainerSpec("busybox")), update_status=status)
    state = StoreState()
    state.apply(pickle.loads(pickle.dumps((Op("services", "s1", svc),))))

    loaded = must_service(state.snapshot().get(SERVICES, "s1"))
    assert loaded.update_status is not None
    assert type(loaded.update_status.state) is UpdateState
    assert loaded.update_status.state == UpdateState.UPDATING
    message = codec.to_proto(loaded, objects_pb2.Service())
    assert message.update_status.state == "updating"
    assert codec.from_proto(Service, message) == loaded


def must_service(obj: Service | None) -> Service:
    assert obj is not None
    return obj
