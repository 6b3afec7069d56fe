"""The task state machine: walks one task through its states by calling its ``Controller``
and reports every state change (SwarmKit's exec.Do)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from swarmpy.agent.exec import Controller
from swarmpy.agent.steps import UNHEALTHY, Step, exit_status, next_step
from swarmpy.errors import SwarmpyError
from swarmpy.model import HealthState, Task, TaskState, TaskStatus, now

log = logging.getLogger(__name__)

T = TypeVar("T")

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
            except Exception as e:  # whatever stops preparing, we cannot run it  # noqa: BLE001
                await self._fail(TaskState.REJECTED, e)
                return
            self._set(TaskState.READY, "prepared")
        elif step is Step.START:
            self._set(TaskState.STARTING, "starting")
            try:
                await ctl.start()
                health = await self._interruptible(self._until_checked())
            except _DesiredChanged:
                return
            except Exception as e:  # the task fails, the agent goes on  # noqa: BLE001
                await self._fail(TaskState.FAILED, e)
                return
            if health is not None:
                self._set(TaskState.RUNNING, "started")
        elif step is Step.WAIT:
            try:
                await self._interruptible(self._until_exit())
            except _DesiredChanged:
                return
            except Exception as e:  # the task fails, the agent goes on  # noqa: BLE001
                await self._fail(TaskState.FAILED, e)
                return
        elif step is Step.SHUTDOWN:
            grace = self.task.spec.container.stop_grace_s
            try:
                await ctl.shutdown(grace)
            except Exception as e:  # the task fails, the agent goes on  # noqa: BLE001
                await self._fail(TaskState.FAILED, e)
                return
            await self._end(TaskState.SHUTDOWN, "shutdown")

    async def _until_checked(self) -> HealthState | None:
        """After the start, as SwarmKit's controller: a container with a healthcheck stays
        STARTING until it passes (only then is it a backend of its service). Its health,
        or None when the task ended meanwhile (it exited, or failed its check)."""
        health = await self._controller.health_change(HealthState.NONE)
        if health == HealthState.STARTING:
            self._set_health(health)
            code, health = await self._exit_or_health(health)
            if code is not None:
                await self._exited(code)
                return None
        if health == HealthState.UNHEALTHY:
            await self._stop_unhealthy()
            return None
        self._status = dataclasses.replace(self._status, health=health)
        return health

    async def _until_exit(self) -> None:
        """While RUNNING: wait for the container to exit, or to fail its healthcheck."""
        health = self._status.health
        if health == HealthState.NONE:
            await self._exited(await self._controller.wait())
            return
        while health != HealthState.UNHEALTHY:
            # A check that starts over (its monitor restarted with the daemon) is no failure.
            code, health = await self._exit_or_health(health)
            if code is not None:
                await self._exited(code)
                return
        await self._stop_unhealthy()

    async def _exit_or_health(self, health: HealthState) -> tuple[int | None, HealthState]:
        """Whichever comes first: the container's exit code, or its health moving from
        ``health`` (an exit wins a tie: a container that ended failed no check)."""
        waiting = asyncio.ensure_future(self._controller.wait())
        change = asyncio.ensure_future(self._controller.health_change(health))
        try:
            await asyncio.wait({waiting, change}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            change.cancel()
            if not waiting.done():
                waiting.cancel()
            await asyncio.gather(waiting, change, return_exceptions=True)
        if waiting.done() and not waiting.cancelled():
            return waiting.result(), health
        return None, change.result()

    async def _stop_unhealthy(self) -> None:
        """The container failed its healthcheck: the managers take it out of its service's
        backends at once, then it is stopped and fails with Docker's cause."""
        self._set_health(HealthState.UNHEALTHY)
        await self._controller.shutdown(self.task.spec.container.stop_grace_s)
        await self._exited(await self._controller.wait(), UNHEALTHY)

    async def _exited(self, code: int, cause: str = "") -> None:
        state, err = exit_status(code, cause)
        await self._end(state, "finished", err=err, exit_code=code)

    async def _interruptible(self, aw: Awaitable[T]) -> T:
        """Await ``aw`` unless the task's desired state moves to shutdown meanwhile."""
        work = asyncio.ensure_future(aw)
        changed: asyncio.Future[None] | None = None
        try:
            while True:
                if self.task.desired_state >= TaskState.SHUTDOWN:
                    raise _DesiredChanged
                changed = asyncio.ensure_future(self._desired_change())
                done, _ = await asyncio.wait({work, changed}, return_when=asyncio.FIRST_COMPLETED)
                if work in done:
                    return work.result()
        finally:
            # Also when this runner is cancelled (the agent stops): asyncio.wait leaves
            # what it waits for running, and a pending task collected with the agent is
            # logged as destroyed, once per task of a restarted agent.
            left = [f for f in (work, changed) if f is not None and not f.done()]
            for f in left:
                f.cancel()
            await asyncio.gather(*left, return_exceptions=True)

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
        except Exception as e:  # the end is reported all the same  # noqa: BLE001
            log.warning("task %s: releasing its network failed: %s", self.task.id, e)
        self._set(state, message, err=err, exit_code=exit_code)

    def _set_health(self, health: HealthState) -> None:
        """Report a change of the container's health alone (the state stays)."""
        if health == self._status.health:
            return
        self._status = dataclasses.replace(self._status, health=health, timestamp=now())
        self._report(self.task.id, self._status)

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
            # Known once the sandbox is made; after that, kept as reported (Docker shows a
            # task's ports also once it has ended).
            port_status=self._controller.port_status() or self._status.port_status,
        )
        self._report(self.task.id, self._status)
