"""The agents' API on the leader: sessions, heartbeats, task status, assignments.

Like SwarmKit's dispatcher it only serves on the leader: a follower refuses with the
leader's address so the agent moves there. Node liveness is a control loop of its own:
a node that misses ``HEARTBEAT_MISSES`` periods is marked Down, and the orchestrator then
replaces its tasks.

Backpressure (``admission.py``): sessions are admitted while fewer than
``MAX_PENDING_SESSIONS`` are registering, the rest refused with a delay the agent obeys;
registrations and status reports are written in batches, one at a time, coalesced per node
and task (``statusbatch.py``); and time the leader itself was too busy to read heartbeats
is not counted against the nodes, nor is a node's wait for its turn while the whole swarm
reconnects at once (``admission.Reconnects``).

Stepping down (``step_down``) keeps the sessions for up to ``LEADERSHIP_HOLD_S`` while no
other manager leads: a leader whose Raft tick stalled steps down and, as often as not, wins the
next election itself a fraction of a second later. Dropping every session then sends the whole
swarm reconnecting at once, the storm that starved it in the first place. The agents' calls
wait while the sessions are held (no answer, no redirect), so no session is served by a
manager that is not leading; they are ended as soon as another manager leads, or when the hold
runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from swarmpy import codec
from swarmpy.api import dispatcher_pb2, dispatcher_pb2_grpc, objects_pb2
from swarmpy.ca import rotation
from swarmpy.errors import NotFound
from swarmpy.manager import sealing
from swarmpy.manager.auth import calling_node, refuse_removed
from swarmpy.manager.dispatcher.admission import (
    Admission,
    MassSilence,
    Reconnects,
    StallClock,
)
from swarmpy.manager.dispatcher.assignments import AssignmentIndex, changes_views, same_for_agent
from swarmpy.manager.dispatcher.files import file_data, wanted_ids
from swarmpy.manager.dispatcher.netview import ViewBuilder
from swarmpy.manager.dispatcher.statusbatch import RegistrationBatcher, StatusBatcher
from swarmpy.manager.state.store import NODES, TASKS, Event, Snapshot, Store, Tx, Watch
from swarmpy.model import (
    NodeRole,
    NodeState,
    Resources,
    Task,
    TaskStatus,
    new_id,
    now,
)
from swarmpy.protocol import DEFAULT_HEARTBEAT_PERIOD_S, HEARTBEAT_MISSES, TryLater, not_leader
from swarmpy.rpc import streaming

log = logging.getLogger(__name__)

Ctx = grpc.aio.ServicerContext[Any, Any]
# Assignment changes are gathered for this long, so a burst of store events (a service of
# a thousand tasks) costs one recomputation, not a thousand.
ASSIGNMENT_BATCH_S = 0.05
# An open session is woken when its node, the manager list or the period changes; it also
# looks by itself this often, in case a change came in some way nobody announced.
SESSION_POLL_S = 30.0
# How long a manager that stepped down keeps its agents' sessions while no other manager
# leads: longer than the step-down-and-win-again seen at load (0.25-0.45 s, pysyncobj's
# election timeout is at most 2 s), far shorter than the 15 s an agent waits for an answer.
LEADERSHIP_HOLD_S = 3.0
# While holding, how often it looks whether another manager leads.
HOLD_POLL_S = 0.1


@dataclass
class _Session:
    session_id: str
    last_heartbeat: float
    changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


@dataclass(eq=False)  # identity: subscribers live in a set
class _Subscriber:
    node_id: str
    queue: asyncio.Queue[dispatcher_pb2.AssignmentsMessage]
    sent: dict[str, Task] = dataclasses.field(default_factory=dict)
    view: Any = None
    first: bool = True
    # The ids of the secrets and configs the node was last sent.
    files: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())


class Dispatcher(dispatcher_pb2_grpc.DispatcherServicer):
    def __init__(
        self,
        store: Store,
        ca_pem: str,
        is_leader: Callable[[], bool],
        leader_api_addr: Callable[[], str | None],
        data_key: sealing.KeySource = "",
    ) -> None:
        self.store = store
        self._data_key = data_key
        self.ca_pem = ca_pem
        self._is_leader = is_leader
        self._leader_api_addr = leader_api_addr
        self._sessions: dict[str, _Session] = {}
        self._managers_at: tuple[int, list[str]] | None = None
        self._subscribers: set[_Subscriber] = set()
        self._statuses = StatusBatcher(store)
        self.admission = Admission()
        self._registrations = RegistrationBatcher(store)
        self._registrations.on_registered = self.admission.registered
        self.stalls = StallClock()
        self.reconnects = Reconnects()
        self.mass_silence = MassSilence()
        # Nodes told to come back later (admission), and when: not late before then.
        self._deferred: dict[str, float] = {}
        self._dirty = asyncio.Event()
        # What _push_assignments learnt from the store's events since the last push.
        self._index = AssignmentIndex(())
        self._dirty_nodes: set[str] = set()
        self._views: ViewBuilder | None = None
        self._nodes_changed: set[str] = set()
        self._session_facts: tuple[tuple[str, ...], float, str] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        # Set while the sessions are held after stepping down (step_down); set (and None)
        # once we lead again or the sessions are ended.
        self._hold: asyncio.Event | None = None
        self._hold_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ leader loop

    async def run(self) -> None:
        """Started when this manager becomes leader: liveness checks and assignment pushes."""
        self._running = True
        if self._hold is not None:
            log.info(
                "leading again: keeping the %d sessions held since stepping down",
                len(self._sessions),
            )
        self._end_hold()
        started = time.monotonic()
        self.mass_silence.reset()
        # Every node gets a full grace period from the moment we lead.
        for session in self._sessions.values():
            session.last_heartbeat = started
        # And every live node is reconnecting to us: the later ones wait their turn behind
        # the others (Reconnects), however long the swarm takes to come over. Not a node
        # already down: when it comes back, days later, that is no measure of our pace.
        for node in self.store.view().all(NODES):
            if node.id not in self._sessions and node.state != NodeState.DOWN:
                self.reconnects.hung_up(node.id, started)
        self._tasks = [
            asyncio.create_task(self._check_liveness(started)),
            asyncio.create_task(self._push_assignments()),
        ]
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        """Stop leading and end every session (the manager is shutting down)."""
        self._stop_loops()
        self._end_hold()
        self._drop_sessions()

    def step_down(self) -> None:
        """Stop leading, holding the sessions until another manager leads, we lead again
        (``run``), or ``LEADERSHIP_HOLD_S`` passes."""
        self._stop_loops()
        if not self._sessions or self._hold is not None:
            self._drop_sessions()
            return
        log.info(
            "stepped down: holding %d sessions for up to %.0f s in case we lead again",
            len(self._sessions),
            LEADERSHIP_HOLD_S,
        )
        self._hold = asyncio.Event()
        self._hold_task = asyncio.create_task(self._hold_sessions())

    async def _hold_sessions(self) -> None:
        deadline = time.monotonic() + LEADERSHIP_HOLD_S
        while time.monotonic() < deadline:
            if self._leader_api_addr() is not None and not self._is_leader():
                log.info("another manager leads: ending the held sessions")
                break
            await asyncio.sleep(HOLD_POLL_S)
        else:
            log.info("no leader after %.0f s: ending the held sessions", LEADERSHIP_HOLD_S)
        self._hold_task = None  # ending the hold must not cancel this very task
        self._drop_sessions()
        self._end_hold()

    def _end_hold(self) -> None:
        hold, self._hold = self._hold, None
        if self._hold_task is not None:
            self._hold_task.cancel()
            self._hold_task = None
        if hold is not None:
            hold.set()

    def _stop_loops(self) -> None:
        self._running = False
        for task in self._tasks:
            task.cancel()

    def _drop_sessions(self) -> None:
        for session in self._sessions.values():
            session.changed.set()
        self._sessions.clear()
        self.reconnects.away.clear()

    def _period(self, snapshot: Snapshot | None = None) -> float:
        cluster = (snapshot or self.store.view()).cluster()
        return cluster.heartbeat_period_s if cluster else DEFAULT_HEARTBEAT_PERIOD_S

    async def _check_liveness(self, started: float) -> None:
        # A node without a session is late from when this leader first saw it: one that
        # joins long after we started leading gets its own grace period to open a session.
        seen_at: dict[str, float] = {}
        # After a change of leader every agent reconnects at once, and the admission lets
        # them in at the rate registrations commit: the last is not late for its turn.
        allowance: float | None = None
        while self._running:
            period = self._period()
            asked = min(1.0, period / 2)
            slept_from = time.monotonic()
            await asyncio.sleep(asked)
            # A leader too busy to run this check on time was as late reading heartbeats:
            # that time is not the nodes' fault, so every deadline moves by it.
            woke = time.monotonic()
            stall = self.stalls.woke(asked, woke - slept_from)
            if stall:
                log.info("dispatcher: %.1f s late, not counted against the nodes", stall)
                # Never into the future: a beat read just now already counts from now.
                for live in self._sessions.values():
                    live.last_heartbeat = min(woke, live.last_heartbeat + stall)
                for node_id, seen in seen_at.items():
                    seen_at[node_id] = min(woke, seen + stall)
            grace = HEARTBEAT_MISSES * period
            deadline = time.monotonic() - grace
            # Nodes that hung up are owed as long as the slowest of the others took to
            # come back: the leader is still taking reconnections in, they wait their turn.
            coming_back = self.reconnects.allowance(time.monotonic(), grace)
            snapshot = self.store.view()
            nodes = snapshot.all(NODES)
            if allowance is None:
                allowance = len(nodes) / max(self.admission.rate, 1.0)
            late = []
            spared = 0
            for node in nodes:
                session = self._sessions.get(node.id)
                if session is not None:
                    seen_at.pop(node.id, None)
                    last = session.last_heartbeat
                else:
                    last = seen_at.setdefault(node.id, max(started + allowance, time.monotonic()))
                if node.id in self.reconnects.away:
                    spared += last < deadline <= last + coming_back
                    last += coming_back
                # Told to come back at a time: its grace counts from then (whether or not
                # the session it hung up is still on the books).
                last = max(last, self._deferred.get(node.id, 0.0))
                if node.state != NodeState.DOWN and last < deadline:
                    late.append(node.id)
            if spared:
                log.info(
                    "dispatcher: %d nodes still reconnecting, not late: others took up to "
                    "%.1f s to come back",
                    spared,
                    coming_back,
                )
            checked_at = time.monotonic()
            disturbed = self.reconnects.disturbed(checked_at, self.mass_silence.window_s)
            if self.mass_silence.holds(late, len(nodes), checked_at, disturbed):
                log.warning(
                    "dispatcher: %d of %d nodes fell late within %.0f s (%d late now, %d "
                    "touched by reconnections): waiting up to %.0f s for them before marking "
                    "any down",
                    self.mass_silence.fallen_late,
                    len(nodes),
                    self.mass_silence.window_s,
                    len(late),
                    len(disturbed),
                    self.mass_silence.hold_s,
                )
                late = []
            if late:
                await self.store.update(functools.partial(_mark_down, node_ids=late))
                for node_id in late:
                    log.info("node %s missed %d heartbeats: down", node_id, HEARTBEAT_MISSES)
                    self.reconnects.forget(node_id)
                    dropped = self._sessions.pop(node_id, None)
                    if dropped is not None:
                        dropped.changed.set()

    async def _push_assignments(self) -> None:
        watch = self.store.watch()
        self._index = AssignmentIndex(watch.snapshot.all(TASKS))
        self._views = None
        self._session_facts = None
        drain: asyncio.Task[None] | None = None
        try:
            self._dirty.set()
            while self._running:
                drain = asyncio.create_task(self._drain(watch))
                await self._dirty.wait()
                drain.cancel()
                await asyncio.sleep(ASSIGNMENT_BATCH_S)
                self._dirty.clear()
                for event in watch.pending():
                    self._take(event)
                snapshot = self.store.view()
                self._wake_sessions(snapshot)
                self._publish(snapshot)
        finally:
            if drain is not None:
                drain.cancel()  # stopped while waiting: it must not outlive us
            watch.close()

    async def _drain(self, watch: Watch) -> None:
        self._take(await watch.get())
        self._dirty.set()

    def _take(self, event: Event) -> None:
        self._dirty_nodes |= self._index.apply(event)
        if changes_views(event):
            self._views = None
        if event.table == NODES:
            self._nodes_changed.add(event.obj.id)

    def _wake_sessions(self, snapshot: Snapshot) -> None:
        """Wake the sessions whose message may have changed: all of them if the manager
        list, the period or the roots to trust did, else those of the nodes that changed
        (a role)."""
        changed, self._nodes_changed = self._nodes_changed, set()
        facts = (tuple(self._managers(snapshot)), self._period(snapshot), _roots(snapshot))
        if facts != self._session_facts:
            self._session_facts = facts
            changed = set(self._sessions)
        for node_id in changed:
            session = self._sessions.get(node_id)
            if session is not None:
                session.changed.set()

    def _publish(self, snapshot: Snapshot) -> None:
        """Push each subscriber what changed for its node since its last message."""
        dirty, self._dirty_nodes = self._dirty_nodes, set()
        if self._views is None:
            self._views = ViewBuilder(snapshot)
            dirty = {sub.node_id for sub in self._subscribers}
        for sub in list(self._subscribers):
            if sub.first or sub.node_id in dirty:
                self._push_to(sub, self._views)

    def _push_to(self, sub: _Subscriber, views: ViewBuilder) -> None:
        tasks = self._index.tasks_of(sub.node_id)
        view = views.view_for(sub.node_id)
        changed = [t for tid, t in tasks.items() if not same_for_agent(sub.sent.get(tid), t)]
        removed = [tid for tid in sub.sent if tid not in tasks]
        files = wanted_ids(tasks.values())
        if (
            not sub.first
            and not changed
            and not removed
            and _same(view, sub.view)
            and files == sub.files
        ):
            return
        msg = dispatcher_pb2.AssignmentsMessage(
            type=(
                dispatcher_pb2.AssignmentsMessage.COMPLETE
                if sub.first
                else dispatcher_pb2.AssignmentsMessage.INCREMENTAL
            ),
            tasks=[
                codec.to_proto(t, objects_pb2.Task())
                for t in (tasks.values() if sub.first else changed)
            ],
            removed=[] if sub.first else removed,
            view=codec.to_proto(view, objects_pb2.NetworkView()),
            files=[
                codec.to_proto(f, objects_pb2.FileData())
                for f in (
                    file_data(self.store.view(), *files, self._data_key) if any(files) else ()
                )
            ],
        )
        sub.files = files
        sub.sent = dict(tasks)
        sub.view = view
        sub.first = False
        sub.queue.put_nowait(msg)

    # ------------------------------------------------------------------ RPCs

    def _leading(self) -> bool:
        return self._is_leader() and self._running

    def _serving(self) -> bool:
        """Whether open sessions go on: leading, or holding them after stepping down."""
        return self._running or self._hold is not None

    async def _decided(self) -> bool:
        """Whether we lead, once a hold after stepping down is over: an agent's call waits
        for that rather than hear "not the leader" from a manager about to lead again."""
        if self._hold is not None:
            await self._hold.wait()
        return self._leading()

    def _redirect(self) -> dispatcher_pb2.NotLeader:
        """A follower's one answer on an agent stream: the leader's address, as a field."""
        return not_leader(self._leader_api_addr())

    def _node_of(self, context: Ctx) -> str:
        # Before anything else, a follower's redirect too: a removed node learns it is out
        # from whichever manager it asks.
        return calling_node(context, self.ca_pem, self.store.view(), "talk to the dispatcher")

    def _live_session(self, context: Ctx, node_id: str, session_id: str) -> _Session:
        """The node's session, refused at once if the node has been removed since it opened."""
        self._end_if_removed(context, node_id)
        return self._session(node_id, session_id)

    def _end_if_removed(self, context: Ctx, node_id: str) -> None:
        """Refuse a node removed while its streams were open; its other streams end too."""
        cluster = self.store.view().cluster()
        if cluster is not None and cluster.is_removed(node_id):
            self.reconnects.forget(node_id)
            dropped = self._sessions.pop(node_id, None)
            if dropped is not None:
                dropped.changed.set()
            raise refuse_removed(context, node_id)

    def check_session(self, node_id: str, session_id: str) -> None:
        """NotFound unless ``session_id`` is the node's live session (for the log broker)."""
        self._session(node_id, session_id)

    def _session(self, node_id: str, session_id: str) -> _Session:
        session = self._sessions.get(node_id)
        if session is None or session.session_id != session_id:
            raise NotFound("session invalid: open a new session")
        return session

    @streaming
    async def Session(self, request: Any, context: Ctx) -> AsyncIterator[Any]:
        node_id = self._node_of(context)
        if not await self._decided():
            yield dispatcher_pb2.SessionMessage(not_leader=self._redirect())
            return
        delay = self.admission.admit(time.monotonic())
        if delay is not None:
            # More sessions are registering than the leader commits in a moment: come back
            # later, when the ones ahead are done, instead of joining a queue that starves
            # the leader (and its Raft thread) of CPU.
            refusal = TryLater(delay)
            self._deferred[node_id] = time.monotonic() + delay
            context.set_trailing_metadata(refusal.trailers)
            raise refusal
        self._deferred.pop(node_id, None)
        desc = request.description
        previous = self._sessions.get(node_id)
        if previous is not None:
            previous.changed.set()
        session = _Session(new_id(), time.monotonic())
        self._sessions[node_id] = session
        self.reconnects.back(node_id, session.last_heartbeat)
        try:
            try:
                node = self.store.view().get(NODES, node_id)
                if node is None:
                    raise NotFound(f"node {node_id} is not part of this swarm (it was removed)")
                await self._registrations.register(
                    node_id,
                    {
                        "hostname": desc.hostname or node.hostname,
                        "addr": desc.addr or node.addr,
                        "state": NodeState.READY,
                        "engine_version": desc.engine_version or node.engine_version,
                        "resources": codec.from_proto(Resources, desc.resources),
                    },
                )
            finally:
                self.admission.released()
            # The node can beat only once it has the session's id: its grace starts now,
            # not when its registration joined the queue of a busy leader.
            session.last_heartbeat = time.monotonic()
            log.info("node %s (%s) opened a session", node_id, desc.hostname)
            sent: dispatcher_pb2.SessionMessage | None = None
            while self._serving() and self._sessions.get(node_id) is session:
                # Cleared first: a change announced while the message is sent wakes us again.
                session.changed.clear()
                # Woken by the node's removal too (an event of its node): it hears it at once.
                self._end_if_removed(context, node_id)
                message = self._session_message(node_id, session)
                # Sent again whenever it changes: a new manager, a new period, a new role
                # (promote/demote: the node then renews its certificate).
                if message != sent:
                    yield message
                    sent = message
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(session.changed.wait(), timeout=SESSION_POLL_S)
        finally:
            if self._serving() and self._sessions.get(node_id) is session:
                # The agent hung up (or gave up waiting for us): it is reconnecting, and
                # may wait its turn behind every other node that is (Reconnects).
                self.reconnects.hung_up(node_id, time.monotonic())
        self._end_if_removed(context, node_id)
        if not self._running:
            yield dispatcher_pb2.SessionMessage(not_leader=self._redirect())

    def _session_message(self, node_id: str, session: _Session) -> dispatcher_pb2.SessionMessage:
        snapshot = self.store.view()
        node = snapshot.get(NODES, node_id)
        return dispatcher_pb2.SessionMessage(
            session_id=session.session_id,
            node_id=node_id,
            managers=self._managers(snapshot),
            heartbeat_period_s=self._period(snapshot),
            role=str(node.role) if node is not None else "",
            root_ca=_roots(snapshot),
        )

    def _managers(self, snapshot: Snapshot) -> list[str]:
        # Every open session asks each second: compute it once per store change.
        if self._managers_at is None or self._managers_at[0] != snapshot.index:
            managers = [
                n.manager.api_addr
                for n in snapshot.all(NODES)
                if n.manager is not None and n.role == NodeRole.MANAGER
            ]
            self._managers_at = (snapshot.index, managers)
        return self._managers_at[1]

    @streaming
    async def Heartbeat(self, requests: AsyncIterator[Any], context: Ctx) -> AsyncIterator[Any]:
        node_id = self._node_of(context)
        if not await self._decided():
            yield dispatcher_pb2.HeartbeatResponse(not_leader=self._redirect())
            return
        async for request in requests:
            if not await self._decided():
                yield dispatcher_pb2.HeartbeatResponse(not_leader=self._redirect())
                return
            session = self._live_session(context, node_id, request.session_id)
            session.last_heartbeat = time.monotonic()
            yield dispatcher_pb2.HeartbeatResponse(period_s=self._period())

    @streaming
    async def UpdateTaskStatus(
        self, requests: AsyncIterator[Any], context: Ctx
    ) -> AsyncIterator[Any]:
        node_id = self._node_of(context)
        if not await self._decided():
            yield dispatcher_pb2.UpdateTaskStatusResponse(not_leader=self._redirect())
            return
        async for request in requests:
            if not await self._decided():
                yield dispatcher_pb2.UpdateTaskStatusResponse(not_leader=self._redirect())
                return
            self._live_session(context, node_id, request.session_id)
            await self._statuses.report(
                node_id,
                [(u.task_id, codec.from_proto(TaskStatus, u.status)) for u in request.updates],
            )
            yield dispatcher_pb2.UpdateTaskStatusResponse()

    @streaming
    async def Assignments(self, request: Any, context: Ctx) -> AsyncIterator[Any]:
        node_id = self._node_of(context)
        if not await self._decided():
            yield dispatcher_pb2.AssignmentsMessage(not_leader=self._redirect())
            return
        session = self._live_session(context, node_id, request.session_id)
        sub = _Subscriber(node_id, asyncio.Queue())
        self._subscribers.add(sub)
        self._dirty.set()
        waiters: set[asyncio.Task[Any]] = set()
        try:
            while self._serving() and self._sessions.get(node_id) is session:
                getter = asyncio.create_task(sub.queue.get())
                ended = asyncio.create_task(session.changed.wait())
                waiters = {getter, ended}
                done, _pending = await asyncio.wait(
                    waiters, return_when=asyncio.FIRST_COMPLETED, timeout=30
                )
                ended.cancel()
                if getter in done:
                    yield getter.result()
                else:
                    getter.cancel()
        finally:
            # The agent may hang up while we wait: the waiters must not outlive the call.
            for waiter in waiters:
                waiter.cancel()
            self._subscribers.discard(sub)
        self._end_if_removed(context, node_id)


def _roots(snapshot: Snapshot) -> str:
    cluster = snapshot.cluster()
    return rotation.trust_root(cluster) if cluster is not None else ""


def _mark_down(tx: Tx, *, node_ids: list[str]) -> None:
    for node_id in node_ids:
        node = tx.get(NODES, node_id)
        if node is not None and node.state != NodeState.DOWN:
            tx.replace(
                NODES,
                node_id,
                state=NodeState.DOWN,
                message="heartbeat failure",
                updated_at=now(),
            )


def _same(a: object, b: object) -> bool:
    return a is b or a == b
