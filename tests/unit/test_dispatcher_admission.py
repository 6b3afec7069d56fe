"""Dispatcher backpressure without gRPC: session admission and its retry delays, batches
written one at a time, and node liveness that does not blame nodes for a stalled leader."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from swarmpy.api import dispatcher_pb2
from swarmpy.ca import certificates as ca
from swarmpy.manager.dispatcher import dispatcher as dispatcher_module
from swarmpy.manager.dispatcher.admission import (
    DEFAULT_RATE,
    MAX_RETRY_S,
    MIN_RETRY_S,
    Admission,
    MassSilence,
    Reconnects,
    StallClock,
)
from swarmpy.manager.dispatcher.dispatcher import Dispatcher, _Session
from swarmpy.manager.dispatcher.statusbatch import RegistrationBatcher, StatusBatcher
from swarmpy.manager.state.store import (
    CLUSTERS,
    NODES,
    TASKS,
    ApplyResult,
    LocalLog,
    Op,
    Store,
    Tx,
    Watch,
)
from swarmpy.model import Cluster, NodeRole, NodeState, TaskState, TaskStatus
from swarmpy.protocol import HEARTBEAT_MISSES, retry_after
from tests.support.builders import node, node_credentials, service, task
from tests.support.poll import wait_for_async


def test_sessions_beyond_the_limit_are_told_to_come_back_in_order() -> None:
    admission = Admission(max_pending=3, rng=random.Random(1), rate=10.0)
    assert [admission.admit(0.0) for _ in range(3)] == [None, None, None]
    delays = [admission.admit(0.0) for _ in range(20)]
    assert all(d is not None and MIN_RETRY_S <= d <= MAX_RETRY_S for d in delays)
    waits = [d for d in delays if d is not None]
    # Later arrivals are sent further out: the backlog ahead of them grows.
    assert waits[-1] > waits[0]
    assert admission.refused == 20
    # A registration done makes room for exactly one more.
    admission.released()
    assert admission.admit(0.0) is None
    assert admission.admit(0.0) is not None


def test_the_retry_delay_follows_the_measured_commit_rate() -> None:
    slow = Admission(max_pending=1, rng=random.Random(2), rate=100.0)
    fast = Admission(max_pending=1, rng=random.Random(2), rate=100.0)
    for admission, took in ((slow, 10.0), (fast, 0.01)):
        for _ in range(10):
            admission.registered(50, took)  # 5/s against 5,000/s
        admission.admit(0.0)
        for _ in range(30):
            admission.admit(0.0)
    slow_wait, fast_wait = slow.admit(0.0), fast.admit(0.0)
    assert slow_wait is not None
    assert fast_wait is not None
    assert slow_wait > fast_wait


def test_promised_comebacks_expire() -> None:
    admission = Admission(max_pending=0, rng=random.Random(3), rate=1.0)
    first = admission.admit(0.0)
    assert first is not None
    # Long after everyone told to come back has come back, the queue is empty again.
    assert admission.admit(1000.0) == MIN_RETRY_S


def test_a_node_still_away_is_owed_what_the_slowest_recent_return_took() -> None:
    reconnects = Reconnects(cap_s=20.0)
    for i in range(4):
        reconnects.hung_up(f"n{i}", 100.0)
    # Nobody back yet: nothing is known about the leader's pace.
    assert reconnects.allowance(100.0, window_s=15.0) == 0.0
    reconnects.back("n0", 101.0)
    reconnects.back("n1", 108.0)
    assert reconnects.allowance(108.0, window_s=15.0) == 8.0
    assert set(reconnects.away) == {"n2", "n3"}
    # A node given up on is no longer waited for; a slow return is bounded by the cap.
    reconnects.forget("n2")
    reconnects.back("n3", 150.0)
    assert reconnects.allowance(150.0, window_s=15.0) == 20.0
    # Once the window has passed without a slow return, a lone node that hangs up is
    # owed nothing: a dead node is found as fast as before.
    assert reconnects.allowance(200.0, window_s=15.0) == 0.0
    reconnects.hung_up("n9", 200.0)
    reconnects.back("n0", 200.0)  # never hung up: not a return
    assert reconnects.allowance(200.0, window_s=15.0) == 0.0


def _ids(count: int, first: int = 0) -> list[str]:
    return [f"n{i}" for i in range(first, first + count)]


def test_a_mass_of_late_nodes_is_held_back_for_a_while_a_few_are_not() -> None:
    silence = MassSilence(min_nodes=50, share=0.1, hold_s=60.0, window_s=60.0)
    # A few late nodes in a big swarm, or any share of a small one: judged at once.
    assert not silence.holds(_ids(10), 2500, 0.0)
    assert not silence.holds(_ids(3), 3, 100.0)
    # A tenth of the swarm at once: held, from when the mass began, for hold_s.
    assert silence.holds(_ids(400), 2500, 100.0)
    assert silence.holds(_ids(2500), 2500, 159.0)
    assert not silence.holds(_ids(2500), 2500, 160.0)
    # All heard again: the hold is over, and the next mass gets its own.
    assert not silence.holds([], 2500, 165.0)
    assert silence.holds(_ids(300, first=3000), 2500, 230.0)
    # Once the earlier nodes are out of the window, a few late ones are judged at once.
    assert not silence.holds(_ids(5, first=9000), 2500, 400.0)


def test_a_mass_falling_late_in_small_batches_is_held_once_it_adds_up() -> None:
    """A new leader's nodes running out of their reconnection allowance a few dozen per
    check: each batch under a tenth of the swarm, together a mass (1,301 live nodes were
    marked down this way, batch by batch, in a 2,500-node run)."""
    silence = MassSilence(min_nodes=50, share=0.1, hold_s=60.0, window_s=60.0)
    marked_down = 0
    for check in range(20):
        # 40 new nodes late at each check, one second apart; the batches before the mass
        # was seen were marked down (they leave the late list but still count).
        batch = _ids(40, first=40 * check)
        if not silence.holds(batch, 2500, float(check)):
            marked_down += len(batch)
    # 250 is a tenth of 2,500: the first six batches (240) went down, then it held.
    assert marked_down == 240
    assert silence.fallen_late == 800
    # Batches spread wider than the window are nodes failing one by one: judged at once.
    slow = MassSilence(min_nodes=50, share=0.1, hold_s=60.0, window_s=60.0)
    assert not any(slow.holds(_ids(40, first=40 * i), 2500, 61.0 * i) for i in range(20))


def test_by_default_a_hundred_of_2500_nodes_late_at_once_are_a_mass() -> None:
    """The first check of a mass reconnect found 100 of 2,500 nodes late: under a tenth of
    the swarm, they were marked down (116 live nodes, before the rest made it a mass)."""
    assert MassSilence().holds(_ids(100), 2500, 0.0)
    # Fewer than 50 are judged at once, in any swarm; and 2% of a bigger one is needed.
    assert not MassSilence().holds(_ids(49), 2500, 0.0)
    assert not MassSilence().holds(_ids(100), 10_000, 0.0)


def test_the_first_few_late_nodes_of_a_mass_reconnection_are_held_too() -> None:
    """All 2,500 agents reconnecting at once: 7 nodes back already fell late 3 s before 267
    did at once, and were marked down, being fewer than 50. Nodes a reconnection touched
    (away now, or back within the window) count towards the mass."""
    reconnects = Reconnects()
    for i in range(300):
        reconnects.hung_up(f"n{i}", 0.0)
    for i in range(250):
        reconnects.back(f"n{i}", 20.0 + i * 0.01)
    assert len(reconnects.disturbed(30.0, window_s=60.0)) == 300
    assert MassSilence().holds(_ids(7), 2500, 30.0, reconnects.disturbed(30.0, 60.0))
    # Once the returns are older than the window and nobody is away, 7 are judged at once.
    for i in range(250, 300):
        reconnects.forget(f"n{i}")
    assert not reconnects.disturbed(100.0, window_s=60.0)
    assert not MassSilence().holds(_ids(7), 2500, 100.0, reconnects.disturbed(100.0, 60.0))


def test_only_a_late_wakeup_past_the_slack_is_a_stall() -> None:
    clock = StallClock(slack_s=0.5)
    assert clock.woke(1.0, 1.2) == 0.0
    assert clock.woke(1.0, 4.0) == 3.0
    assert clock.stalled_s == 3.0


class GatedLog(LocalLog):
    """Commits only when the test opens the gate; counts proposals."""

    def __init__(self) -> None:
        super().__init__()
        self.proposals = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def propose(self, ops: tuple[Op, ...]) -> ApplyResult:
        self.proposals += 1
        await self.gate.wait()
        return await super().propose(ops)


def test_reports_arriving_while_a_batch_commits_coalesce_into_the_next() -> None:
    async def main() -> None:
        replicated = GatedLog()
        store = Store(replicated)
        svc = service()
        one = task(svc, slot=1, state=TaskState.ASSIGNED, node_id="n1")
        await store.update(lambda tx: tx.create(TASKS, one))
        batcher = StatusBatcher(store, window_s=0.0)
        replicated.gate.clear()
        before = replicated.proposals
        first = asyncio.create_task(
            batcher.report("n1", [(one.id, TaskStatus(TaskState.ACCEPTED, 1.0))])
        )
        await wait_for_async("the first batch in flight", lambda: replicated.proposals > before)
        # Forty reports of the task while the first write waits for its commit.
        states = [TaskState.PREPARING, TaskState.READY, TaskState.STARTING, TaskState.RUNNING]
        later = [
            asyncio.create_task(batcher.report("n1", [(one.id, TaskStatus(s, 2.0 + i))]))
            for i in range(10)
            for s in states
        ]
        await asyncio.sleep(0)
        assert replicated.proposals - before == 1  # nothing else was proposed meanwhile
        replicated.gate.set()
        await asyncio.gather(first, *later)
        assert replicated.proposals - before == 2
        assert batcher.batches == 2
        written = store.view().get(TASKS, one.id)
        assert written is not None
        assert written.status.state == TaskState.RUNNING

    asyncio.run(main())


def test_registrations_are_batched_and_a_removed_node_is_refused() -> None:
    async def main() -> None:
        replicated = GatedLog()
        store = Store(replicated)
        nodes = [node(f"n{i}", state=NodeState.DOWN) for i in range(100)]

        def create(tx: Tx) -> None:
            for n in nodes:
                tx.create(NODES, n)

        await store.update(create)
        before = replicated.proposals
        batcher = RegistrationBatcher(store, window_s=0.01)
        ready = {"state": NodeState.READY}
        await asyncio.gather(*(batcher.register(n.id, ready) for n in nodes))
        assert replicated.proposals - before == 2  # 100 nodes, 64 per entry
        assert {n.state for n in store.view().all(NODES)} == {NodeState.READY}
        # Reconnecting unchanged nodes write nothing; a node the swarm no longer has is told.
        results = await asyncio.gather(
            batcher.register(nodes[0].id, ready),
            batcher.register("gone", ready),
            return_exceptions=True,
        )
        assert results[0] is None
        assert "not part of this swarm" in str(results[1])
        assert replicated.proposals - before == 2

    asyncio.run(main())


async def downs_until(watch: Watch, expected: set[str]) -> set[str]:
    """The nodes the store's events showed going down, read until ``expected`` have."""
    downs: set[str] = set()
    while not expected <= downs:
        event = await asyncio.wait_for(watch.get(), timeout=60)
        if event.obj.state == NodeState.DOWN:
            downs.add(event.obj.id)
    return downs | {e.obj.id for e in watch.pending() if e.obj.state == NodeState.DOWN}


