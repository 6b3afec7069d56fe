"""What a task runner does next: a pure function of the task's actual and desired state, so
it can be tested without containers."""

from __future__ import annotations

import enum

from swarmpy.model import TaskState


class Step(enum.Enum):
    ACCEPT = "accept"
    PREPARE = "prepare"
    START = "start"
    WAIT = "wait"  # the container runs: wait for it to exit
    SHUTDOWN = "shutdown"
    IDLE = "idle"  # nothing to do until the desired state changes
    DONE = "done"  # the task reached a terminal state


def next_step(state: TaskState, desired: TaskState) -> Step:
    """Given where a task is and where it should be, what the runner does next."""
    if state.terminal:
        return Step.DONE
    if desired >= TaskState.SHUTDOWN:
        return Step.SHUTDOWN
    if state < TaskState.ACCEPTED:
        return Step.ACCEPT
    if state < TaskState.READY:
        return Step.PREPARE
    if state < TaskState.RUNNING:
        # READY is where a task parks when it should be prepared but not run (start-first
        # updates): only go on once RUNNING is wanted.
        return Step.START if desired >= TaskState.RUNNING else Step.IDLE
    return Step.WAIT


# Docker's cause for a task whose container was stopped for failing its healthcheck.
UNHEALTHY = "dockerexec: unhealthy container"


def exit_status(code: int, cause: str = "") -> tuple[TaskState, str]:
    """The terminal state and error message of a container that exited, by itself or
    stopped for a ``cause`` (SwarmKit's exitError)."""
    if code == 0:
        return TaskState.COMPLETE, ""
    if cause:
        return TaskState.FAILED, f"task: non-zero exit ({code}): {cause}"
    return TaskState.FAILED, f"task: non-zero exit ({code})"
