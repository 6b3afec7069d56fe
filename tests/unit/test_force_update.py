"""`service update --force`: the task template's force_update counter, as Docker's
TaskTemplate.ForceUpdate, replaces every task by a rolling update when it alone changed."""

from __future__ import annotations

import asyncio
import dataclasses

from swarmpy import codec
from swarmpy.api import objects_pb2
from swarmpy.manager.controlapi.controlapi import ControlAPI
from swarmpy.manager.orchestrator.global_service import reconcile_global
from swarmpy.manager.orchestrator.reconcile import Plan
from swarmpy.manager.orchestrator.replicated import reconcile_replicated
from swarmpy.manager.state.store import LocalLog, Store
from swarmpy.model import (
    ContainerSpec,
    Service,
    ServiceSpec,
    Task,
    TaskState,
    UpdateConfig,
    UpdateState,
    outdated,
)
from tests.support.builders import node, service, task

NOW = 1000.0
RUNNING = TaskState.RUNNING


def forced(svc: Service, update: UpdateConfig) -> Service:
    """The service after `service update --force`: only the counter (and the version)."""
    spec = dataclasses.replace(svc.spec, update=update, force_update=svc.spec.force_update + 1)
    return dataclasses.replace(
        svc, spec=spec, previous_spec=svc.spec, spec_version=svc.spec_version + 1
    )


def step(svc: Service, tasks: list[Task], at: float) -> tuple[Service, Plan]:
    plan = reconcile_replicated(svc, tasks, [node("a")], at)
    return (plan.service.new if plan.service else svc), plan


def running(t: Task, at: float) -> Task:
    return dataclasses.replace(t, status=dataclasses.replace(t.status, state=RUNNING, timestamp=at))


def test_the_counter_alone_makes_every_task_outdated() -> None:
    v1 = service(replicas=3)
    ts = [task(v1, i, RUNNING, "id-a") for i in (1, 2, 3)]
    v2 = forced(v1, v1.spec.update)
    assert all(outdated(t, v2) for t in ts)


def test_a_new_version_of_the_same_spec_replaces_nothing() -> None:
    v1 = service(replicas=3)
    ts = [task(v1, i, RUNNING, "id-a") for i in (1, 2, 3)]
    same = dataclasses.replace(v1, spec_version=2, previous_spec=v1.spec)
    assert not any(outdated(t, same) for t in ts)
    _, plan = step(same, ts, NOW)
    assert plan == Plan()


def test_forced_update_replaces_all_tasks_in_batches_with_the_delay() -> None:
    v1 = service(replicas=3)
    ts = [task(v1, i, RUNNING, "id-a") for i in (1, 2, 3)]
    v2, plan = step(forced(v1, UpdateConfig(parallelism=2, delay_s=10, monitor_s=1)), ts, NOW)
    assert v2.update_status is not None
    assert v2.update_status.state == UpdateState.UPDATING
    assert not plan.stop
    _, first = step(v2, ts, NOW)
    assert {s.task_id for s in first.stop} == {ts[0].id, ts[1].id}
    assert [(t.slot, t.spec.force_update) for t in first.create] == [(1, 1), (2, 1)]
    # Stop-first, the service's order: the replacements wait at READY.
    assert {t.desired_state for t in first.create} == {TaskState.READY}
    gone = [dataclasses.replace(t, desired_state=TaskState.SHUTDOWN) for t in ts[:2]]
    up = [running(t, NOW + 2) for t in first.create]
    _, delayed = step(v2, [*gone, ts[2], *up], NOW + 3)
    assert not delayed.stop
    assert delayed.wake_at == NOW + 12
    _, last = step(v2, [*gone, ts[2], *up], NOW + 12)
    assert [s.task_id for s in last.stop] == [ts[2].id]
    assert [t.slot for t in last.create] == [3]


def test_forced_update_of_a_global_service_replaces_its_tasks() -> None:
    v1 = service(mode="global")
    a, b = node("a"), node("b")
    ts = [task(v1, 0, RUNNING, n.id) for n in (a, b)]
    v2 = forced(v1, UpdateConfig(parallelism=0))
    started = reconcile_global(v2, ts, [a, b], NOW).service
    assert started is not None
    plan = reconcile_global(started.new, ts, [a, b], NOW)
    assert {s.task_id for s in plan.stop} == {t.id for t in ts}
    assert sorted(t.node_id for t in plan.create) == [a.id, b.id]


def test_control_api_takes_the_counter_as_a_change_and_nothing_else() -> None:
    async def scenario() -> None:
        api = ControlAPI(Store(LocalLog()), lambda: []).services
        spec = ServiceSpec("web", ContainerSpec("busybox"), replicas=2)
        created = await api.create(spec)
        same = await api.update(created.id, spec, rollback=False)
        assert same.spec_version == created.spec_version
        assert same.update_status is None
        bumped = dataclasses.replace(spec, force_update=1)
        updated = await api.update(created.id, bumped, rollback=False)
        assert updated.spec.force_update == 1
        assert updated.spec_version == created.spec_version + 1
        assert updated.previous_spec == spec
        assert updated.update_status is not None
        assert updated.update_status.state == UpdateState.UPDATING

    asyncio.run(scenario())


def test_the_counter_crosses_the_grpc_codec() -> None:
    spec = ServiceSpec("web", ContainerSpec("busybox"), force_update=7)
    message = codec.to_proto(spec, objects_pb2.ServiceSpec())
    assert codec.from_proto(ServiceSpec, message) == spec
