from __future__ import annotations

import dataclasses

from swarmpy.manager.orchestrator.global_service import reconcile_global
from swarmpy.manager.orchestrator.reconcile import Plan, retire_all
from swarmpy.manager.orchestrator.replicated import reconcile_replicated
from swarmpy.manager.orchestrator.restart import restart_at
from swarmpy.manager.orchestrator.taskreaper import reap
from swarmpy.manager.orchestrator.update import plan_update
from swarmpy.model import (
    ContainerSpec,
    FailureAction,
    NodeAvailability,
    NodeState,
    RestartCondition,
    RestartPolicy,
    Service,
    Task,
    TaskState,
    UpdateConfig,
    UpdateOrder,
    UpdateState,
)
from tests.support.builders import node, service, task

NOW = 1000.0
RUNNING = TaskState.RUNNING


def stopped(plan: Plan) -> dict[str, TaskState]:
    return {s.task_id: s.desired for s in plan.stop}


def test_scale_up_creates_missing_slots() -> None:
    svc = service(replicas=3)
    existing = task(svc, 2, RUNNING, "id-a")
    plan = reconcile_replicated(svc, [existing], [node("a")], NOW)
    assert sorted(t.slot for t in plan.create) == [1, 3]
    new = plan.create[0]
    assert (new.status.state, new.desired_state, new.spec) == (TaskState.NEW, RUNNING, svc.spec)
    assert not plan.stop


def test_scale_down_removes_highest_slots() -> None:
    svc = service(replicas=1)
    ts = [task(svc, i, RUNNING, "id-a") for i in (1, 2, 3)]
    plan = reconcile_replicated(svc, ts, [node("a")], NOW)
    assert stopped(plan) == {ts[1].id: TaskState.REMOVE, ts[2].id: TaskState.REMOVE}
    assert not plan.create


def test_node_down_or_drained_moves_tasks() -> None:
    svc = service(replicas=2)
    down, drained = node("a", state=NodeState.DOWN), node("b", availability=NodeAvailability.DRAIN)
    ts = [task(svc, 1, RUNNING, down.id), task(svc, 2, RUNNING, drained.id)]
    plan = reconcile_replicated(svc, ts, [down, drained, node("c")], NOW)
    assert stopped(plan) == {t.id: TaskState.SHUTDOWN for t in ts}
    # Moving is not failing: no restart delay.
    assert sorted(t.slot for t in plan.create) == [1, 2]


def test_removed_node_orphans_its_tasks() -> None:
    svc = service(replicas=1)
    t = task(svc, 1, RUNNING, "id-gone")
    plan = reconcile_replicated(svc, [t], [node("a")], NOW)
    assert plan.stop[0].orphaned
    assert len(plan.create) == 1


def test_failed_task_restarts_after_delay() -> None:
    svc = service(restart=RestartPolicy(delay_s=5))
    failed = task(svc, 1, TaskState.FAILED, "id-a", at=NOW - 2)
    plan = reconcile_replicated(svc, [failed], [node("a")], NOW)
    assert not plan.create
    assert plan.wake_at == NOW + 3
    later = reconcile_replicated(svc, [failed], [node("a")], NOW + 3)
    assert [t.slot for t in later.create] == [1]


def test_restart_conditions() -> None:
    def when(condition: RestartCondition, state: TaskState) -> float | None:
        policy = RestartPolicy(condition=condition, delay_s=0)
        return restart_at(policy, [task(service(), state=state, at=NOW)], NOW)

    assert when(RestartCondition.ANY, TaskState.COMPLETE) == NOW
    assert when(RestartCondition.ON_FAILURE, TaskState.COMPLETE) is None
    assert when(RestartCondition.ON_FAILURE, TaskState.FAILED) == NOW
    assert when(RestartCondition.NONE, TaskState.FAILED) is None
    # Stopped by the manager (drain, scale, update): always replaced.
    drained = task(service(), state=TaskState.SHUTDOWN, desired=TaskState.SHUTDOWN)
    assert restart_at(RestartPolicy(condition=RestartCondition.NONE), [drained], NOW) == NOW


def test_restart_max_attempts_and_window() -> None:
    svc = service()
    policy = RestartPolicy(delay_s=0, max_attempts=2)
    history = [task(svc, state=TaskState.FAILED, at=NOW - 10 + i) for i in range(3)]
    assert restart_at(policy, history[:2], NOW) == NOW - 9  # one restart so far
    assert restart_at(policy, history, NOW) is None  # the first task and two restarts failed
    windowed = dataclasses.replace(policy, window_s=8.5)  # only the last two count
    assert restart_at(windowed, history, NOW) is not None


