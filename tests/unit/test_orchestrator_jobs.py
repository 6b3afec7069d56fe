"""The job reconcilers' decisions (--mode replicated-job / global-job)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from swarmpy.errors import InvalidArgument
from swarmpy.manager.controlapi.controlapi import ControlAPI
from swarmpy.manager.orchestrator.jobs import reconcile_global_job, reconcile_replicated_job
from swarmpy.manager.orchestrator.reconcile import Plan
from swarmpy.manager.orchestrator.restart import restart_at
from swarmpy.manager.orchestrator.taskreaper import reap
from swarmpy.manager.state.store import LocalLog, Store
from swarmpy.model import (
    ContainerSpec,
    JobStatus,
    NodeAvailability,
    NodeState,
    RestartCondition,
    RestartPolicy,
    Service,
    ServiceMode,
    ServiceSpec,
    Task,
    TaskState,
)
from tests.support.builders import node, service, task

NOW = 1000.0
COMPLETE, RUNNING, FAILED = TaskState.COMPLETE, TaskState.RUNNING, TaskState.FAILED


def rjob(total: int = 3, concurrent: int = 2, iteration: int = 0, **changes: Any) -> Service:
    svc = service(
        "job",
        mode=ServiceMode.REPLICATED_JOB,
        replicas=total,
        max_concurrent=concurrent,
        **changes,
    )
    return dataclasses.replace(svc, job_status=JobStatus(iteration, NOW - 100))


def gjob(iteration: int = 0, **changes: Any) -> Service:
    svc = service("gjob", mode=ServiceMode.GLOBAL_JOB, replicas=0, **changes)
    return dataclasses.replace(svc, job_status=JobStatus(iteration, NOW - 100))


def jtask(svc: Service, slot: int, state: TaskState, node_id: str = "id-a", **kw: Any) -> Task:
    """A task of the service's current iteration (unless ``job_iteration`` says otherwise)."""
    current = svc.job_status.iteration if svc.job_status else 0
    return task(svc, slot, state, node_id, desired=COMPLETE, **{"job_iteration": current, **kw})


def stopped(plan: Plan) -> dict[str, TaskState]:
    return {s.task_id: s.desired for s in plan.stop}


def test_replicated_job_starts_at_most_max_concurrent_tasks() -> None:
    svc = rjob(total=3, concurrent=2, iteration=4)
    plan = reconcile_replicated_job(svc, [], [node("a")], NOW)
    # Slots from 0, as SwarmKit's (Docker's CLI draws a job's progress by them).
    assert sorted(t.slot for t in plan.create) == [0, 1]
    for t in plan.create:
        assert (t.desired_state, t.status.state, t.job_iteration) == (COMPLETE, TaskState.NEW, 4)
    assert not plan.stop


def test_replicated_job_starts_the_next_slot_when_one_completes() -> None:
    svc = rjob(total=3, concurrent=2)
    tasks = [jtask(svc, 0, COMPLETE), jtask(svc, 1, RUNNING)]
    plan = reconcile_replicated_job(svc, tasks, [node("a")], NOW)
    assert [t.slot for t in plan.create] == [2]
    # A completed task is done: never restarted, never stopped.
    assert not plan.stop


def test_replicated_job_is_done_once_every_slot_completed() -> None:
    svc = rjob(total=3, concurrent=2)
    tasks = [jtask(svc, s, COMPLETE) for s in (0, 1, 2)]
    plan = reconcile_replicated_job(svc, tasks, [node("a")], NOW)
    assert plan == Plan()


def test_failed_job_task_restarts_in_its_slot_after_the_delay() -> None:
    svc = rjob(total=3, concurrent=2, restart=RestartPolicy(delay_s=5))
    failed = jtask(svc, 0, FAILED, at=NOW - 2)
    tasks = [failed, jtask(svc, 1, RUNNING)]
    waiting = reconcile_replicated_job(svc, tasks, [node("a")], NOW)
    # The failed slot waiting for its restart still counts against MaxConcurrent.
    assert not waiting.create
    assert waiting.wake_at == NOW + 3
    later = reconcile_replicated_job(svc, tasks, [node("a")], NOW + 3)
    assert [t.slot for t in later.create] == [0]
    assert stopped(later) == {failed.id: TaskState.SHUTDOWN}


def test_restart_condition_any_never_reruns_a_completed_job_task() -> None:
    svc = rjob(total=1, concurrent=1, restart=RestartPolicy(condition=RestartCondition.ANY))
    done = jtask(svc, 0, COMPLETE)
    assert restart_at(svc.spec.restart, [done], NOW) is None
    assert reconcile_replicated_job(svc, [done], [node("a")], NOW) == Plan()


def test_a_slot_the_restart_policy_gave_up_on_stays_failed() -> None:
    policy = RestartPolicy(condition=RestartCondition.ON_FAILURE, delay_s=0, max_attempts=1)
    svc = rjob(total=2, concurrent=1, restart=policy)
    tasks = [jtask(svc, 0, FAILED, at=NOW - 9), jtask(svc, 0, FAILED, at=NOW - 5)]
    plan = reconcile_replicated_job(svc, tasks, [node("a")], NOW)
    # Slot 0 has had its one restart and stays failed; the job goes on with slot 1.
    assert [t.slot for t in plan.create] == [1]
    # Its tasks are left desired Shutdown, as Docker shows them ("Shutdown  Failed").
    assert stopped(plan) == {t.id: TaskState.SHUTDOWN for t in tasks}
    none = rjob(total=1, concurrent=1, restart=RestartPolicy(condition=RestartCondition.NONE))
    failed = jtask(none, 0, FAILED)
    plan = reconcile_replicated_job(none, [failed], [node("a")], NOW)
    assert stopped(plan) == {failed.id: TaskState.SHUTDOWN}
    assert not plan.create
    shut = dataclasses.replace(failed, desired_state=TaskState.SHUTDOWN)
    assert reconcile_replicated_job(none, [shut], [node("a")], NOW) == Plan()


