"""What the managers time (restart delays, restart windows, update monitors and failures) runs
on their own clock: a worker whose clock is an hour off must change none of it."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from swarmpy.manager.dispatcher.statusbatch import StatusBatcher, newer_statuses, received
from swarmpy.manager.orchestrator.replicated import reconcile_replicated
from swarmpy.manager.orchestrator.restart import restart_at
from swarmpy.manager.orchestrator.update import plan_update
from swarmpy.manager.state.store import TASKS, LocalLog, Store, Tx
from swarmpy.model import (
    ContainerSpec,
    FailureAction,
    RestartPolicy,
    Service,
    Task,
    TaskState,
    TaskStatus,
    UpdateConfig,
    UpdateState,
)
from tests.support.builders import node, service, task

NOW = 1_000_000.0
HOUR = 3600.0
SKEWS = pytest.mark.parametrize("skew", [-HOUR, HOUR], ids=["behind", "ahead"])


def reported(t: Task, state: TaskState, at: float, skew: float) -> Task:
    """``t`` as the managers store it after its agent, whose clock is ``skew`` off, reported
    ``state`` at manager time ``at``."""
    return dataclasses.replace(t, status=received(TaskStatus(state, at + skew), at))


@SKEWS
def test_the_restart_delay_runs_from_when_the_manager_heard_of_the_failure(skew: float) -> None:
    svc = service(restart=RestartPolicy(delay_s=5))
    failed = reported(task(svc, 1, node_id="id-a"), TaskState.FAILED, NOW - 2, skew)
    plan = reconcile_replicated(svc, [failed], [node("a")], NOW)
    assert not plan.create
    assert plan.wake_at == NOW + 3
    later = reconcile_replicated(svc, [failed], [node("a")], NOW + 3)
    assert [t.slot for t in later.create] == [1]


@SKEWS
def test_restart_attempts_in_the_window_are_counted_on_the_managers_clock(skew: float) -> None:
    svc = service()
    history = [reported(task(svc), TaskState.FAILED, NOW - 10 + i, skew) for i in range(3)]
    assert restart_at(RestartPolicy(delay_s=0, max_attempts=2, window_s=60), history, NOW) is None
    # Outside the window by the managers' clock, whatever the agent's says.
    assert restart_at(RestartPolicy(delay_s=0, max_attempts=2, window_s=5), history, NOW) == NOW - 8


def _updating(svc: Service, **config: object) -> Service:
    spec = dataclasses.replace(
        svc.spec,
        container=ContainerSpec("busybox:2"),
        update=UpdateConfig(**config),  # type: ignore[arg-type]
    )
    v2 = dataclasses.replace(svc, spec=spec, previous_spec=svc.spec, spec_version=2)
    old = task(svc, 1, TaskState.RUNNING, "id-a")
    decision = plan_update(v2, {1: old}, [old], NOW)
    assert decision.service is not None
    return decision.service  # the update started at NOW


@SKEWS
def test_the_update_monitor_runs_from_when_the_manager_saw_the_task_run(skew: float) -> None:
    v2 = _updating(service(replicas=1), monitor_s=5)
    new = reported(task(v2, 1, node_id="id-a", created_at=NOW), TaskState.RUNNING, NOW, skew)
    live: dict[object, Task] = {1: new}
    assert plan_update(v2, live, [new], NOW + 1).wake_at == NOW + 5
    done = plan_update(v2, live, [new], NOW + 5).service
    assert done is not None
    assert done.update_status is not None
    assert done.update_status.state == UpdateState.COMPLETED


@SKEWS
def test_a_failure_during_the_update_counts_whatever_the_agents_clock(skew: float) -> None:
    v2 = _updating(service(replicas=1), failure_action=FailureAction.PAUSE)
    bad = reported(task(v2, 1, node_id="id-a", created_at=NOW), TaskState.FAILED, NOW + 1, skew)
    decision = plan_update(v2, {}, [bad], NOW + 2)
    assert decision.service is not None
    assert decision.service.update_status is not None
    assert decision.service.update_status.state == UpdateState.PAUSED


def test_the_dispatcher_stamps_reports_with_its_own_receive_time() -> None:
    svc = service()
    assigned = task(svc, state=TaskState.ASSIGNED, node_id="n1")

    async def main() -> Task | None:
        store = Store(LocalLog())

        def create(tx: Tx) -> None:
            tx.create(TASKS, assigned)

        await store.update(create)
        # The agent's clock is an hour behind, and it claims a receive time of its own.
        sent = TaskStatus(TaskState.RUNNING, time.time() - HOUR, applied_at=1.0)
        await StatusBatcher(store, window_s=0.0).report("n1", [(assigned.id, sent)])
        return store.view().get(TASKS, assigned.id)

    before = time.time()
    stored = asyncio.run(main())
    assert stored is not None
    assert before <= stored.status.applied_at <= time.time()
    assert stored.status.timestamp < before - HOUR + 1, "the agent's timestamp is kept for display"


def test_a_repeated_report_keeps_when_the_manager_first_saw_it() -> None:
    first = reported(task(service(), node_id="n1"), TaskState.RUNNING, NOW, HOUR)
    again = received(dataclasses.replace(first.status, applied_at=0.0), NOW + 30)
    assert newer_statuses({first.id: first}, [("n1", first.id, again)]) == []