def is_down(store: Store, node_id: str) -> bool:
    found = store.view().get(NODES, node_id)
    return found is not None and found.state == NodeState.DOWN


def test_a_stalled_leader_does_not_mark_beating_nodes_down() -> None:
    async def main() -> None:
        store = Store(LocalLog())
        alive, silent = node("alive"), node("silent")

        def create(tx: Tx) -> None:
            tx.create(CLUSTERS, Cluster(id="c1", heartbeat_period_s=0.2))
            tx.create(NODES, alive)
            tx.create(NODES, silent)

        await store.update(create)
        dispatcher = Dispatcher(store, "", lambda: True, lambda: None)
        runner = asyncio.create_task(dispatcher.run())
        await asyncio.sleep(0)
        session = _Session("s1", time.monotonic())
        dispatcher._sessions[alive.id] = session
        beating = True

        async def beat() -> None:
            while beating:
                session.last_heartbeat = time.monotonic()
                await asyncio.sleep(0.05)

        beats = asyncio.create_task(beat())
        try:
            await asyncio.sleep(0.1)
            # The leader's loop blocked for ten heartbeat periods: the node's beats were
            # sent, the leader just could not read them.
            time.sleep(2.0)  # noqa: ASYNC251 - the stall under test
            # The silent node is marked down (it never had a session)...
            await wait_for_async(
                "the silent node down",
                lambda: is_down(store, silent.id),
                timeout=10,
            )
            assert dispatcher.stalls.stalled_s > 1.0
            # ...but the node whose beats came in all along is not.
            still = store.view().get(NODES, alive.id)
            assert still is not None
            assert still.state == NodeState.READY
            # Once it really stops beating, it is.
            beating = False
            await wait_for_async(
                "the node that stopped beating down",
                lambda: is_down(store, alive.id),
                timeout=10,
            )
        finally:
            beating = False
            beats.cancel()
            await dispatcher.stop()
            runner.cancel()

    asyncio.run(main())