def test_a_new_iteration_removes_the_old_ones_live_tasks_and_runs_again() -> None:
    old = rjob(total=2, concurrent=2, iteration=0)
    svc = rjob(total=2, concurrent=2, iteration=1)
    done, live = jtask(old, 0, COMPLETE), jtask(old, 1, RUNNING)
    plan = reconcile_replicated_job(svc, [done, live], [node("a")], NOW)
    assert stopped(plan) == {live.id: TaskState.REMOVE}
    assert sorted((t.slot, t.job_iteration) for t in plan.create) == [(0, 1), (1, 1)]


def test_a_job_task_on_a_down_node_moves_at_once() -> None:
    svc = rjob(total=1, concurrent=1)
    stuck = jtask(svc, 0, RUNNING, "id-a")
    plan = reconcile_replicated_job(svc, [stuck], [node("a", state=NodeState.DOWN)], NOW)
    assert stopped(plan) == {stuck.id: TaskState.SHUTDOWN}
    assert [t.slot for t in plan.create] == [0]


def test_the_reaper_keeps_a_replicated_jobs_slot_0_as_one_slot_on_any_node() -> None:
    svc = rjob(total=1, concurrent=1)
    tasks = [
        jtask(svc, 0, FAILED, "id-a", at=1.0),
        jtask(svc, 0, FAILED, "id-b", at=2.0),
        jtask(svc, 0, COMPLETE, "id-c", at=3.0),
    ]
    # History limit 2: the newest task and one ended one stay.
    assert reap(tasks, frozenset({svc.id}), 2) == [tasks[0].id]


def test_global_job_runs_once_on_every_eligible_node() -> None:
    svc = gjob(iteration=2, constraints=("node.hostname!=c",))
    nodes = [node("a"), node("b"), node("c"), node("d", availability=NodeAvailability.PAUSE)]
    plan = reconcile_global_job(svc, [], nodes, NOW)
    assert sorted(t.node_id for t in plan.create) == ["id-a", "id-b"]
    assert {(t.slot, t.desired_state, t.job_iteration) for t in plan.create} == {(0, COMPLETE, 2)}
    done = [jtask(svc, 0, COMPLETE, "id-a"), jtask(svc, 0, COMPLETE, "id-b")]
    assert reconcile_global_job(svc, done, nodes, NOW) == Plan()
    # A node that joins later gets its run too.
    joined = reconcile_global_job(svc, done, [*nodes, node("e")], NOW)
    assert [t.node_id for t in joined.create] == ["id-e"]


def test_global_job_restarts_a_failed_task_on_its_node_and_drains() -> None:
    svc = gjob(restart=RestartPolicy(delay_s=1))
    failed = jtask(svc, 0, FAILED, "id-a", at=NOW - 5)
    running = jtask(svc, 0, RUNNING, "id-b")
    nodes = [node("a"), node("b", availability=NodeAvailability.DRAIN)]
    plan = reconcile_global_job(svc, [failed, running], nodes, NOW)
    assert [t.node_id for t in plan.create] == ["id-a"]
    assert stopped(plan) == {failed.id: TaskState.SHUTDOWN, running.id: TaskState.SHUTDOWN}


def test_global_job_task_of_a_removed_node_is_removed() -> None:
    svc = gjob()
    gone = jtask(svc, 0, RUNNING, "id-gone")
    plan = reconcile_global_job(svc, [gone], [node("a")], NOW)
    assert plan.stop[0].desired == TaskState.REMOVE
    assert plan.stop[0].orphaned
    assert [t.node_id for t in plan.create] == ["id-a"]


def test_every_update_of_a_job_starts_its_next_iteration() -> None:
    async def scenario() -> None:
        api = ControlAPI(Store(LocalLog()), lambda: []).services
        spec = ServiceSpec(
            "job",
            ContainerSpec("busybox"),
            mode=ServiceMode.REPLICATED_JOB,
            replicas=3,
            max_concurrent=2,
        )
        created = await api.create(spec)
        assert created.job_status is not None
        assert created.job_status.iteration == 0
        # Even an unchanged spec runs the job again (SwarmKit's rule); no rolling update.
        again = await api.update(created.id, spec, rollback=False)
        assert again.job_status is not None
        assert again.job_status.iteration == 1
        assert again.update_status is None
        forced = await api.update(created.id, dataclasses.replace(spec, force_update=1), False)
        assert forced.job_status is not None
        assert forced.job_status.iteration == 2
        with pytest.raises(InvalidArgument, match="mode change"):
            await api.update(created.id, dataclasses.replace(spec, mode=ServiceMode.GLOBAL), False)
        plain = await api.create(ServiceSpec("web", ContainerSpec("busybox")))
        assert plain.job_status is None

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("total", "concurrent", "words"),
    [(3, -1, "Maximum concurrent jobs must not be negative"), (-1, 1, "Total completed jobs")],
)
def test_job_counts_are_checked_in_swarmkits_words(total: int, concurrent: int, words: str) -> None:
    async def scenario() -> None:
        api = ControlAPI(Store(LocalLog()), lambda: []).services
        spec = ServiceSpec(
            "job",
            ContainerSpec("busybox"),
            mode=ServiceMode.REPLICATED_JOB,
            replicas=total,
            max_concurrent=concurrent,
        )
        with pytest.raises(InvalidArgument, match=words):
            await api.create(spec)

    asyncio.run(scenario())
