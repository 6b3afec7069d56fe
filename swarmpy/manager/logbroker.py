"""Service logs through the leader (SwarmKit's log broker).

A manager subscribes on behalf of its CLI (``SubscribeLogs``); the broker works out which
nodes run the wanted tasks, tells each node's agent over its ``ListenSubscriptions`` stream,
and forwards what the agents send through ``PublishLogs`` to the subscriber. Like the
dispatcher it serves only on the leader, which holds every agent's session.

Who may publish: ``ListenSubscriptions`` carries the session id, checked with the
dispatcher, so only a node with a live session learns of subscriptions. ``PublishLogs``
carries no session id; the node is taken from its certificate, and only messages for the
tasks the subscription asked *that node* for are forwarded, so a node can neither speak for
another node nor inject lines into tasks it does not run.

A ``LogMessage`` with an empty ``task_id`` is a notice from the broker itself about
``node_id`` (e.g. that the node never answered); clients show it as a warning.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

import grpc

from swarmpy import tls
from swarmpy.api import dispatcher_pb2, dispatcher_pb2_grpc
from swarmpy.errors import NoLeader, Unavailable
from swarmpy.manager.auth import authorize, calling_node
from swarmpy.manager.controlapi.common import resolve
from swarmpy.manager.state.store import NODES, SERVICES, TASKS, Snapshot, Store
from swarmpy.model import NodeRole, NodeState, Task, TaskState, new_id
from swarmpy.protocol import NOT_LEADER_PREFIX
from swarmpy.rpc import streaming, to_error, unary

log = logging.getLogger(__name__)

Ctx = grpc.aio.ServicerContext[Any, Any]
# Without --follow, a subscription whose nodes have all been silent this long ends: a node
# that lost its session must not make `service logs` hang.
SILENCE_S = 5.0
# Log messages waiting for a slow subscriber; beyond this PublishLogs stops reading, so gRPC
# flow control slows the agents down instead of the leader buffering without bound. (The
# queue itself is unbounded so that end markers never wait.)
QUEUE_SIZE = 256


# ---------------------------------------------------------------- pure decisions


def has_container(task: Task) -> bool:
    """Only a task that got as far as starting has a container (and so a log) on its node."""
    return bool(task.node_id) and task.status.state >= TaskState.STARTING


def subscription_scope(
    tasks: Iterable[Task], service_ids: Collection[str], task_ids: Collection[str]
) -> dict[str, set[str]]:
    """Node id -> ids of the tasks on it whose logs a subscription covers."""
    scope: dict[str, set[str]] = {}
    for task in tasks:
        if (task.service_id in service_ids or task.id in task_ids) and has_container(task):
            scope.setdefault(task.node_id, set()).add(task.id)
    return scope


def new_in_scope(scope: dict[str, set[str]], told: dict[str, set[str]]) -> dict[str, set[str]]:
    """Per node, the tasks of ``scope`` a node has not been told about yet."""
    fresh = {node: tasks - told.get(node, set()) for node, tasks in scope.items()}
    return {node: tasks for node, tasks in fresh.items() if tasks}


def notice(node_id: str, text: str) -> dispatcher_pb2.LogMessage:
    return dispatcher_pb2.LogMessage(node_id=node_id, data=text.encode())


# ---------------------------------------------------------------- state


@dataclass(frozen=True)
class _NodeDone:
    node_id: str


@dataclass(eq=False)
class _Listener:
    node_id: str
    queue: asyncio.Queue[dispatcher_pb2.SubscriptionMessage | None] = dataclasses.field(
        default_factory=asyncio.Queue
    )


@dataclass(eq=False)
class _Subscription:
    id: str
    follow: bool
    tail: int
    since_ns: int
    until_ns: int
    service_ids: frozenset[str]
    task_ids: frozenset[str]
    told: dict[str, set[str]] = dataclasses.field(default_factory=dict)
    done: set[str] = dataclasses.field(default_factory=set)
    queue: asyncio.Queue[dispatcher_pb2.LogMessage | _NodeDone | None] = dataclasses.field(
        default_factory=asyncio.Queue
    )
    room: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    ended: bool = False

    async def put(self, message: dispatcher_pb2.LogMessage) -> None:
        while self.queue.qsize() >= QUEUE_SIZE and not self.ended:
            self.room.clear()
            await self.room.wait()
        if not self.ended:
            self.queue.put_nowait(message)

    def message(self, tasks: Collection[str], close: bool = False) -> Any:
        return dispatcher_pb2.SubscriptionMessage(
            id=self.id,
            task_ids=sorted(tasks),
            follow=self.follow,
            tail=self.tail,
            close=close,
            since_unix_nano=self.since_ns,
            until_unix_nano=self.until_ns,
        )


class LogBroker(dispatcher_pb2_grpc.LogBrokerServicer):
    def __init__(
        self,
        store: Store,
        ca_pem: str,
        is_leader: Callable[[], bool],
        leader_api_addr: Callable[[], str | None],
        check_session: Callable[[str, str], object],
    ) -> None:
        self.store = store
        self.ca_pem = ca_pem
        self._is_leader = is_leader
        self._leader_api_addr = leader_api_addr
        self._check_session = check_session
        self._listeners: dict[str, _Listener] = {}
        self._subscriptions: dict[str, _Subscription] = {}
        self._running = False
        self._stopped = asyncio.Event()

    # ------------------------------------------------------------------ leader loop

    async def run(self) -> None:
        """Started with the leader's loops; the broker has no work of its own between calls."""
        self._running = True
        self._stopped.clear()
        await self._stopped.wait()

    async def stop(self) -> None:
        # Every open stream ends, so agents and subscribers go to the new leader.
        self._running = False
        self._stopped.set()
        for listener in self._listeners.values():
            listener.queue.put_nowait(None)
        for sub in self._subscriptions.values():
            sub.queue.put_nowait(None)

    def _require_leader(self) -> None:
        if not self._is_leader() or not self._running:
            raise Unavailable(f"{NOT_LEADER_PREFIX}{self._leader_api_addr() or ''}")

    def _not_leader(self) -> Unavailable:
        return Unavailable(f"{NOT_LEADER_PREFIX}{self._leader_api_addr() or ''}")

    # ------------------------------------------------------------------ subscribers

    @streaming
    async def SubscribeLogs(self, request: Any, context: Ctx) -> AsyncIterator[Any]:
        snapshot = self.store.view()
        authorize(context, self.ca_pem, snapshot, NodeRole.MANAGER, action="subscribe to logs")
        self._require_leader()
        service_ids = {
            resolve(snapshot, SERVICES, ref, lambda s: s.spec.name).id
            for ref in request.service_ids
        }
        task_ids = {resolve(snapshot, TASKS, ref, lambda t: t.name).id for ref in request.task_ids}
        sub = _Subscription(
            id=new_id(),
            follow=request.follow,
            tail=request.tail,
            since_ns=request.since_unix_nano,
            until_ns=request.until_unix_nano,
            service_ids=frozenset(service_ids),
            task_ids=frozenset(task_ids),
        )
        self._subscriptions[sub.id] = sub
        watcher = asyncio.create_task(self._watch_tasks(sub)) if sub.follow else None
        try:
            for item in self._extend(sub, snapshot):
                yield item
            async for item in self._deliver(sub):
                yield item
        finally:
            if watcher is not None:
                watcher.cancel()
            sub.ended = True
            self._subscriptions.pop(sub.id, None)
            # Wakes any PublishLogs waiting for room; they see `ended` and stop.
            sub.room.set()
            for node_id, tasks in sub.told.items():
                if node_id not in sub.done and node_id in self._listeners:
                    self._listeners[node_id].queue.put_nowait(sub.message(tasks, close=True))

    def _extend(self, sub: _Subscription, snapshot: Snapshot) -> list[Any]:
        """Tell each node about its tasks the subscription covers and it does not know yet;
        returns notices for nodes that cannot be asked."""
        scope = subscription_scope(snapshot.all(TASKS), sub.service_ids, sub.task_ids)
        notices = []
        for node_id, tasks in new_in_scope(scope, sub.told).items():
            node = snapshot.get(NODES, node_id)
            if node is None or node.state == NodeState.DOWN:
                if node_id not in sub.done:
                    sub.done.add(node_id)
                    name = node.hostname if node is not None else node_id
                    notices.append(notice(node_id, f"node {name} is down: no logs from it"))
                continue
            sub.told.setdefault(node_id, set()).update(tasks)
            sub.done.discard(node_id)
            listener = self._listeners.get(node_id)
            if listener is not None:
                # Only the new tasks: an agent adds them to what it already streams.
                listener.queue.put_nowait(sub.message(tasks))
        return notices

    async def _watch_tasks(self, sub: _Subscription) -> None:
        """With --follow, tasks that start later (scale up, updates, restarts) join in."""
        # Nodes too: one that comes back up makes its tasks' logs reachable again.
        with self.store.watch(TASKS, NODES) as watch:
            async for _event in watch:
                await asyncio.sleep(0.05)
                watch.pending()  # one look covers every event of the batch
                for item in self._extend(sub, self.store.view()):
                    sub.queue.put_nowait(item)

    async def _deliver(self, sub: _Subscription) -> AsyncIterator[Any]:
        while sub.follow or set(sub.told) - sub.done:
            try:
                item = await asyncio.wait_for(
                    sub.queue.get(), timeout=None if sub.follow else SILENCE_S
                )
            except TimeoutError:
                for node_id in sorted(set(sub.told) - sub.done):
                    node = self.store.view().get(NODES, node_id)
                    name = node.hostname if node is not None else node_id
                    yield notice(node_id, f"node {name} did not answer: its logs may be missing")
                return
            sub.room.set()
            if item is None:
                raise self._not_leader()
            if isinstance(item, _NodeDone):
                sub.done.add(item.node_id)
                continue
            yield item

    # ------------------------------------------------------------------ agents

    @streaming
    async def ListenSubscriptions(self, request: Any, context: Ctx) -> AsyncIterator[Any]:
        node_id = self._node_of(context)
        self._require_leader()
        self._check_session(node_id, request.session_id)
        previous = self._listeners.get(node_id)
        if previous is not None:
            previous.queue.put_nowait(None)
        listener = _Listener(node_id)
        self._listeners[node_id] = listener
        # A node that (re)connects late still gets what open subscriptions want of it.
        for sub in self._subscriptions.values():
            tasks = sub.told.get(node_id)
            if tasks and node_id not in sub.done:
                listener.queue.put_nowait(sub.message(tasks))
        try:
            while (message := await listener.queue.get()) is not None:
                yield message
        finally:
            if self._listeners.get(node_id) is listener:
                del self._listeners[node_id]
        if not self._running:
            raise self._not_leader()

    @unary
    async def PublishLogs(self, request_iterator: Any, context: Ctx) -> Any:
        node_id = self._node_of(context)
        self._require_leader()
        sub: _Subscription | None = None
        closed = False
        try:
            async for message in request_iterator:
                sub = sub or self._subscriptions.get(message.subscription_id)
                if sub is None or sub.ended or sub.id != message.subscription_id:
                    break
                allowed = sub.told.get(node_id, set())
                for msg in message.messages:
                    if msg.task_id not in allowed:
                        continue
                    task = self.store.view().get(TASKS, msg.task_id)
                    await sub.put(
                        dispatcher_pb2.LogMessage(
                            task_id=msg.task_id,
                            service_id=task.service_id if task is not None else "",
                            node_id=node_id,
                            data=msg.data,
                            time_unix_nano=msg.time_unix_nano,
                            stream=msg.stream,
                        )
                    )
                    if sub.ended:
                        break
                if message.close or sub.ended:
                    closed = message.close
                    break
        finally:
            # A stream that broke off counts as done too: waiting for it would hang.
            if sub is not None and not sub.ended:
                if not closed:
                    log.info("node %s stopped sending logs for %s early", node_id, sub.id)
                sub.queue.put_nowait(_NodeDone(node_id))
        return dispatcher_pb2.PublishLogsResponse()

    def _node_of(self, context: Ctx) -> str:
        return calling_node(context, self.ca_pem, self.store.view(), "publish logs")


# ---------------------------------------------------------------- a manager's side


async def subscribe_via_leader(
    leader: str | None, creds: tls.NodeCredentials, request: Any
) -> AsyncIterator[Any]:
    """Relay a subscription to the leader's broker, with this manager's own certificate."""
    if not leader:
        raise NoLeader()
    async with tls.secure_channel(leader, creds.ca_pem, creds.cert_pem, creds.key_pem) as channel:
        stub = dispatcher_pb2_grpc.LogBrokerStub(channel)
        try:
            async for message in stub.SubscribeLogs(request):
                yield message
        except grpc.aio.AioRpcError as exc:
            raise to_error(exc, leader) from None
