"""The events recorder loses no swarm event to its start: what a new manager wrote before the
recorder followed its store is recorded, with the objects' own creation times, once; what a
store only fills in (Raft replaying its log) is not news."""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from pathlib import Path
from typing import Any, TypeVar

from swarmpy.config import DaemonConfig
from swarmpy.manager.controlapi.common import RaftMember
from swarmpy.manager.controlapi.controlapi import ControlAPI
from swarmpy.manager.sealing import new_data_key
from swarmpy.manager.state.store import NODES, SERVICES, LocalLog, Store, Tx
from swarmpy.model import Node, Service, now
from swarmpy.server.events import EventLog
from tests.support.builders import node, service
from tests.support.engine_api import FakeMembership, FakeNode
from tests.support.poll import wait_for_async

WAIT_S = 10.0
T = TypeVar("T", Node, Service)


def made(obj: T, ago: float = 0.0) -> T:
    """``obj`` as the store has it, created ``ago`` seconds ago."""
    return dataclasses.replace(obj, created_at=now() - ago)


def manager_api(store: Store) -> ControlAPI:
    def members() -> list[RaftMember]:
        return []

    return ControlAPI(store, members, data_key=new_data_key())


def swarm_events(kept: list[dict[str, Any]]) -> list[tuple[str, str, str, int]]:
    return [
        (e["Type"], e["Action"], e["Actor"]["ID"], e["timeNano"])
        for e in kept
        if e["scope"] == "swarm"
    ]


async def next_swarm_event(listener: asyncio.Queue[dict[str, Any]]) -> dict[str, Any]:
    while True:
        event = await asyncio.wait_for(listener.get(), WAIT_S)
        if event["scope"] == "swarm":
            return event


async def _a_manager_that_wrote_before_the_recorder_woke(tmp: Path) -> None:
    fake = FakeNode(DaemonConfig(data_root=tmp), None, FakeMembership(), None, None)
    log = EventLog(fake)
    log.start()
    try:
        # The manager starts and writes (swarm init's node, a first service) before the
        # recorder's wake-up runs: nothing here yields to it.
        store = Store(LocalLog())
        fake.api = manager_api(store)
        first, web = made(node("host1")), made(service("web", "s1"))

        def bootstrap(tx: Tx) -> None:
            tx.create(NODES, first)
            tx.create(SERVICES, web)

        await store.update(bootstrap)
        fake.roles_changed.set()
        await asyncio.wait_for(log.following.wait(), WAIT_S)
        kept, listener = log.subscribe()
        assert swarm_events(kept) == [
            ("node", "create", first.id, int(first.created_at * 1e9)),
            ("service", "create", "s1", int(web.created_at * 1e9)),
        ]
        live = made(service("live", "s2"))
        await store.update(lambda tx: tx.create(SERVICES, live))
        assert (await next_swarm_event(listener))["Actor"]["ID"] == "s2"

        # The manager restarts over the same store: nothing is told twice.
        fake.api = manager_api(store)
        fake.roles_changed.set()
        # Cleared by the recorder as it follows the new one (and catches up, at once).
        await wait_for_async("the recorder to follow", lambda: not fake.roles_changed.is_set())
        later = made(service("later", "s3"))
        await store.update(lambda tx: tx.create(SERVICES, later))
        assert (await next_swarm_event(listener))["Actor"]["ID"] == "s3"

        # Raft replaying its log after a restart creates an object made long before.
        old = made(service("old", "s0"), ago=3600)
        await store.update(lambda tx: tx.create(SERVICES, old))
        await store.update(lambda tx: tx.delete(SERVICES, "s1"))
        assert (await next_swarm_event(listener))["Action"] == "remove"

        kept, everything = log.subscribe()
        log.unsubscribe(everything)
        nanos = [int(o.created_at * 1e9) for o in (first, web, live, later)]
        assert swarm_events(kept)[:4] == [
            ("node", "create", first.id, nanos[0]),
            ("service", "create", "s1", nanos[1]),
            ("service", "create", "s2", nanos[2]),
            ("service", "create", "s3", nanos[3]),
        ]
        assert [(t, a, i) for t, a, i, _ in swarm_events(kept)[4:]] == [("service", "remove", "s1")]
    finally:
        await log.stop()


def test_what_a_manager_wrote_before_the_recorder_followed_is_recorded_once() -> None:
    with tempfile.TemporaryDirectory(prefix="sp-events-") as tmp:
        asyncio.run(_a_manager_that_wrote_before_the_recorder_woke(Path(tmp)))
