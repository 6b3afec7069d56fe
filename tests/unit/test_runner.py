"""The task state machine: the pure next-step decision and the runner over a fake controller."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from swarmpy.agent.runner import TaskRunner
from swarmpy.agent.steps import Step, next_step
from swarmpy.errors import ImageError
from swarmpy.model import (
    ContainerSpec,
    HealthState,
    PortConfig,
    ServiceSpec,
    Task,
    TaskState,
    TaskStatus,
)

S = TaskState


def in_loop(fn: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test in a fresh event loop (no pytest-asyncio here)."""

    @functools.wraps(fn)
    def wrapper() -> None:
        asyncio.run(asyncio.wait_for(fn(), 10))

    return wrapper


@pytest.mark.parametrize(
    ("state", "desired", "step"),
    [
        (S.ASSIGNED, S.RUNNING, Step.ACCEPT),
        (S.ACCEPTED, S.RUNNING, Step.PREPARE),
        (S.PREPARING, S.RUNNING, Step.PREPARE),
        (S.READY, S.RUNNING, Step.START),
        (S.READY, S.READY, Step.IDLE),
        (S.STARTING, S.RUNNING, Step.START),
        (S.RUNNING, S.RUNNING, Step.WAIT),
        (S.RUNNING, S.SHUTDOWN, Step.SHUTDOWN),
        (S.ASSIGNED, S.SHUTDOWN, Step.SHUTDOWN),
        (S.RUNNING, S.REMOVE, Step.SHUTDOWN),
        (S.COMPLETE, S.RUNNING, Step.DONE),
        (S.FAILED, S.SHUTDOWN, Step.DONE),
        (S.SHUTDOWN, S.REMOVE, Step.DONE),
    ],
)
def test_next_step(state: TaskState, desired: TaskState, step: Step) -> None:
    assert next_step(state, desired) is step


class FakeController:
    """Records calls; ``wait`` returns when the test sets the exit code or shutdown is called."""

    def __init__(self, prepare_error: Exception | None = None, exit_code: int | None = 0) -> None:
        self.calls: list[str] = []
        self.prepare_error = prepare_error
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if exit_code is not None:
            self.exited.set_result(exit_code)
        self.grace: float | None = None
        # The container's health as the test moves it; NONE: no healthcheck.
        self.health = HealthState.NONE
        self.health_moved = asyncio.Event()

    def set_health(self, health: HealthState) -> None:
        self.health = health
        self.health_moved.set()

    async def health_change(self, current: HealthState) -> HealthState:
        if current == HealthState.NONE:
            return self.health
        while self.health == current:
            self.health_moved.clear()
            await self.health_moved.wait()
        return self.health

    async def prepare(self) -> None:
        self.calls.append("prepare")
        if self.prepare_error:
            raise self.prepare_error

    async def start(self) -> None:
        self.calls.append("start")

    async def wait(self) -> int:
        self.calls.append("wait")
        return await asyncio.shield(self.exited)

    async def shutdown(self, grace_s: float) -> None:
        self.calls.append("shutdown")
        self.grace = grace_s
        if not self.exited.done():
            # A health-failing container that ignores SIGTERM is killed after the grace.
            self.exited.set_result(137 if self.health == HealthState.UNHEALTHY else 143)

    async def terminate(self) -> None:
        self.calls.append("terminate")

    async def release(self) -> None:
        self.calls.append("release")

    async def remove(self) -> None:
        self.calls.append("remove")

    def port_status(self) -> tuple[PortConfig, ...]:
        return self.ports

    # The host-mode ports the node opened for the task, as a test sets them.
    ports: tuple[PortConfig, ...] = ()


def make_task(desired: TaskState = S.RUNNING) -> Task:
    spec = ServiceSpec(name="web", container=ContainerSpec(image="busybox", stop_grace_s=3.0))
    return Task(
        id="t1",
        service_id="s1",
        service_name="web",
        spec=spec,
        slot=1,
        desired_state=desired,
        status=TaskStatus(state=S.ASSIGNED),
    )


class Recorder:
    def __init__(self) -> None:
        self.statuses: list[TaskStatus] = []
        self._reached: dict[TaskState, asyncio.Event] = {}

    def __call__(self, task_id: str, status: TaskStatus) -> None:
        assert task_id == "t1"
        self.statuses.append(status)
        self._event(status.state).set()

    def _event(self, state: TaskState) -> asyncio.Event:
        return self._reached.setdefault(state, asyncio.Event())

    async def reached(self, state: TaskState) -> None:
        """Return once the runner has reported ``state``."""
        await self._event(state).wait()

    @property
    def states(self) -> list[TaskState]:
        return [s.state for s in self.statuses]


