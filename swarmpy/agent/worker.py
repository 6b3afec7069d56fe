"""Reconciles the manager's assignments with the task runners on this node.

The manager owns desired state; the worker owns only its containers. Given the complete
set (or a change to it) it starts a runner per new task, hands newer task versions to the
existing runners, and removes the containers of tasks that are no longer assigned.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable

from swarmpy.agent.exec import Controller
from swarmpy.agent.runner import TaskRunner
from swarmpy.model import Task, TaskState, TaskStatus

log = logging.getLogger(__name__)

ControllerFactory = Callable[[Task], Controller]
Reporter = Callable[[str, TaskStatus], None]


class Worker:
    def __init__(
        self,
        controller_for: ControllerFactory,
        report: Reporter,
        readopt: Callable[[Task], Awaitable[None]] | None = None,
    ) -> None:
        self._controller_for = controller_for
        self._report = report
        self._readopt = readopt
        self._runners: dict[str, TaskRunner] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._removing: set[str] = set()
        self._removals: set[asyncio.Task[None]] = set()  # referenced so they are not collected

    @property
    def task_ids(self) -> set[str]:
        return set(self._runners)

    def statuses(self) -> dict[str, TaskStatus]:
        return {tid: r.status for tid, r in self._runners.items()}

    async def assign(self, tasks: Iterable[Task], removed: Iterable[str], complete: bool) -> None:
        tasks = list(tasks)
        ids = {t.id for t in tasks}
        for task in tasks:
            runner = self._runners.get(task.id)
            if runner is not None:
                runner.update(task)
            elif not task.status.state.terminal:
                self._start(task)
        gone = set(removed)
        if complete:
            gone |= set(self._runners) - ids
        for task_id in gone:
            self._remove(task_id)

    def _start(self, task: Task) -> None:
        runner = TaskRunner(task, self._controller_for(task), self._report)
        self._runners[task.id] = runner
        self._running[task.id] = asyncio.create_task(self._run(runner))

    async def _run(self, runner: TaskRunner) -> None:
        try:
            task = runner.task
            if (
                self._readopt is not None
                and task.status.state >= TaskState.READY
                and task.desired_state <= TaskState.COMPLETE  # a job runs to complete
            ):
                # A task this node started before a daemon restart: its container and
                # namespace live on, our in-memory wiring (DNS socket, VIP rules) does not.
                # Not for one the managers moved away meanwhile: it only needs stopping (its
                # teardown goes by names), and its networks may no longer be in the node's
                # view, which readopt waited for, 10 s, before the stop could begin.
                await self._readopt(task)
            await runner.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("task %s: runner failed", runner.task.id)

    def _remove(self, task_id: str) -> None:
        if task_id in self._removing or task_id not in self._runners:
            return
        self._removing.add(task_id)
        removal = asyncio.create_task(self._remove_now(task_id))
        self._removals.add(removal)
        removal.add_done_callback(self._removals.discard)

    async def _remove_now(self, task_id: str) -> None:
        runner = self._runners[task_id]
        try:
            if not runner.status.state.terminal:
                # Not assigned any more: stop it the way the manager would have asked.
                runner.update(dataclasses.replace(runner.task, desired_state=TaskState.REMOVE))
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        asyncio.shield(self._running[task_id]),
                        runner.task.spec.container.stop_grace_s + 5,
                    )
            await runner.remove()
        except Exception:
            log.exception("task %s: removing its container failed", task_id)
        finally:
            self._runners.pop(task_id, None)
            task = self._running.pop(task_id, None)
            if task is not None:
                task.cancel()
            self._removing.discard(task_id)

    async def shutdown(self) -> None:
        """Daemon stop: leave containers running (they are re-adopted), stop watching."""
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
