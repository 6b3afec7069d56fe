"""The dispatcher flooded while Raft keeps its timers: three managers' RaftLogs in this
process on 127.0.0.1, the leader's dispatcher taking 300 nodes' registrations and 3,000
tasks' status reports (four each, ACCEPTED to RUNNING) all at once.

What must hold, by counts and order rather than by the clock: every report commits on every
manager; nobody calls an election (terms and leader unchanged); no tick of any manager
applies more than APPLY_ENTRIES_PER_TICK entries; the leader sends its appends (the
heartbeat, the commit index) in every tick that applied entries, so applying never keeps
them waiting; and a follower that was away catches up on hundreds of entries in bounded
steps without an election either.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from swarmpy.manager.dispatcher.dispatcher import Dispatcher
from swarmpy.manager.state.raft.log import RaftLog
from swarmpy.manager.state.raft.patches import APPLY_ENTRIES_PER_TICK, TickStats
from swarmpy.manager.state.store import NODES, TASKS, Store, Tx, write_chunked
from swarmpy.model import NodeState, Task, TaskState, TaskStatus
from tests.support.builders import node, service, task
from tests.support.poll import wait_for_async
from tests.support.raftcluster import raft_logs
from tests.support.raftpeer import raft_term

pytestmark = pytest.mark.fakeserver

PASSWORD = "flood-test-password"
NODES_N = 300
TASKS_PER_NODE = 10
FLOW = (TaskState.ACCEPTED, TaskState.PREPARING, TaskState.STARTING, TaskState.RUNNING)


def stats(raft: RaftLog) -> TickStats:
    tick_stats: TickStats = raft._running().tick_stats
    return tick_stats


def terms(addrs: list[str], logs: list[RaftLog]) -> list[int]:
    return [raft_term(a, raft.keys) for a, raft in zip(addrs, logs, strict=True)]


async def leader_of(logs: list[RaftLog]) -> RaftLog:
    return await wait_for_async(
        "a leader", lambda: next((r for r in logs if r.is_leader()), None), 30
    )


def all_running(raft: RaftLog) -> bool:
    # The manager's own state: a second Store over a log would take its listener.
    tasks = raft.state.snapshot().all(TASKS)
    return len(tasks) == NODES_N * TASKS_PER_NODE and all(
        t.status.state == TaskState.RUNNING for t in tasks
    )


def test_a_flooded_dispatcher_leaves_the_raft_timers_alone(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with raft_logs(tmp_path, PASSWORD, commit_timeout_s=30) as logs:
            addrs = [raft.self_addr for raft in logs]
            leader = await leader_of(logs)
            store = Store(leader)
            svc = service()
            nodes = [node(f"sim{i:04d}", state=NodeState.DOWN) for i in range(NODES_N)]
            tasks = [
                task(svc, slot=i * TASKS_PER_NODE + j, state=TaskState.ASSIGNED, node_id=n.id)
                for i, n in enumerate(nodes)
                for j in range(TASKS_PER_NODE)
            ]
            await write_chunked(store, nodes, lambda tx, n: tx.create(NODES, n))
            await write_chunked(store, tasks, lambda tx, t: tx.create(TASKS, t), parallel=4)
            before_terms = terms(addrs, logs)
            dispatcher = Dispatcher(store, "", leader.is_leader, lambda: None)
            for raft in logs:
                stats(raft).recent.clear()

            # The flood: every node registers and reports every state of every task of its
            # own at once, as 300 agents reconnecting after a leader change would.
            async def agent(n: Any, mine: list[Task]) -> None:
                await dispatcher._registrations.register(n.id, {"state": NodeState.READY})
                for state in FLOW:
                    await dispatcher._statuses.report(
                        n.id, [(t.id, TaskStatus(state, 1.0)) for t in mine]
                    )

            by_node: dict[str, list[Task]] = {}
            for t in tasks:
                by_node.setdefault(t.node_id, []).append(t)
            await asyncio.gather(*(agent(n, by_node[n.id]) for n in nodes))

            # Every report committed, and every manager applied it.
            followers = [r for r in logs if r is not leader]
            await wait_for_async(
                "all tasks RUNNING on every manager", lambda: all(map(all_running, logs)), 30
            )
            assert {n.state for n in store.view().all(NODES)} == {NodeState.READY}
            # Reports were coalesced: far fewer batches than the 1,200 report calls.
            assert dispatcher._statuses.batches < NODES_N * len(FLOW) / 4

            # No election anywhere, the leader unchanged.
            assert terms(addrs, logs) == before_terms
            assert leader.is_leader()
            assert not any(r.is_leader() for r in followers)

            # Applying came in bounded steps: between two reads of the network (and two
            # checks of the heartbeat and election deadlines), a tick of any manager applied
            # APPLY_ENTRIES_PER_TICK entries at most.
            for raft in logs:
                assert stats(raft).max_applied <= APPLY_ENTRIES_PER_TICK
            applied = sum(applied for applied, _ in stats(leader).recent)
            assert applied > 0, "the leader applied nothing during the flood"

    asyncio.run(asyncio.wait_for(scenario(), 120))


def test_a_follower_catching_up_applies_in_bounded_steps(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with raft_logs(tmp_path, PASSWORD, commit_timeout_s=30) as logs:
            addrs = [raft.self_addr for raft in logs]
            leader = await leader_of(logs)
            store = Store(leader)
            away = next(r for r in logs if r is not leader)
            index = logs.index(away)
            await away.stop()
            svc = service()
            # 640 entries written while it was away (one task per entry).
            tasks = [task(svc, slot=i, state=TaskState.ASSIGNED) for i in range(640)]
            await write_chunked(store, tasks, lambda tx, t: tx.create(TASKS, t), chunk=1)
            before = raft_term(addrs[logs.index(leader)], leader.keys)

            back = RaftLog(addrs[index], addrs, tmp_path / f"m{index}", PASSWORD, timeout=30)
            back.start()
            logs[index] = back
            # A tick's applied count joins stats().recent as the next tick starts: the last
            # step is only counted then, after the tasks are already in the store.
            await wait_for_async(
                "the follower caught up",
                lambda: (
                    len(back.state.snapshot().all(TASKS)) == len(tasks)
                    and sum(applied for applied, _ in stats(back).recent) >= len(tasks)
                ),
                30,
            )
            steps = [applied for applied, _ in stats(back).recent if applied]
            assert sum(steps) >= len(tasks)
            assert max(steps) == APPLY_ENTRIES_PER_TICK  # a backlog, taken a bounded step a tick
            assert raft_term(addrs[logs.index(leader)], leader.keys) == before
            assert leader.is_leader()

            def ok(tx: Tx) -> None:
                t = tx.get(TASKS, tasks[0].id)
                assert t is not None
                tx.put(TASKS, dataclasses.replace(t, desired_state=TaskState.SHUTDOWN))

            await store.update(ok)  # the three still commit together

    asyncio.run(asyncio.wait_for(scenario(), 120))