class _Refused(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code


class _Call:
    """The servicer context of a worker's call, keeping what the leader answers with."""

    def __init__(self, cert_pem: str) -> None:
        self._cert = cert_pem.encode()
        self.trailers: tuple[tuple[str, str], ...] = ()

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_pem_cert": [self._cert]}

    def set_trailing_metadata(self, trailers: tuple[tuple[str, str], ...]) -> None:
        self.trailers = trailers

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise _Refused(code, details)


def test_a_leader_at_capacity_refuses_a_session_with_the_delay_to_obey() -> None:
    async def main() -> Any:
        root = ca.create_root_ca()
        store = Store(LocalLog())
        await store.update(lambda tx: tx.create(NODES, node("w1", id="id-w1")))
        leader = Dispatcher(store, root.cert_pem, lambda: True, lambda: None)
        leader._running = True
        leader.admission.max_pending = 0  # every session beyond none: refused
        call = _Call(node_credentials(root, "id-w1", NodeRole.WORKER).cert_pem)
        context: Any = call
        with pytest.raises(_Refused) as refused:
            await anext(leader.Session(dispatcher_pb2.SessionRequest(), context))
        return refused.value, call.trailers, leader

    refusal, trailers, leader = asyncio.run(main())
    assert refusal.code == grpc.StatusCode.UNAVAILABLE
    assert "try again in" in str(refusal)
    # What the agent reads from the call's error: the delay the leader asked for.
    error = grpc.aio.AioRpcError(
        refusal.code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailers), str(refusal), None
    )
    delay = retry_after(error)
    assert delay is not None
    assert MIN_RETRY_S <= delay <= MAX_RETRY_S
    assert leader._sessions == {}  # no session was opened
    other = grpc.aio.AioRpcError(
        refusal.code, grpc.aio.Metadata(), grpc.aio.Metadata(), "busy", None
    )
    assert retry_after(other) is None


