"""Jobs in Docker's JSON: Mode.ReplicatedJob / GlobalJob, JobStatus, a task's JobIteration,
and the ServiceStatus counts `service ls` prints as "1/2 (3/3 completed)"."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from swarmpy.dockerjson.service import service_json, service_spec, service_spec_json
from swarmpy.errors import InvalidArgument
from swarmpy.manager.state.store import NODES, SERVICES, TASKS, LocalLog, Snapshot, Store, Tx
from swarmpy.model import (
    ContainerSpec,
    JobStatus,
    Node,
    NodeState,
    Service,
    ServiceMode,
    ServiceSpec,
    Task,
    TaskState,
)
from swarmpy.server.convert.task import task_json
from swarmpy.server.routes.services import service_status
from tests.support.builders import node, task

COMPLETE, RUNNING, FAILED = TaskState.COMPLETE, TaskState.RUNNING, TaskState.FAILED


def body(mode: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "Name": "job",
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}},
        "Mode": mode,
        **extra,
    }


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ({"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 3}}, (3, 2)),
        # Docker's daemon defaults: one at a time, completions as many as that.
        ({"ReplicatedJob": {}}, (1, 1)),
        ({"ReplicatedJob": {"MaxConcurrent": 4, "TotalCompletions": None}}, (4, 4)),
    ],
)
def test_replicated_job_mode_is_read(mode: dict[str, Any], expected: tuple[int, int]) -> None:
    spec = service_spec(body(mode))
    assert spec.mode == ServiceMode.REPLICATED_JOB
    assert (spec.replicas, spec.max_concurrent) == expected


def test_global_job_mode_is_read() -> None:
    assert service_spec(body({"GlobalJob": {}})).mode == ServiceMode.GLOBAL_JOB


@pytest.mark.parametrize(
    ("request_body", "words"),
    [
        (body({"GlobalJob": {}, "Replicated": {"Replicas": 1}}), "only one service mode"),
        (body({"GlobalJob": {}}, UpdateConfig={"Parallelism": 1}), "Jobs may not have an update"),
        (body({"ReplicatedJob": {"MaxConcurrent": -1}}), "MaxConcurrent"),
    ],
)
def test_bad_job_specs_are_refused(request_body: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        service_spec(request_body)


def test_a_job_spec_goes_out_without_update_configs_and_comes_back_the_same() -> None:
    spec = ServiceSpec(
        "job",
        ContainerSpec("busybox"),
        mode=ServiceMode.REPLICATED_JOB,
        replicas=3,
        max_concurrent=2,
    )
    out = service_spec_json(spec)
    assert out["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 3}}
    assert "UpdateConfig" not in out
    assert "RollbackConfig" not in out
    assert service_spec(out) == spec
    # A RollbackConfig given to a job is kept, and shown, as SwarmKit does.
    rolls = dataclasses.replace(spec, rollback=dataclasses.replace(spec.rollback, parallelism=3))
    assert service_spec_json(rolls)["RollbackConfig"]["Parallelism"] == 3
    assert service_spec(service_spec_json(rolls)) == rolls
    global_job = dataclasses.replace(
        spec, mode=ServiceMode.GLOBAL_JOB, replicas=0, max_concurrent=0
    )
    assert service_spec_json(global_job)["Mode"] == {"GlobalJob": {}}


def test_service_and_task_json_carry_the_job_iteration() -> None:
    spec = ServiceSpec("job", ContainerSpec("busybox"), mode=ServiceMode.GLOBAL_JOB, replicas=0)
    svc = Service("svc-job", spec, job_status=JobStatus(2, 1.5))
    out = service_json(svc, 7, (0, 1, 2))
    assert out["JobStatus"] == {
        "JobIteration": {"Index": 2},
        "LastExecution": "1970-01-01T00:00:01.5Z",
    }
    assert out["ServiceStatus"] == {"RunningTasks": 0, "DesiredTasks": 1, "CompletedTasks": 2}
    t = task(svc, 0, COMPLETE, "id-a", desired=COMPLETE, job_iteration=2)
    assert task_json(t, 3, {})["JobIteration"] == {"Index": 2}
    assert task_json(t, 3, {})["DesiredState"] == "complete"


def snapshot(nodes: list[Node], services: list[Service], tasks: list[Task]) -> Snapshot:
    async def build() -> Snapshot:
        store = Store(LocalLog())

        def fill(tx: Tx) -> None:
            for n in nodes:
                tx.create(NODES, n)
            for s in services:
                tx.create(SERVICES, s)
            for t in tasks:
                tx.create(TASKS, t)

        await store.update(fill)
        return store.view()

    return asyncio.run(build())


def test_service_status_counts_the_current_iteration_of_a_job() -> None:
    rspec = ServiceSpec(
        "rjob",
        ContainerSpec("busybox"),
        mode=ServiceMode.REPLICATED_JOB,
        replicas=3,
        max_concurrent=2,
    )
    rjob = Service("svc-rjob", rspec, job_status=JobStatus(1, 0.0))
    gspec = dataclasses.replace(rspec, name="gjob", mode=ServiceMode.GLOBAL_JOB, replicas=0)
    gjob = Service("svc-gjob", gspec, job_status=JobStatus(0, 0.0))
    nodes = [node("a"), node("b"), node("c", state=NodeState.DOWN)]
    tasks = [
        task(rjob, 1, COMPLETE, "id-a", desired=COMPLETE, job_iteration=0),  # an earlier run
        task(rjob, 1, COMPLETE, "id-a", desired=COMPLETE, job_iteration=1),
        task(rjob, 2, COMPLETE, "id-b", desired=COMPLETE, job_iteration=1),
        task(rjob, 3, RUNNING, "id-b", desired=COMPLETE, job_iteration=1),
        task(gjob, 0, COMPLETE, "id-a", desired=COMPLETE),
        task(gjob, 0, RUNNING, "id-b", desired=COMPLETE),
        task(gjob, 0, FAILED, "id-c", desired=COMPLETE),
    ]
    status = service_status(snapshot(nodes, [rjob, gjob], tasks), [rjob, gjob])
    # Docker's CLI prints these as "1/2 (2/3 completed)" and "1/1 (1/2 completed)".
    assert status[rjob.id] == (1, 2, 2)
    assert status[gjob.id] == (1, 1, 1)


def test_service_ls_shows_a_jobs_mode_and_progress_as_dockers_formatter() -> None:
    from swarmpy.cli.service.ls import row

    def listed(mode: dict[str, Any], running: int, desired: int, completed: int) -> list[str]:
        status = {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": completed}
        doc = {"ID": "x" * 25, "Spec": {"Name": "j", "Mode": mode}, "ServiceStatus": status}
        shown = row(doc)
        return [shown["Mode"], shown["Replicas"]]

    replicated_job = {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 3}}
    assert listed(replicated_job, 2, 2, 1) == ["replicated job", "2/2 (1/3 completed)"]
    assert listed(replicated_job, 0, 2, 3) == ["replicated job", "0/2 (3/3 completed)"]
    assert listed({"GlobalJob": {}}, 1, 1, 2) == ["global job", "1/1 (2/3 completed)"]
    assert listed({"Global": {}}, 2, 2, 0) == ["global", "2/2"]
    assert listed({"Replicated": {"Replicas": 3}}, 1, 3, 0) == ["replicated", "1/3"]