FORWARD = [S.ACCEPTED, S.PREPARING, S.READY, S.STARTING, S.RUNNING]


async def settle() -> None:
    """Let every callback that is ready run: the fake controller never waits on time, so
    whatever the runner would do next without a change of desired state, it has done."""
    for _ in range(20):
        await asyncio.sleep(0)


@in_loop
async def test_success_runs_to_complete() -> None:
    ctl, rec = FakeController(exit_code=0), Recorder()
    final = await TaskRunner(make_task(), ctl, rec).run()
    assert rec.states == [*FORWARD, S.COMPLETE]
    assert final.state is S.COMPLETE
    assert final.exit_code == 0
    assert final.err == ""
    assert ctl.calls == ["prepare", "start", "wait", "release"]


@in_loop
async def test_the_network_is_released_before_any_end_is_reported() -> None:
    """The managers hand an ended task's address to another task: the ended container's
    sandbox must be gone by then, or it answers for that address."""
    for ctl in (FakeController(exit_code=3), FakeController(prepare_error=ImageError("no"))):
        seen: list[bool] = []

        def report(
            task_id: str, status: TaskStatus, ctl: FakeController = ctl, seen: list[bool] = seen
        ) -> None:
            if status.state.terminal:
                seen.append("release" in ctl.calls)  # released when reported?

        await TaskRunner(make_task(), ctl, report).run()
        assert seen == [True]


@in_loop
async def test_non_zero_exit_fails() -> None:
    rec = Recorder()
    final = await TaskRunner(make_task(), FakeController(exit_code=3), rec).run()
    assert rec.states[-1] is S.FAILED
    assert final.exit_code == 3
    assert final.err == "task: non-zero exit (3)"


@in_loop
async def test_prepare_failure_rejects_with_message() -> None:
    ctl, rec = FakeController(prepare_error=ImageError("pull access denied for nope")), Recorder()
    final = await TaskRunner(make_task(), ctl, rec).run()
    assert rec.states == [S.ACCEPTED, S.PREPARING, S.REJECTED]
    assert final.err == "pull access denied for nope"
    assert "start" not in ctl.calls


@in_loop
async def test_shutdown_while_running_uses_stop_grace() -> None:
    ctl, rec = FakeController(exit_code=None), Recorder()
    runner = TaskRunner(make_task(), ctl, rec)
    run = asyncio.create_task(runner.run())
    await rec.reached(S.RUNNING)
    runner.update(dataclasses.replace(runner.task, desired_state=S.SHUTDOWN))
    final = await asyncio.wait_for(run, 5)
    assert final.state is S.SHUTDOWN
    assert rec.states == [*FORWARD, S.SHUTDOWN]
    assert ctl.grace == 3.0


@in_loop
async def test_desired_ready_parks_until_running_wanted() -> None:
    ctl, rec = FakeController(exit_code=0), Recorder()
    runner = TaskRunner(make_task(desired=S.READY), ctl, rec)
    run = asyncio.create_task(runner.run())
    await rec.reached(S.READY)
    await settle()
    assert not run.done()
    assert rec.states[-1] is S.READY
    assert "start" not in ctl.calls
    runner.update(dataclasses.replace(runner.task, desired_state=S.RUNNING))
    assert (await asyncio.wait_for(run, 5)).state is S.COMPLETE


@in_loop
async def test_states_never_go_backwards() -> None:
    rec = Recorder()
    task = dataclasses.replace(make_task(), status=TaskStatus(state=S.RUNNING))
    runner = TaskRunner(task, FakeController(exit_code=0), rec)
    await runner.run()
    # A resumed (adopted) running task only waits: no replay of earlier states.
    assert rec.states == [S.COMPLETE]
    runner._set(S.RUNNING, "late")  # a stale result arriving after the end is dropped
    assert rec.states == [S.COMPLETE]
    assert all(a < b for a, b in zip(rec.states, rec.states[1:], strict=False))


def last_health(rec: Recorder) -> HealthState:
    return rec.statuses[-1].health


def with_health(ctl: FakeController) -> FakeController:
    ctl.health = HealthState.STARTING
    return ctl