@pytest.mark.parametrize("had_session", [False, True], ids=["first-session", "reconnecting"])
def test_a_node_told_to_come_back_later_is_not_down_before_then(had_session: bool) -> None:
    async def main() -> tuple[float, float, float]:
        root = ca.create_root_ca()
        store = Store(LocalLog())
        told = node("w1", id="id-w1")

        def create(tx: Tx) -> None:
            tx.create(CLUSTERS, Cluster(id="c1", heartbeat_period_s=0.2))
            tx.create(NODES, told)

        await store.update(create)
        leader = Dispatcher(store, root.cert_pem, lambda: True, lambda: None)
        runner = asyncio.create_task(leader.run())
        try:
            await asyncio.sleep(0)
            call: Any = _Call(node_credentials(root, told.id, NodeRole.WORKER).cert_pem)
            if had_session:
                # Its agent restarted: the session it hung up is still the leader's last
                # word on it, and must not outweigh the time the leader gave it.
                # The servicer's stream is an async generator: closing it is the hang-up.
                earlier: Any = leader.Session(dispatcher_pb2.SessionRequest(), call)
                await anext(earlier)
                await earlier.aclose()
            leader.admission.max_pending = 0
            refused_at = time.monotonic()
            with pytest.raises(_Refused):
                await anext(leader.Session(dispatcher_pb2.SessionRequest(), call))
            error = grpc.aio.AioRpcError(
                grpc.StatusCode.UNAVAILABLE,
                grpc.aio.Metadata(),
                grpc.aio.Metadata(*call.trailers),
                "busy",
                None,
            )
            delay = retry_after(error)
            assert delay is not None
            # It never comes back: down in the end, but not within the delay it was given.
            await wait_for_async("the node down", lambda: is_down(store, told.id), timeout=60)
            return refused_at, time.monotonic(), delay
        finally:
            await leader.stop()
            runner.cancel()

    refused_at, down_at, delay = asyncio.run(main())
    assert down_at - refused_at >= delay


