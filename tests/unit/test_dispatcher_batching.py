"""The dispatcher's bookkeeping without gRPC: which nodes to push, and status report batches."""

from __future__ import annotations

import asyncio
import dataclasses

from swarmpy.manager.dispatcher.assignments import AssignmentIndex, changes_views, same_for_agent
from swarmpy.manager.dispatcher.statusbatch import StatusBatcher, newer_statuses
from swarmpy.manager.state.store import (
    NODES,
    SERVICES,
    TASKS,
    ApplyResult,
    Event,
    LocalLog,
    Op,
    Store,
    Tx,
)
from swarmpy.model import NetworkAttachment, Task, TaskState, TaskStatus
from tests.support.builders import service, task

SVC = service()


def _status(t: Task, state: TaskState) -> Task:
    return dataclasses.replace(t, status=TaskStatus(state, 1.0))


def test_a_status_change_is_nothing_new_for_the_agent() -> None:
    sent = task(SVC, state=TaskState.ASSIGNED, node_id="n1")
    assert same_for_agent(sent, _status(sent, TaskState.RUNNING))
    assert not same_for_agent(sent, dataclasses.replace(sent, desired_state=TaskState.SHUTDOWN))
    assert not same_for_agent(None, sent)


def test_index_follows_placement_and_names_the_nodes_touched() -> None:
    pending = task(SVC, state=TaskState.PENDING)
    index = AssignmentIndex([pending])
    assert index.by_node == {}
    assigned = dataclasses.replace(_status(pending, TaskState.ASSIGNED), node_id="n1")
    assert index.apply(Event("update", TASKS, assigned, pending)) == {"n1"}
    assert index.tasks_of("n1") == {assigned.id: assigned}
    moved = dataclasses.replace(assigned, node_id="n2")
    assert index.apply(Event("update", TASKS, moved, assigned)) == {"n1", "n2"}
    assert index.tasks_of("n1") == {}
    assert index.apply(Event("delete", TASKS, moved)) == {"n2"}
    assert index.tasks_of("n2") == {}
    assert index.apply(Event("update", NODES, object())) == set()


def test_only_networked_tasks_and_network_tables_change_views() -> None:
    plain = task(SVC, state=TaskState.RUNNING, node_id="n1")
    attached = dataclasses.replace(plain, networks=(NetworkAttachment(network_id="net"),))
    assert not changes_views(Event("update", TASKS, plain, plain))
    assert changes_views(Event("update", TASKS, attached, attached))
    assert changes_views(Event("update", TASKS, plain, attached))  # detached
    assert changes_views(Event("create", SERVICES, SVC))


def test_newer_statuses_keep_forward_moves_of_the_reporting_nodes_own_tasks() -> None:
    mine = task(SVC, state=TaskState.RUNNING, node_id="n1")
    theirs = task(SVC, state=TaskState.ASSIGNED, node_id="n2")
    tasks = {mine.id: mine, theirs.id: theirs}
    reports = [
        ("n1", mine.id, TaskStatus(TaskState.PREPARING, 2.0)),  # backwards: dropped
        ("n1", theirs.id, TaskStatus(TaskState.RUNNING, 2.0)),  # not n1's task: dropped
        ("n2", theirs.id, TaskStatus(TaskState.PREPARING, 2.0)),
        ("n2", theirs.id, TaskStatus(TaskState.RUNNING, 3.0)),  # the latest wins
    ]
    (written,) = newer_statuses(tasks, reports)
    assert written.id == theirs.id
    assert written.status == TaskStatus(TaskState.RUNNING, 3.0)


class CountingLog(LocalLog):
    proposals = 0

    async def propose(self, ops: tuple[Op, ...]) -> ApplyResult:
        self.proposals += 1
        return await super().propose(ops)


def test_reports_of_many_nodes_within_the_window_are_one_write() -> None:
    async def main() -> None:
        replicated = CountingLog()
        store = Store(replicated)
        tasks = [task(SVC, slot=i, state=TaskState.ASSIGNED, node_id=f"n{i}") for i in range(20)]

        def create(tx: Tx) -> None:
            for t in tasks:
                tx.create(TASKS, t)

        await store.update(create)
        before = replicated.proposals
        batcher = StatusBatcher(store, window_s=0.02)
        await asyncio.gather(
            *(
                batcher.report(t.node_id, [(t.id, TaskStatus(TaskState.RUNNING, 5.0))])
                for t in tasks
            )
        )
        assert replicated.proposals - before == 1
        states = {t.status.state for t in store.view().all(TASKS)}
        assert states == {TaskState.RUNNING}

    asyncio.run(main())
