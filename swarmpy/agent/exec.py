"""The agent's executor: the protocols a task runs through and the task state machine.

Like SwarmKit's agent/exec: a ``Controller`` knows how to run one task's container; a
``TaskRunner`` walks the task through its states by calling the controller, and reports every
state change. Deciding the next step is a pure function (``next_step``) so it can be tested
without containers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from swarmpy.engine.images.records import ImageConfig
from swarmpy.errors import SwarmpyError
from swarmpy.model import Task, TaskState, TaskStatus, now

log = logging.getLogger(__name__)

# ImageConfig is the image store's type; re-exported as part of the executor's interface.
__all__ = [
    "Controller",
    "ImageConfig",
    "ImageSource",
    "NetworkProvider",
    "RootfsOps",
    "SandboxInfo",
    "Step",
    "TaskRunner",
    "exit_status",
    "next_step",
]

T = TypeVar("T")


# ---------------------------------------------------------------- what the executor consumes


@dataclass(frozen=True)
class SandboxInfo:
    """A task's network sandbox, made by the NetworkProvider before the container exists."""

    netns_path: str  # "/run/netns/<name>"
    resolv_conf: str  # file contents
    hosts: str
    hostname: str


class Controller(Protocol):
    """Runs one task's container. Every method raises ``swarmpy.errors`` types."""

    async def prepare(self) -> None: ...

    async def start(self) -> None: ...

    async def wait(self) -> int:
        """Block until the container exits; return its exit code."""
        ...

    async def shutdown(self, grace_s: float) -> None:
        """SIGTERM, then SIGKILL if it is still running after ``grace_s``."""
        ...

    async def terminate(self) -> None: ...

    async def release(self) -> None:
        """Let go of what an ended container holds besides its record: its network sandbox
        and addresses, which the managers give to other tasks once its end is reported (a
        sandbox left plugged in would answer for an address that has moved on)."""
        ...

    async def remove(self) -> None: ...


class NetworkProvider(Protocol):
    async def setup(self, task: Task) -> SandboxInfo: ...

    async def teardown(self, task: Task) -> None: ...


class ImageSource(Protocol):
    async def ensure(self, ref: str, progress: Callable[[str], None] | None) -> None:
        """Pull ``ref`` unless it is already present."""
        ...

    def layer_dirs(self, ref: str) -> list[Path]:
        """The unpacked layers, lowest first."""
        ...

    def config(self, ref: str) -> ImageConfig: ...


class RootfsOps(Protocol):
    """Mounts an image's layers as a container's root (``swarmpy.engine.images.rootfs``)."""

    def mount_rootfs(self, layers: list[Path], container_dir: Path) -> Path: ...

    def unmount_rootfs(self, container_dir: Path) -> None: ...


# ---------------------------------------------------------------- the pure decision


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


def exit_status(code: int) -> tuple[TaskState, str]:
    """The terminal state and error message of a container that exited by itself."""
    if code == 0:
        return TaskState.COMPLETE, ""
    return TaskState.FAILED, f"task: non-zero exit ({code})"


# ---------------------------------------------------------------- the runner

Report = Callable[[str, TaskStatus], None]


class _DesiredChanged(Exception):
    """The desired state moved past what the interrupted step was working towards."""


class TaskRunner:
    """Drives one task through a Controller until it reaches a terminal state.

    ``run()`` returns once the task is terminal; removing the container afterwards is the
    agent's decision (``remove()``), since it keeps the last few exited tasks for ``ps -a``.
    """

    def __init__(self, task: Task, controller: Controller, report: Report) -> None:
        self.task = task
        self._controller = controller
        self._report = report
        self._status = task.status
        self._changed = asyncio.Event()

    @property
    def status(self) -> TaskStatus:
        return self._status

    def update(self, task: Task) -> None:
        """Take a newer version of the task from the manager (typically a new desired state)."""
        if task.id != self.task.id:
            raise ValueError(f"runner for {self.task.id} got task {task.id}")
        self.task = task
        self._changed.set()

    async def run(self) -> TaskStatus:
        while True:
            step = next_step(self._status.state, self.task.desired_state)
            if step is Step.DONE:
                return self._status
            if step is Step.IDLE:
                await self._desired_change()
                continue
            await self._do(step)

    async def remove(self) -> None:
        await self._controller.remove()

    async def _do(self, step: Step) -> None:
        ctl = self._controller
        if step is Step.ACCEPT:
            self._set(TaskState.ACCEPTED, "accepted")
        elif step is Step.PREPARE:
            self._set(TaskState.PREPARING, "preparing")
            try:
                await self._interruptible(ctl.prepare())
            except _DesiredChanged:
                return
            except Exception as e:  # anything that stops preparing means we cannot run it
                await self._fail(TaskState.REJECTED, e)
                return
            self._set(TaskState.READY, "prepared")
        elif step is Step.START:
            self._set(TaskState.STARTING, "starting")
            try:
                await ctl.start()
            except Exception as e:
                await self._fail(TaskState.FAILED, e)
                return
            self._set(TaskState.RUNNING, "started")
        elif step is Step.WAIT:
            try:
                code = await self._interruptible(ctl.wait())
            except _DesiredChanged:
                return
            except Exception as e:
                await self._fail(TaskState.FAILED, e)
                return
            state, err = exit_status(code)
            await self._end(state, "finished", err=err, exit_code=code)
        elif step is Step.SHUTDOWN:
            grace = self.task.spec.container.stop_grace_s
            try:
                await ctl.shutdown(grace)
            except Exception as e:
                await self._fail(TaskState.FAILED, e)
                return
            await self._end(TaskState.SHUTDOWN, "shutdown")

    async def _interruptible(self, aw: Awaitable[T]) -> T:
        """Await ``aw`` unless the task's desired state moves to shutdown meanwhile."""
        work = asyncio.ensure_future(aw)
        while True:
            if self.task.desired_state >= TaskState.SHUTDOWN:
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
                raise _DesiredChanged
            changed = asyncio.ensure_future(self._desired_change())
            done, _ = await asyncio.wait({work, changed}, return_when=asyncio.FIRST_COMPLETED)
            if work in done:
                changed.cancel()
                return work.result()

    async def _desired_change(self) -> None:
        await self._changed.wait()
        self._changed.clear()

    async def _fail(self, state: TaskState, e: Exception) -> None:
        if not isinstance(e, SwarmpyError):
            log.exception("task %s: unexpected error", self.task.id)
        await self._end(state, state.label.lower(), err=str(e))

    async def _end(self, state: TaskState, message: str, err: str = "", exit_code: int = 0) -> None:
        """Report a terminal state, after the container has let go of its network."""
        try:
            await self._controller.release()
        except Exception as e:  # the end is reported all the same
            log.warning("task %s: releasing its network failed: %s", self.task.id, e)
        self._set(state, message, err=err, exit_code=exit_code)

    def _set(self, state: TaskState, message: str, err: str = "", exit_code: int = 0) -> None:
        if state <= self._status.state:
            # States only move forward: a late result of an interrupted step is dropped.
            log.debug("task %s: ignoring %s after %s", self.task.id, state, self._status.state)
            return
        self._status = dataclasses.replace(
            self._status,
            state=state,
            timestamp=now(),
            message=message,
            err=err,
            exit_code=exit_code,
            container_id=self.task.id,
        )
        self._report(self.task.id, self._status)