def test_a_new_leader_gives_every_node_its_turn_to_reconnect() -> None:
    async def main() -> tuple[float, float]:
        store = Store(LocalLog())
        nodes = [node(f"n{i}") for i in range(20)]

        def create(tx: Tx) -> None:
            tx.create(CLUSTERS, Cluster(id="c1", heartbeat_period_s=0.2))
            for n in nodes:
                tx.create(NODES, n)

        await store.update(create)
        leader = Dispatcher(store, "", lambda: True, lambda: None)
        leader.admission.rate = 20.0  # registrations per second: 20 nodes take 1 s
        before = time.monotonic()
        runner = asyncio.create_task(leader.run())
        try:
            # None of them comes back: all down in the end, none before its turn.
            await wait_for_async(
                "every node down", lambda: all(is_down(store, n.id) for n in nodes), timeout=60
            )
            return before, time.monotonic()
        finally:
            await leader.stop()
            runner.cancel()

    before, down_at = asyncio.run(main())
    # Three periods of grace, after the second the whole swarm takes to register.
    assert down_at - before >= 1.0 + 3 * 0.2


@pytest.mark.parametrize("leader_changed", [False, True], ids=["same-leader", "new-leader"])
def test_nodes_reconnecting_all_at_once_are_not_down_while_they_wait_their_turn(
    leader_changed: bool,
) -> None:
    """Every agent reconnects at once (a network blip or a restart of the agents: they hang
    up; a change of leader: they come over) and the leader takes the new sessions in one
    after another, the last long after three heartbeat periods since it was last heard:
    none of them was silent by its own fault. A node that never comes back is still
    marked down once the others are in."""
    period = 0.2

    async def main() -> tuple[set[str], float]:
        root = ca.create_root_ca()
        store = Store(LocalLog())
        members = [node(f"n{i:02d}") for i in range(40)]
        certs = {n.id: node_credentials(root, n.id, NodeRole.WORKER).cert_pem for n in members}

        def create(tx: Tx) -> None:
            tx.create(CLUSTERS, Cluster(id="c1", heartbeat_period_s=period))
            for n in members:
                tx.create(NODES, n)

        await store.update(create)
        leader = Dispatcher(store, root.cert_pem, lambda: True, lambda: None)
        # As measured on a leader whose registrations are quick to commit: the swarm's
        # registrations are not what keeps the nodes waiting here.
        leader.admission.rate = 10_000.0
        watch = store.watch(NODES)
        runner = asyncio.create_task(leader.run())
        beating: set[str] = set()

        async def beat() -> None:
            # The agents with a session beat well within every period.
            while True:
                for node_id in beating:
                    session = leader._sessions.get(node_id)
                    if session is not None:
                        session.last_heartbeat = time.monotonic()
                await asyncio.sleep(period / 4)

        async def open_session(node_id: str) -> Any:
            call: Any = _Call(certs[node_id])
            stream: Any = leader.Session(dispatcher_pb2.SessionRequest(), call)
            await anext(stream)
            beating.add(node_id)
            return stream

        beats = asyncio.create_task(beat())
        streams: list[Any] = []
        try:
            await asyncio.sleep(0)
            if not leader_changed:
                streams = list(await asyncio.gather(*(open_session(n.id) for n in members)))
                # All hang up at once...
                beating.clear()
                for stream in streams:
                    await stream.aclose()
            away_from = time.monotonic()
            # ...and come back one at a time (each registration waits for its batch).
            silent, *others = members
            streams = [await open_session(n.id) for n in others]
            took = time.monotonic() - away_from
            # Until the node that never came back is down.
            return await downs_until(watch, {silent.id}), took
        finally:
            watch.close()
            beats.cancel()
            for stream in streams:
                await stream.aclose()
            await leader.stop()
            runner.cancel()

    downs, took = asyncio.run(main())
    # The premise: the last node came back well after its grace had run out.
    assert took > 2 * HEARTBEAT_MISSES * period
    assert downs == {"id-n00"}