def test_duplicate_tasks_in_a_slot_keep_newest() -> None:
    svc = service(replicas=1)
    old, new = task(svc, 1, RUNNING, "id-a"), task(svc, 1, RUNNING, "id-a")
    plan = reconcile_replicated(svc, [old, new], [node("a")], NOW)
    assert stopped(plan) == {old.id: TaskState.SHUTDOWN}


def test_global_one_task_per_eligible_node() -> None:
    svc = service(mode="global", constraints=("node.labels.db!=no",))
    a, b = node("a"), node("b", labels=(("db", "no"),))
    c = node("c", state=NodeState.DOWN)
    drained = node("d", availability=NodeAvailability.DRAIN)
    on_d = task(svc, 0, RUNNING, drained.id)
    on_gone = task(svc, 0, RUNNING, "id-gone")
    plan = reconcile_global(svc, [on_d, on_gone], [a, b, c, drained], NOW)
    assert [(t.slot, t.node_id) for t in plan.create] == [(0, a.id)]
    assert stopped(plan) == {on_d.id: TaskState.SHUTDOWN, on_gone.id: TaskState.REMOVE}


def test_global_task_of_a_down_node_is_shut_down_and_made_again_once_back() -> None:
    # As SwarmKit's: a dead host's task shows desired Shutdown in `service ps`, and the
    # host gets a new task when it is Ready again (the old one is not run on).
    svc = service(mode="global")
    a, down = node("a"), node("b", state=NodeState.DOWN)
    on_a, on_down = task(svc, 0, RUNNING, a.id), task(svc, 0, RUNNING, down.id)
    plan = reconcile_global(svc, [on_a, on_down], [a, down], NOW)
    assert (list(plan.create), stopped(plan)) == ([], {on_down.id: TaskState.SHUTDOWN})
    back = dataclasses.replace(down, state=NodeState.READY)
    stopping = dataclasses.replace(on_down, desired_state=TaskState.SHUTDOWN)
    plan = reconcile_global(svc, [on_a, stopping], [a, back], NOW)
    assert [t.node_id for t in plan.create] == [back.id]


def test_global_new_node_gets_a_task_existing_kept() -> None:
    svc = service(mode="global")
    a, b = node("a"), node("b")
    plan = reconcile_global(svc, [task(svc, 0, RUNNING, a.id)], [a, b], NOW)
    assert [t.node_id for t in plan.create] == [b.id]
    assert not plan.stop


def test_removed_service_tasks_are_removed() -> None:
    svc = service()
    ts = [task(svc, 1, RUNNING, "id-a"), task(svc, 2, TaskState.FAILED, "id-a")]
    assert stopped(retire_all(ts, frozenset({"id-a"}))) == {t.id: TaskState.REMOVE for t in ts}


# ---------------------------------------------------------------- rolling update


def updated(svc: Service, **update: object) -> Service:
    spec = dataclasses.replace(
        svc.spec,
        container=ContainerSpec("busybox:2"),
        update=UpdateConfig(**update),  # type: ignore[arg-type]
    )
    return dataclasses.replace(svc, spec=spec, previous_spec=svc.spec, spec_version=2)


def run_update(svc: Service, ts: list, at: float = NOW) -> tuple[Service, Plan]:  # type: ignore[type-arg]
    plan = reconcile_replicated(svc, ts, [node("a")], at)
    return (plan.service.new if plan.service else svc), plan


