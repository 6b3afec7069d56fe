"""A daemon restarted after its node was down: the tasks it ran are either its still (their
wiring taken back) or were moved away by the managers meanwhile (only to be stopped)."""

from __future__ import annotations

import asyncio
import dataclasses

from swarmpy.agent.worker import Worker
from swarmpy.model import Task, TaskState, TaskStatus
from tests.unit.test_runner import FakeController, make_task


def test_only_a_task_still_to_run_gets_its_wiring_back() -> None:
    # A task moved away while its node was down waited 10 s for a network the node's view
    # no longer had before its stale container was even asked to stop.
    async def main() -> tuple[list[str], list[str]]:
        readopted: list[str] = []
        controllers: dict[str, FakeController] = {}

        async def readopt(task: Task) -> None:
            readopted.append(task.id)

        def controller_for(task: Task) -> FakeController:
            controllers[task.id] = FakeController(exit_code=None)
            return controllers[task.id]

        worker = Worker(controller_for, lambda task_id, status: None, readopt)
        running = TaskStatus(state=TaskState.RUNNING)
        kept = dataclasses.replace(make_task(), id="kept", status=running)
        moved = dataclasses.replace(make_task(TaskState.SHUTDOWN), id="moved", status=running)
        await worker.assign([kept, moved], [], complete=True)
        await asyncio.sleep(0.1)
        calls = controllers["moved"].calls
        await worker.shutdown()
        return readopted, calls

    readopted, moved_calls = asyncio.run(main())
    assert readopted == ["kept"]
    assert "shutdown" in moved_calls