def test_registrations_that_write_nothing_do_not_set_the_commit_rate() -> None:
    async def main() -> float:
        store = Store(LocalLog())
        nodes = [node(f"n{i}") for i in range(200)]

        def create(tx: Tx) -> None:
            for n in nodes:
                tx.create(NODES, n)

        await store.update(create)
        admission = Admission()
        batcher = RegistrationBatcher(store, window_s=0.0)
        batcher.on_registered = admission.registered
        # Every node reconnecting unchanged: nothing to commit, so nothing measured.
        await asyncio.gather(*(batcher.register(n.id, {"state": NodeState.READY}) for n in nodes))
        return admission.rate

    assert asyncio.run(main()) == DEFAULT_RATE


@pytest.mark.parametrize("heard_again", [True, False], ids=["heard-again", "gone"])
def test_a_mass_of_nodes_unheard_at_once_is_not_marked_down_at_once(heard_again: bool) -> None:
    """The leader reads no heartbeat of 60 nodes for three grace periods (its loop or its
    gRPC queues behind, a network blip) while each would have been marked down after one:
    once heard again, none was down. Nodes still unheard after the hold are down."""
    period = 0.2
    # Long past the silence when they are heard again; short when they never are.
    hold_s = 4.0 if heard_again else 1.0

    async def main() -> set[str]:
        store = Store(LocalLog())
        members = [node(f"n{i:02d}") for i in range(60)]

        def create(tx: Tx) -> None:
            tx.create(CLUSTERS, Cluster(id="c1", heartbeat_period_s=period))
            for n in members:
                tx.create(NODES, n)

        await store.update(create)
        leader = Dispatcher(store, "", lambda: True, lambda: None)
        leader.mass_silence.hold_s = hold_s
        watch = store.watch(NODES)
        runner = asyncio.create_task(leader.run())
        sessions = {n.id: _Session(f"s-{n.id}", time.monotonic()) for n in members}
        leader._sessions.update(sessions)
        read = True

        async def beat() -> None:
            while True:
                if read:
                    for session in sessions.values():
                        session.last_heartbeat = time.monotonic()
                await asyncio.sleep(period / 4)

        beats = asyncio.create_task(beat())
        try:
            await asyncio.sleep(period)
            read = False
            # Unheard for three times their grace (the premise, not a wait for a result).
            await asyncio.sleep(3 * HEARTBEAT_MISSES * period)
            if heard_again:
                read = True
                # Another grace period heard: no check in it may have marked them down.
                await asyncio.sleep(2 * HEARTBEAT_MISSES * period)
                return await downs_until(watch, set())
            return await downs_until(watch, {n.id for n in members})
        finally:
            watch.close()
            beats.cancel()
            await leader.stop()
            runner.cancel()

    downs = asyncio.run(main())
    assert downs == (set() if heard_again else {f"id-n{i:02d}" for i in range(60)})