def test_rolling_update_in_batches_with_delay() -> None:
    v1 = service(replicas=3)
    ts = [task(v1, i, RUNNING, "id-a") for i in (1, 2, 3)]
    v2 = updated(v1, parallelism=2, delay_s=10, monitor_s=1)
    v2, plan = run_update(v2, ts)
    assert v2.update_status
    assert v2.update_status.state == UpdateState.UPDATING
    assert not plan.stop
    v2, plan = run_update(v2, ts)
    assert stopped(plan) == {ts[0].id: TaskState.SHUTDOWN, ts[1].id: TaskState.SHUTDOWN}
    assert {(t.slot, t.spec_version) for t in plan.create} == {(1, 2), (2, 2)}
    # The batch must run before the next one, then the delay must pass.
    gone = [dataclasses.replace(t, desired_state=TaskState.SHUTDOWN) for t in ts[:2]]
    fresh = list(plan.create)
    _, waiting = run_update(v2, [*gone, ts[2], *fresh], NOW + 1)
    assert not waiting.create
    assert not waiting.stop
    up = [
        dataclasses.replace(
            t, status=dataclasses.replace(t.status, state=RUNNING, timestamp=NOW + 2)
        )
        for t in fresh
    ]
    _, delayed = run_update(v2, [*gone, ts[2], *up], NOW + 3)
    assert not delayed.stop
    assert delayed.wake_at == NOW + 12
    _, last = run_update(v2, [*gone, ts[2], *up], NOW + 12)
    assert stopped(last) == {ts[2].id: TaskState.SHUTDOWN}


def _with_state(t: Task, state: TaskState, desired: TaskState | None = None) -> Task:
    return dataclasses.replace(
        t,
        status=dataclasses.replace(t.status, state=state, timestamp=NOW + 1),
        desired_state=t.desired_state if desired is None else desired,
    )


def test_stop_first_starts_the_replacement_once_the_old_task_stopped() -> None:
    v1 = service(replicas=1)
    old = task(v1, 1, RUNNING, "id-a")
    v2, _ = run_update(updated(v1), [old])
    v2, plan = run_update(v2, [old])
    assert stopped(plan) == {old.id: TaskState.SHUTDOWN}
    (new,) = plan.create
    assert new.desired_state == TaskState.READY, "prepared, but not started before the old stops"
    stopping = _with_state(old, RUNNING, TaskState.SHUTDOWN)
    prepared = _with_state(new, TaskState.READY)
    _, waiting = run_update(v2, [stopping, prepared], NOW + 1)
    assert waiting.start == ()
    assert not waiting.create
    ended = _with_state(old, TaskState.SHUTDOWN, TaskState.SHUTDOWN)
    _, go = run_update(v2, [ended, prepared], NOW + 2)
    assert go.start == (new.id,)
    assert not go.create
    assert not go.stop


def test_stop_first_does_not_wait_for_a_task_on_a_dead_node() -> None:
    v1 = service(replicas=1)
    old = _with_state(task(v1, 1, RUNNING, "id-gone"), RUNNING, TaskState.SHUTDOWN)
    v2 = updated(v1)
    new = task(v2, 1, TaskState.READY, "id-a", desired=TaskState.READY)
    plan = reconcile_replicated(v2, [old, new], [node("a")], NOW)
    assert plan.start == (new.id,)


def test_start_first_keeps_the_old_task_until_its_replacement_runs() -> None:
    v1 = service(replicas=1)
    old = task(v1, 1, RUNNING, "id-a")
    v2, _ = run_update(updated(v1, order=UpdateOrder.START_FIRST), [old])
    v2, plan = run_update(v2, [old])
    (new,) = plan.create
    assert new.desired_state == RUNNING
    assert not plan.stop
    starting = _with_state(new, TaskState.STARTING)
    _, waiting = run_update(v2, [old, starting], NOW + 1)
    assert not waiting.stop, "the old task must run until the new runs"
    assert not waiting.create, "the old task must run until the new runs"
    _, swap = run_update(v2, [old, _with_state(new, RUNNING)], NOW + 2)
    assert stopped(swap) == {old.id: TaskState.SHUTDOWN}
    assert not swap.create


def test_update_completes_after_monitor_and_scaling_is_no_update() -> None:
    v1 = service(replicas=1)
    t = task(v1, 1, RUNNING, "id-a")
    scaled = dataclasses.replace(v1, spec=dataclasses.replace(v1.spec, replicas=2), spec_version=2)
    assert plan_update(scaled, {1: t}, [t], NOW).service is None
    v2 = updated(v1, monitor_s=5)
    v2, _ = run_update(v2, [t])
    new = task(v2, 1, RUNNING, "id-a", at=NOW, created_at=NOW)
    live: dict[object, Task] = {1: new}
    assert plan_update(v2, live, [new], NOW + 1).wake_at == NOW + 5
    done = plan_update(v2, live, [new], NOW + 5).service
    assert done
    assert done.update_status
    assert done.update_status.state == UpdateState.COMPLETED


