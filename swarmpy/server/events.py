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

from swarmpy.manager.state.store import CONFIGS, NETWORKS, NODES, SECRETS, SERVICES
from swarmpy.server.backend import EngineNode
from swarmpy.server.convert.events import docker_event, local_event

log = logging.getLogger(__name__)

# As many as Docker's events service keeps for `since` (daemon/events: eventsLimit).
KEEP = 256
# How often the recorder looks whether this node became (or stopped being) a manager, besides
# being woken by the node when its manager role starts or stops.
ROLE_POLL_S = 1.0

Listener = asyncio.Queue[dict[str, Any]]


class EventLog:
    def __init__(self, node: EngineNode) -> None:
        self._node = node
        self._recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=KEEP)
        self._listeners: set[Listener] = set()
        self._task: asyncio.Task[None] | None = None
        self._engine: object | None = None  # the runtime whose container events we record
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
        self._recent.append(event)
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
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._node.roles_changed.wait(), ROLE_POLL_S)
                continue
            with api.store.watch(SERVICES, NODES, NETWORKS, SECRETS, CONFIGS) as watch:
                self.following.set()
                while self._node.control_api() is api:
                    self.follow_engine()
                    try:
                        event = await asyncio.wait_for(watch.get(), ROLE_POLL_S)
                    except TimeoutError:
                        continue
                    docker = docker_event(event, time.time())
                    if docker is not None:
                        self.record(docker)
            self.following.clear()