def test_a_node_down_before_the_leader_changed_is_not_waited_for_as_reconnecting() -> None:
    async def main() -> set[str]:
        store = Store(LocalLog())

        def create(tx: Tx) -> None:
            tx.create(CLUSTERS, Cluster(id="c1", heartbeat_period_s=0.2))
            tx.create(NODES, node("up"))
            tx.create(NODES, node("gone", state=NodeState.DOWN))

        await store.update(create)
        leader = Dispatcher(store, "", lambda: True, lambda: None)
        runner = asyncio.create_task(leader.run())
        try:
            await asyncio.sleep(0)
            # Its return (whenever) would otherwise read as the leader taking that long.
            return set(leader.reconnects.away)
        finally:
            await leader.stop()
            runner.cancel()

    assert asyncio.run(main()) == {"id-up"}


@pytest.mark.parametrize("then", ["leads-again", "another-leads", "nobody-leads"])
def test_a_manager_that_steps_down_holds_its_sessions_until_leadership_is_decided(
    then: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatcher_module, "LEADERSHIP_HOLD_S", 0.5)

    async def main() -> tuple[str, Any, Any, dict[str, _Session]]:
        root = ca.create_root_ca()
        store = Store(LocalLog())
        await store.update(lambda tx: tx.create(NODES, node("w1", id="id-w1")))
        raft: dict[str, Any] = {"leader": True, "other": None}
        manager = Dispatcher(store, root.cert_pem, lambda: raft["leader"], lambda: raft["other"])
        runner = asyncio.create_task(manager.run())
        call: Any = _Call(node_credentials(root, "id-w1", NodeRole.WORKER).cert_pem)
        # The servicer's streams are async generators: closing one is the agent hanging up.
        session: Any = manager.Session(dispatcher_pb2.SessionRequest(), call)
        hung_up = asyncio.Event()

        async def beats(session_id: str) -> AsyncIterator[dispatcher_pb2.HeartbeatRequest]:
            yield dispatcher_pb2.HeartbeatRequest(session_id=session_id)
            await hung_up.wait()

        heartbeat: Any = None

        async def next_of(stream: Any) -> Any:
            return await anext(stream)

        try:
            await wait_for_async("the dispatcher leading", lambda: manager._tasks or None)
            opened = await anext(session)
            assert opened.session_id
            # The Raft tick stalled: it stepped down, and nobody leads for a moment.
            raft["leader"] = False
            manager.step_down()
            await runner
            heartbeat = manager.Heartbeat(beats(opened.session_id), call)
            answer = asyncio.create_task(next_of(heartbeat))
            following = asyncio.create_task(next_of(session))
            await asyncio.sleep(0.2)  # the premise: a moment without a leader
            assert not answer.done()  # no answer, no redirect
            assert not following.done()
            if then == "leads-again":
                raft["leader"] = True
                runner = asyncio.create_task(manager.run())
            elif then == "another-leads":
                raft["other"] = "10.0.0.2:2377"
            beat = await asyncio.wait_for(answer, timeout=10)
            if then == "leads-again":
                assert not following.done()  # the session goes on
                sessions = dict(manager._sessions)
                following.cancel()  # the agent hangs up
                with contextlib.suppress(asyncio.CancelledError):
                    await following
                return opened.session_id, beat, None, sessions
            ended = await asyncio.wait_for(following, timeout=10)
            return opened.session_id, beat, ended, dict(manager._sessions)
        finally:
            hung_up.set()
            if heartbeat is not None:
                await heartbeat.aclose()
            await session.aclose()
            await manager.stop()
            runner.cancel()

    session_id, beat, ended, sessions = asyncio.run(main())
    if then == "leads-again":
        assert not beat.HasField("not_leader")
        assert beat.period_s > 0
        assert sessions["id-w1"].session_id == session_id
        return
    assert sessions == {}
    assert beat.HasField("not_leader")
    assert ended.HasField("not_leader")
    leader = "10.0.0.2:2377" if then == "another-leads" else ""
    assert beat.not_leader.leader_addr == ended.not_leader.leader_addr == leader