def _failed_update(action: FailureAction) -> Service:
    v1 = service(replicas=2)
    old = task(v1, 2, RUNNING, "id-a")
    v2, _ = run_update(updated(v1, failure_action=action), [old])
    bad = task(v2, 1, TaskState.FAILED, "id-a", at=NOW + 1, created_at=NOW)
    v3, _ = run_update(v2, [old, bad], NOW + 2)
    return v3


def test_update_failure_pauses() -> None:
    paused = _failed_update(FailureAction.PAUSE)
    assert paused.update_status
    assert paused.update_status.state == UpdateState.PAUSED
    assert "due to failure or early termination of task" in paused.update_status.message


def test_update_failure_rolls_back() -> None:
    back = _failed_update(FailureAction.ROLLBACK)
    assert back.update_status
    assert back.update_status.state == UpdateState.ROLLBACK_STARTED
    assert back.spec.container.image == "busybox"
    assert back.spec_version == 3
    # Tasks still on the old spec are not outdated by the rollback.
    old = task(service(replicas=2), 2, RUNNING, "id-a")
    assert plan_update(back, {2: old}, [old], NOW).replace == ()


def test_update_failure_continue() -> None:
    cont = _failed_update(FailureAction.CONTINUE)
    assert cont.update_status
    assert cont.update_status.state == UpdateState.UPDATING


# ---------------------------------------------------------------- task reaper


def test_reaper_keeps_history_limit_and_deletes_removed() -> None:
    svc = service()
    history = [task(svc, 1, TaskState.FAILED, at=float(i), created_at=float(i)) for i in range(8)]
    live = task(svc, 1, RUNNING, created_at=100.0)
    removed = task(svc, 2, TaskState.SHUTDOWN, desired=TaskState.REMOVE)
    removing = task(svc, 3, RUNNING, desired=TaskState.REMOVE)
    unassigned = task(svc, 4, TaskState.PENDING, desired=TaskState.REMOVE)
    orphan = task(service("gone"), 1, TaskState.COMPLETE)
    doomed = reap([*history, live, removed, removing, unassigned, orphan], frozenset({svc.id}), 5)
    assert set(doomed) == {*(t.id for t in history[:3]), removed.id, unassigned.id, orphan.id}


def test_replaced_failures_still_count_towards_max_attempts() -> None:
    """A failed task the manager marked Shutdown when replacing it is still an attempt."""
    import dataclasses as dc

    from swarmpy.manager.orchestrator.restart import restart_at
    from swarmpy.model import (
        ContainerSpec,
        RestartCondition,
        RestartPolicy,
        ServiceSpec,
        Task,
        TaskState,
        TaskStatus,
    )

    spec = ServiceSpec("s", ContainerSpec("busybox"))
    failed = Task(
        "a",
        "svc",
        "s",
        spec,
        slot=1,
        created_at=1,
        status=TaskStatus(TaskState.FAILED, timestamp=2),
        desired_state=TaskState.SHUTDOWN,
    )
    again = dc.replace(
        failed,
        id="b",
        created_at=3,
        desired_state=TaskState.RUNNING,
        status=TaskStatus(TaskState.FAILED, timestamp=4),
    )
    policy = RestartPolicy(condition=RestartCondition.ANY, delay_s=0, max_attempts=1)
    assert restart_at(policy, [failed], 10) == 2
    assert restart_at(policy, [failed, again], 10) is None


def test_a_slot_of_one_task_runs_on_is_started_or_moves_as_it_needs() -> None:
    # One task per slot is most slots of a big service, and reconcile_slots takes them on a
    # short path: it must decide what the general one does.
    svc = service(replicas=5)
    a, down = node("a"), node("b", state=NodeState.DOWN)
    steady = task(svc, 1, RUNNING, a.id)
    parked = task(svc, 2, TaskState.READY, a.id, desired=TaskState.READY)
    moved = task(svc, 3, RUNNING, down.id)
    ended = task(svc, 4, TaskState.FAILED, a.id, at=NOW - 60)
    pending = task(svc, 5, TaskState.PENDING)
    plan = reconcile_replicated(svc, [steady, parked, moved, ended, pending], [a, down], NOW)
    assert plan.start == (parked.id,)
    assert stopped(plan) == {moved.id: TaskState.SHUTDOWN, ended.id: TaskState.SHUTDOWN}
    assert sorted(t.slot for t in plan.create) == [3, 4]
