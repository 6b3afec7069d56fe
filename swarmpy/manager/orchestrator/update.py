"""Rolling update: replace outdated tasks a batch at a time, watch them, pause or roll back.

The progress of an update is derived from the tasks themselves (which spec they run, when
they reached RUNNING, whether they failed since the update started) plus the service's
``update_status``, so a new leader picks an update up where the old one left it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from swarmpy.model import (
    FailureAction,
    Service,
    Task,
    TaskState,
    UpdateConfig,
    UpdateOrder,
    UpdateState,
    UpdateStatus,
    outdated,
)

# The states in which the updater replaces tasks and waits for the new ones to run.
UPDATES_IN_PROGRESS = (UpdateState.UPDATING, UpdateState.ROLLBACK_STARTED)
_FAILED = (TaskState.FAILED, TaskState.REJECTED)


@dataclass(frozen=True)
class UpdateDecision:
    replace: tuple[Task, ...] = ()  # live tasks to stop, each replaced in its slot
    order: UpdateOrder = UpdateOrder.STOP_FIRST  # how: stop each one first, or start first
    service: Service | None = None  # the service with a new update_status (or rolled back)
    wake_at: float | None = None


def plan_update(
    service: Service, live: Mapping[object, Task], history: Sequence[Task], now: float
) -> UpdateDecision:
    """Decide the next step of the service's rolling update.

    ``live`` is the runnable task of each wanted slot (slot number or node id); ``history``
    every task of the service, to find the new ones that failed.
    """
    old = sorted((t for t in live.values() if outdated(t, service)), key=_slot_order)
    status = service.update_status
    current = status if status and status.spec_version == service.spec_version else None
    if current is None:
        if not old:
            return UpdateDecision()
        started = UpdateStatus(
            UpdateState.UPDATING, now, 0.0, "update in progress", service.spec_version
        )
        return UpdateDecision(service=dataclasses.replace(service, update_status=started))
    if current.state not in UPDATES_IN_PROGRESS:
        return UpdateDecision()  # paused or finished: the user has to act
    rolling_back = current.state == UpdateState.ROLLBACK_STARTED
    config = service.spec.rollback if rolling_back else service.spec.update

    failures = [t for t in history if _failed_during(t, service, current)]
    allowed = config.max_failure_ratio * max(1, len(live))
    if failures and config.failure_action != FailureAction.CONTINUE and len(failures) > allowed:
        return UpdateDecision(service=_fail(service, current, config, failures[-1], now))

    new = [t for t in live.values() if t.spec_version == service.spec_version]
    if any(t.status.state < TaskState.RUNNING for t in new):
        return UpdateDecision()  # the batch is still starting: its state changes wake us
    # When the managers saw a RUNNING task's status is when it started running, on their
    # clock, as ``now`` and ``started_at`` are: an agent's skewed clock must not cut the
    # monitor short or stretch it.
    last_start = max(
        (t.status.seen_at for t in new if t.created_at >= current.started_at), default=None
    )
    if not old:
        done_at = (last_start or now) + config.monitor_s
        if now < done_at:
            return UpdateDecision(wake_at=done_at)
        state, message = (
            (UpdateState.ROLLBACK_COMPLETED, "rollback completed")
            if rolling_back
            else (UpdateState.COMPLETED, "update completed")
        )
        finished = dataclasses.replace(current, state=state, completed_at=now, message=message)
        return UpdateDecision(service=dataclasses.replace(service, update_status=finished))
    if last_start is not None and now < last_start + config.delay_s:
        return UpdateDecision(wake_at=last_start + config.delay_s)
    batch = old if config.parallelism <= 0 else old[: config.parallelism]
    return UpdateDecision(replace=tuple(batch), order=config.order)


def _slot_order(task: Task) -> tuple[int, str]:
    return (task.slot, task.node_id)


def _failed_during(task: Task, service: Service, current: UpdateStatus) -> bool:
    """A new task that failed on its own while the update (and its monitoring) ran."""
    return (
        task.spec_version == service.spec_version
        and task.status.state in _FAILED
        and task.desired_state <= TaskState.RUNNING
        and task.status.seen_at >= current.started_at
    )


def _fail(
    service: Service, current: UpdateStatus, config: UpdateConfig, task: Task, now: float
) -> Service:
    cause = f"due to failure or early termination of task {task.id}"
    rolling_back = current.state == UpdateState.ROLLBACK_STARTED
    if (
        config.failure_action == FailureAction.ROLLBACK
        and not rolling_back
        and service.previous_spec
    ):
        version = service.spec_version + 1
        return dataclasses.replace(
            service,
            spec=service.previous_spec,
            previous_spec=service.spec,
            spec_version=version,
            update_status=UpdateStatus(
                UpdateState.ROLLBACK_STARTED, now, 0.0, f"update rolled back {cause}", version
            ),
            updated_at=now,
        )
    # A failing rollback pauses rather than rolling back the rollback.
    state, what = (
        (UpdateState.ROLLBACK_PAUSED, "rollback")
        if rolling_back
        else (UpdateState.PAUSED, "update")
    )
    paused = dataclasses.replace(current, state=state, message=f"{what} paused {cause}")
    return dataclasses.replace(service, update_status=paused)
