"""`service create --mode replicated-job|global-job`, --replicas and --max-concurrent as
docker/cli reads them, the flags jobs refuse, and a job's progress while the CLI waits."""

from __future__ import annotations

from typing import Any

import pytest

from swarmpy.cli.progress import assess
from swarmpy.cli.service.options import (
    CreateOptions,
    UpdateOptions,
    check_update_flags,
    create_spec,
    update_spec,
)
from swarmpy.errors import InvalidArgument
from swarmpy.model import ServiceMode


def create(**flags: Any) -> tuple[ServiceMode, int, int]:
    spec = create_spec(CreateOptions(image="busybox", name="j", **flags))
    return spec.mode, spec.replicas, spec.max_concurrent


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"mode": "replicated-job", "replicas": 3, "max_concurrent": 2}, (3, 2)),
        # --max-concurrent defaults to --replicas, then both to the daemon's 1.
        ({"mode": "replicated-job", "replicas": 3}, (3, 3)),
        ({"mode": "replicated-job"}, (1, 1)),
        ({"mode": "replicated-job", "max_concurrent": 4}, (4, 4)),
        ({"mode": "global-job"}, (0, 0)),
    ],
)
def test_job_modes_and_their_counts(flags: dict[str, Any], expected: tuple[int, int]) -> None:
    mode, total, concurrent = create(**flags)
    assert mode == ServiceMode(flags["mode"])
    assert (total, concurrent) == expected


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ({"mode": "global-job", "replicas": 2}, "replicas can only be used with replicated or"),
        ({"mode": "global", "replicas": 2}, "replicas can only be used with replicated or"),
        ({"mode": "replicated", "max_concurrent": 2}, "max-concurrent can only be used with"),
        ({"mode": "global-job", "max_concurrent": 2}, "max-concurrent can only be used with"),
        ({"mode": "global-job", "max_replicas": 2}, "replicas-max-per-node can only be used"),
        ({"mode": "replicated-job", "update_parallelism": 2}, "not supported for jobs"),
        ({"mode": "global-job", "rollback_delay": "1s"}, "not supported for jobs"),
        ({"mode": "batch"}, "for --mode"),
        ({"mode": "replicated-job", "max_concurrent": -1}, 'parsing "-1": invalid syntax'),
    ],
)
def test_flags_a_mode_does_not_take_are_refused(flags: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidArgument, match=words):
        create(**flags)


def test_update_changes_a_jobs_max_concurrent_but_not_its_update_config() -> None:
    job = create_spec(CreateOptions(image="busybox", name="j", mode="replicated-job", replicas=4))
    changed = update_spec(job, UpdateOptions(max_concurrent=2), lambda n: n)
    assert (changed.replicas, changed.max_concurrent) == (4, 2)
    with pytest.raises(InvalidArgument, match="not supported for jobs"):
        update_spec(job, UpdateOptions(update_delay="1s"), lambda n: n)
    with pytest.raises(InvalidArgument, match="replicas can only be used with replicated mode"):
        update_spec(job, UpdateOptions(replicas=5), lambda n: n)
    plain = create_spec(CreateOptions(image="busybox", name="web"))
    with pytest.raises(InvalidArgument, match="max-concurrent can only be used"):
        update_spec(plain, UpdateOptions(max_concurrent=2), lambda n: n)
    # Checked before the service is read: whether it is a job is not known yet.
    check_update_flags(UpdateOptions(max_concurrent=2))
    with pytest.raises(InvalidArgument, match="invalid syntax"):
        check_update_flags(UpdateOptions(max_concurrent=-2))


def job_task(slot: int, state: str, iteration: int = 1, node: str = "n1") -> dict[str, Any]:
    return {
        "ID": f"t{slot}{state}{iteration}",
        "ServiceID": "s",
        "Slot": slot,
        "NodeID": node,
        "DesiredState": "complete",
        "CreatedAt": f"2026-01-01T00:00:0{slot}Z",
        "Status": {"State": state},
        "JobIteration": {"Index": iteration},
    }


def test_a_replicated_jobs_progress_counts_its_current_iterations_completions() -> None:
    service = {
        "ID": "s",
        "Spec": {"Mode": {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 3}}},
        "JobStatus": {"JobIteration": {"Index": 1}},
    }
    old = [job_task(s, "complete", iteration=0) for s in (0, 1, 2)]
    going = assess(service, [*old, job_task(0, "complete"), job_task(1, "running")], set())
    assert going.header == "job progress: 1 out of 3 complete"
    assert going.lines[0].startswith("1/3: complete")
    assert going.lines[1].startswith("2/3: running")
    assert not going.converged
    done = assess(service, [job_task(s, "complete") for s in (0, 1, 2)], set())
    assert done.converged
    assert done.job
    nothing = {**service, "Spec": {"Mode": {"ReplicatedJob": {"TotalCompletions": 0}}}}
    assert assess(nothing, [], set()).converged


def test_a_global_jobs_progress_is_done_when_every_nodes_task_completed() -> None:
    service = {"ID": "s", "Spec": {"Mode": {"GlobalJob": {}}}, "JobStatus": {"JobIteration": {}}}
    tasks = [job_task(0, "complete", 0, "n1"), job_task(0, "starting", 0, "n2")]
    assert not assess(service, tasks, set()).converged
    tasks[1] = job_task(0, "complete", 0, "n2")
    assert assess(service, tasks, set()).converged
    assert not assess(service, [], set()).converged


def test_inspect_pretty_of_a_job_names_no_mode_and_no_update_config(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from swarmpy.cli.service.inspect import print_pretty

    doc = {
        "ID": "x" * 25,
        "Spec": {
            "Name": "j",
            "Mode": {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}},
            "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}},
        },
    }
    print_pretty(doc)
    out = capsys.readouterr().out
    assert "Service Mode:\n" in out
    assert "Replicas" not in out
    assert "UpdateConfig" not in out
