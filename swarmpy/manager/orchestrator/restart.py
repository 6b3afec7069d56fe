"""Restart policy: when a slot has lost its task, whether and when to start a new one."""

from __future__ import annotations

from collections.abc import Sequence

from swarmpy.model import (
    RestartCondition,
    RestartPolicy,
    Service,
    Task,
    TaskState,
    TaskStatus,
    new_id,
)


def runnable(task: Task) -> bool:
    """The task is, or may still become, the one running for its slot (a job's task is
    desired COMPLETE: it runs until it exits)."""
    return task.desired_state <= TaskState.COMPLETE and not task.status.state.terminal


def stopped_by_manager(task: Task) -> bool:
    return task.desired_state > TaskState.COMPLETE and not ended_by_itself(task)


def ended_by_itself(task: Task) -> bool:
    """Exited, failed or was refused before the manager asked it to stop: a restart attempt
    (the manager marks such tasks Shutdown once it replaces them, as docker shows them)."""
    return task.status.state in (TaskState.COMPLETE, TaskState.FAILED, TaskState.REJECTED)


def restart_at(policy: RestartPolicy, history: Sequence[Task], now: float) -> float | None:
    """When to start a task for a slot with no runnable task, or None for never.

    ``history`` is the slot's tasks, oldest first. Attempts are counted from that history
    (the task reaper keeps ``task_history_limit`` of them), so they survive leader changes.
    """
    if not history:
        return now
    last = history[-1]
    if stopped_by_manager(last):
        # Drain, node down, scale or update: the slot is moving, not failing.
        return now
    if policy.condition == RestartCondition.NONE:
        return None
    # A job's task that completed is done whatever the condition (SwarmKit treats ``any`` as
    # ``on-failure`` for jobs).
    if last.status.state == TaskState.COMPLETE and (
        policy.condition == RestartCondition.ON_FAILURE or last.spec.mode.is_job
    ):
        return None
    # On the managers' clock (``seen_at``), as ``now`` is: a worker's clock set an hour off
    # must not restart its tasks at once, or never.
    if policy.max_attempts:
        since = now - policy.window_s if policy.window_s else float("-inf")
        ended = sum(1 for t in history if ended_by_itself(t) and t.status.seen_at >= since)
        # The first task is not a restart: a slot gets 1 + max_attempts tasks.
        if ended > policy.max_attempts:
            return None
    return last.status.seen_at + policy.delay_s


def new_task(
    service: Service,
    slot: int,
    node_id: str,
    now: float,
    desired: TaskState = TaskState.RUNNING,
    job_iteration: int = 0,
) -> Task:
    return Task(
        id=new_id(),
        service_id=service.id,
        service_name=service.spec.name,
        spec=service.spec,
        spec_version=service.spec_version,
        slot=slot,
        node_id=node_id,
        desired_state=desired,
        status=TaskStatus(TaskState.NEW, now, "created"),
        created_at=now,
        updated_at=now,
        job_iteration=job_iteration,
    )