@in_loop
async def test_a_task_with_a_healthcheck_runs_only_once_healthy() -> None:
    ctl, rec = with_health(FakeController(exit_code=None)), Recorder()
    runner = TaskRunner(make_task(), ctl, rec)
    run = asyncio.create_task(runner.run())
    await rec.reached(S.STARTING)
    await settle()
    assert rec.states[-1] is S.STARTING
    assert last_health(rec) is HealthState.STARTING
    ctl.set_health(HealthState.HEALTHY)
    await rec.reached(S.RUNNING)
    assert last_health(rec) is HealthState.HEALTHY
    runner.update(dataclasses.replace(runner.task, desired_state=S.SHUTDOWN))
    assert (await asyncio.wait_for(run, 5)).state is S.SHUTDOWN


@in_loop
async def test_an_unhealthy_task_leaves_its_backends_then_stops_and_fails_as_docker() -> None:
    ctl, rec = with_health(FakeController(exit_code=None)), Recorder()
    run = asyncio.create_task(TaskRunner(make_task(), ctl, rec).run())
    ctl.set_health(HealthState.HEALTHY)
    await rec.reached(S.RUNNING)
    ctl.set_health(HealthState.UNHEALTHY)
    final = await asyncio.wait_for(run, 5)
    # Reported unhealthy while still running (out of VIPs and DNS) before it is stopped.
    unhealthy = [s for s in rec.statuses if s.health is HealthState.UNHEALTHY]
    assert unhealthy[0].state is S.RUNNING
    assert ctl.calls.count("shutdown") == 1
    assert ctl.grace == 3.0
    assert final.state is S.FAILED
    assert final.err == "task: non-zero exit (137): dockerexec: unhealthy container"


@in_loop
async def test_a_task_failing_its_first_checks_never_runs() -> None:
    ctl, rec = with_health(FakeController(exit_code=None)), Recorder()
    run = asyncio.create_task(TaskRunner(make_task(), ctl, rec).run())
    await rec.reached(S.STARTING)
    ctl.set_health(HealthState.UNHEALTHY)
    final = await asyncio.wait_for(run, 5)
    assert S.RUNNING not in rec.states
    assert final.err == "task: non-zero exit (137): dockerexec: unhealthy container"


@in_loop
async def test_a_container_exiting_before_its_check_passes_fails_with_its_code() -> None:
    ctl, rec = with_health(FakeController(exit_code=None)), Recorder()
    run = asyncio.create_task(TaskRunner(make_task(), ctl, rec).run())
    await rec.reached(S.STARTING)
    ctl.exited.set_result(2)
    final = await asyncio.wait_for(run, 5)
    assert final.err == "task: non-zero exit (2)"
    assert "shutdown" not in ctl.calls


@in_loop
async def test_shutdown_wanted_while_the_check_has_not_passed() -> None:
    ctl, rec = with_health(FakeController(exit_code=None)), Recorder()
    runner = TaskRunner(make_task(), ctl, rec)
    run = asyncio.create_task(runner.run())
    await rec.reached(S.STARTING)
    runner.update(dataclasses.replace(runner.task, desired_state=S.SHUTDOWN))
    final = await asyncio.wait_for(run, 5)
    assert final.state is S.SHUTDOWN
    assert S.RUNNING not in rec.states


@in_loop
async def test_a_check_starting_over_after_a_restart_does_not_stop_the_task() -> None:
    ctl, rec = FakeController(exit_code=None), Recorder()
    ctl.health = HealthState.HEALTHY
    adopted = dataclasses.replace(
        make_task(), status=TaskStatus(state=S.RUNNING, health=HealthState.HEALTHY)
    )
    run = asyncio.create_task(TaskRunner(adopted, ctl, rec).run())
    await settle()
    ctl.set_health(HealthState.STARTING)  # the daemon restarted: its monitor starts over
    await settle()
    ctl.set_health(HealthState.HEALTHY)
    await settle()
    assert "shutdown" not in ctl.calls
    ctl.exited.set_result(0)
    assert (await asyncio.wait_for(run, 5)).state is S.COMPLETE


@in_loop
async def test_a_runner_stopped_with_its_agent_leaves_no_task_behind() -> None:
    # The agent's shutdown cancels its runners (containers live on, re-adopted later): what a
    # runner awaited for them must end too, or every task of a restarted agent is logged as
    # "Task was destroyed but it is pending" once it is collected.
    before = asyncio.all_tasks()
    ctl, rec = FakeController(exit_code=None), Recorder()
    run = asyncio.create_task(TaskRunner(make_task(), ctl, rec).run())
    await rec.reached(S.RUNNING)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await settle()
    assert asyncio.all_tasks() == before
