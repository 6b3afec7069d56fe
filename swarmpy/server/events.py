"""The recent events, for ``/events``: the swarm's, recorded from the store while this node
is a manager, and the node's containers', from its engine; kept for ``since`` (Docker keeps
the last events in memory the same way) and fanned out to every open ``/events`` stream."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from swarmpy.manager.controlapi.controlapi import ControlAPI
from swarmpy.manager.state.store import (
    CONFIGS,
    NETWORKS,
    NODES,
    SECRETS,
    SERVICES,
    Event,
    Snapshot,
    Table,
    Watch,
)
from swarmpy.server.backend import EngineNode
from swarmpy.server.convert.events import docker_event, local_event

log = logging.getLogger(__name__)

# As many as Docker's events service keeps for `since` (daemon/events: eventsLimit).
KEEP = 256
# How often the recorder looks whether this node became (or stopped being) a manager, besides
# being woken by the node when its manager role starts or stops.
ROLE_POLL_S = 1.0
# The store's tables whose changes are Docker events.
SWARM_TABLES: tuple[Table[Any], ...] = (SERVICES, NODES, NETWORKS, SECRETS, CONFIGS)

Listener = asyncio.Queue[dict[str, Any]]


class EventLog:
    def __init__(self, node: EngineNode) -> None:
        self._node = node
        self._recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=KEEP)
        self._listeners: set[Listener] = set()
        self._task: asyncio.Task[None] | None = None
        self._engine: object | None = None  # the runtime whose container events we record
        # Swarm objects made since this moment are news: the last time this node was seen
        # without a manager (or the daemon's start). An older one that a store creates is a
        # store being filled (Raft replaying its log, a snapshot from the leader).
        self._news_since = time.time()
        # The swarm objects whose create event was recorded (until their remove event).
        self._created: set[str] = set()
        # Set while the recorder follows a manager's store (tests wait on it).
        self.following = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow())

    def follow_engine(self) -> None:
        """Record the containers' events of the node's engine, once it has one (made when
        the node joins a swarm, or by a first local command); called as it may appear."""
        runtime = self._node.runtime
        if runtime is None or runtime is self._engine:
            return
        self._engine = runtime
        runtime.containers.events.subscribe(self._container_event)
        loop = asyncio.get_running_loop()

        def image_event(action: str, actor: str, attributes: dict[str, str]) -> None:
            # Told from the thread a pull or a load runs in: recorded on our loop.
            at = time.time()
            loop.call_soon_threadsafe(
                self.record, local_event("image", action, actor, attributes, at)
            )

        runtime.images.events.subscribe(image_event)

        def local_object_event(kind: str) -> Callable[[str, str, dict[str, str]], None]:
            def told(action: str, actor: str, attributes: dict[str, str]) -> None:
                # Volumes are made from worker threads: recorded on our loop.
                at = time.time()
                loop.call_soon_threadsafe(
                    self.record, local_event(kind, action, actor, attributes, at)
                )

            return told

        runtime.volumes.events.subscribe(local_object_event("volume"))
        runtime.network_events.subscribe(local_object_event("network"))

    def _container_event(self, action: str, cid: str, attributes: dict[str, str]) -> None:
        self.record(local_event("container", action, cid, attributes, time.time()))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def record(self, event: dict[str, Any]) -> None:
        # In time order: a swarm object's create event carries the object's own creation
        # time, which may come before events recorded since.
        at = event["timeNano"]
        place = len(self._recent)
        while place > 0 and self._recent[place - 1]["timeNano"] > at:
            place -= 1
        if place == len(self._recent):
            self._recent.append(event)
        elif len(self._recent) < KEEP:
            self._recent.insert(place, event)
        elif place > 0:
            # Full: the oldest one makes room, as an append would have.
            self._recent.popleft()
            self._recent.insert(place - 1, event)
        else:
            return  # older than every kept event: gone already, as it would be
        for listener in self._listeners:
            listener.put_nowait(event)

    def subscribe(self) -> tuple[list[dict[str, Any]], Listener]:
        """The events kept so far and a queue of those to come, with none lost between."""
        listener: Listener = asyncio.Queue()
        self._listeners.add(listener)
        return list(self._recent), listener

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    @property
    def listening(self) -> int:
        """How many /events streams are open."""
        return len(self._listeners)

    async def _follow(self) -> None:
        while True:
            self.follow_engine()
            self._node.roles_changed.clear()
            api = self._node.control_api()
            if api is None:
                self._news_since = time.time()
                # asyncio.wait, not wait_for: Python 3.11's wait_for may swallow the
                # cancellation of stop() when the wait ends at the same time.
                role = asyncio.ensure_future(self._node.roles_changed.wait())
                try:
                    await asyncio.wait((role,), timeout=ROLE_POLL_S)
                finally:
                    role.cancel()
                continue
            with api.store.watch(*SWARM_TABLES) as watch:
                # The manager may have written before this recorder woke (swarm init's node,
                # a first service): what the watch's snapshot holds and no event told.
                self._catch_up(watch.snapshot)
                self.following.set()
                await self._record_store(api, watch)
            self.following.clear()

    async def _record_store(self, api: ControlAPI, watch: Watch) -> None:
        """The store's events, until this node's manager stops or another one starts."""
        role = asyncio.ensure_future(self._node.roles_changed.wait())
        get: asyncio.Future[Event] | None = None
        try:
            while self._node.control_api() is api and not role.done():
                self.follow_engine()
                get = get or asyncio.ensure_future(watch.get())
                await asyncio.wait((get, role), timeout=ROLE_POLL_S, return_when="FIRST_COMPLETED")
                if get.done():
                    self._store_event(get.result())
                    get = None
        finally:
            for waiting in (role, get):
                if waiting is not None:
                    waiting.cancel()

    def _catch_up(self, snapshot: Snapshot) -> None:
        missed = [
            Event("create", table, obj)
            for table in SWARM_TABLES
            for obj in snapshot.all(table)
            if obj.id not in self._created
        ]
        for event in sorted(missed, key=lambda e: float(e.obj.created_at)):
            self._store_event(event)

    def _store_event(self, event: Event) -> None:
        obj = event.obj
        at = time.time()
        if event.action == "create":
            made: float = obj.created_at
            if obj.id in self._created or 0 < made < self._news_since:
                return  # told already, or not made now (see _news_since)
            self._created.add(obj.id)
            # Docker's time of a create: the object's own (daemon/events.go eventTimestamp).
            at = made or at
        elif event.action == "delete":
            self._created.discard(obj.id)
        docker = docker_event(event, at)
        if docker is not None:
            self.record(docker)
