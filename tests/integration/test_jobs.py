"""Jobs (issue 12): `service create --mode replicated-job|global-job` on a one-node swarm,
through Docker's CLI (the Engine API) and swarmpy's: tasks run to completion, at most
MaxConcurrent at once, a failed one is retried under the restart policy, an update runs the
job again, and `service ls` / `ps` show it as Docker does."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.support.controlplane import all_ready, init, joined, token
from tests.support.daemons import Daemon, DaemonSet
from tests.support.docker_cli import DOCKER, DockerCli
from tests.support.localswarm import free_addr, load_busybox
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

# A job's tasks are scheduled, prepared, run and reported one after the other.
JOB_S = 120.0


def ls_row(d: Daemon, name: str) -> str:
    """The MODE and REPLICAS columns of ``name`` in `swarmpy service ls`."""
    out = d.ok("service", "ls", "--filter", f"name={name}", "--format", "{{.Mode}}|{{.Replicas}}")
    return out.strip()


def ps_states(d: Daemon, name: str) -> list[str]:
    """`service ps` rows of ``name``: "<desired> <current state word>", sorted."""
    out = d.ok("service", "ps", name, "--format", "{{.DesiredState}} {{.CurrentState}}")
    return sorted(" ".join(line.split()[:2]) for line in out.splitlines() if line.strip())


def go_time(text: str) -> datetime.datetime:
    """Go's RFC 3339 time with up to nine fractional digits."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    return datetime.datetime.fromisoformat(f"{whole}.{(fraction or '0')[:6]:0<6}+00:00")


def task_docs(cli: DockerCli, name: str) -> list[dict[str, Any]]:
    ids = cli.ok("service", "ps", "-q", "--no-trunc", name).split()
    docs: list[dict[str, Any]] = json.loads(cli.ok("inspect", "--type", "task", *ids))
    return docs


def job_iteration(cli: DockerCli, name: str) -> str:
    return cli.ok("service", "inspect", "--format", "{{.JobStatus.JobIteration.Index}}", name)


def test_jobs_run_to_completion_from_dockers_cli(one_node_swarm: Daemon, tmp_path: Path) -> None:
    assert DOCKER.exists(), f"{DOCKER} is missing: run scripts/install-deps.sh (docker.io)"
    d = one_node_swarm
    cli = DockerCli(d)
    # Docker's CLI waits for the job with its progress bars and ends on "job complete".
    out = cli.ok(
        "service", "create", "--name", "rjob", "--mode", "replicated-job",
        "--replicas", "3", "--max-concurrent", "2", "busybox", "sh", "-c", "sleep 1; exit 0",
        timeout=JOB_S,
    )  # fmt: skip
    assert "job complete" in out
    assert ls_row(d, "rjob") == "replicated job|0/2 (3/3 completed)"
    assert cli.ok("service", "ls", "--filter", "name=rjob", "--format", "{{.Replicas}}") == (
        "0/2 (3/3 completed)\n"
    )
    assert ps_states(d, "rjob") == ["Complete Complete"] * 3
    mode = "{{json .Spec.Mode}}"
    assert cli.ok("service", "inspect", "--format", mode, "rjob") == (
        '{"ReplicatedJob":{"MaxConcurrent":2,"TotalCompletions":3}}\n'
    )
    assert job_iteration(cli, "rjob") == "0\n"
    # At most two at once: the third task was made only once one of the first two ended.
    first, second, third = sorted(task_docs(cli, "rjob"), key=lambda t: t["CreatedAt"])
    ended = min(go_time(t["Status"]["Timestamp"]) for t in (first, second))
    assert go_time(third["CreatedAt"]) >= ended
    assert sorted(t["Slot"] for t in (first, second, third)) == [0, 1, 2]
    assert {t["DesiredState"] for t in (first, second, third)} == {"complete"}

    # --force starts the next iteration: three new completions, the old ones are history.
    cli.ok("service", "update", "--force", "rjob", timeout=JOB_S)
    assert job_iteration(cli, "rjob") == "1\n"
    assert ls_row(d, "rjob") == "replicated job|0/2 (3/3 completed)"
    assert len(ps_states(d, "rjob")) == 6

    # Jobs take no update config: Docker's CLI refuses the flags itself on create, the
    # daemon refuses them on update.
    refused = cli.refused("service", "create", "--mode", "replicated-job",
                          "--update-parallelism", "2", "busybox", "true")  # fmt: skip
    assert "update and rollback configuration is not supported for jobs" in refused
    refused = cli.refused("service", "update", "--update-parallelism", "2", "rjob")
    assert "Jobs may not have an update config" in refused

    # A job failing at first is retried under the restart policy until it completes.
    marks = tmp_path / "marks"
    marks.mkdir()
    cli.ok(
        "service", "create", "-d", "--name", "flaky", "--mode", "replicated-job",
        "--restart-delay", "100ms", "--mount", f"type=bind,source={marks},target=/m",
        "busybox", "sh", "-c", "test -e /m/seen && exit 0; touch /m/seen; exit 3",
    )  # fmt: skip
    wait_for(
        "flaky to complete on its second try",
        lambda: ls_row(d, "flaky") == "replicated job|0/1 (1/1 completed)",
        JOB_S,
    )
    assert ps_states(d, "flaky") == ["Complete Complete", "Shutdown Failed"]

    # A global job runs once on every node (this swarm has one).
    cli.ok("service", "create", "--name", "gjob", "--mode", "global-job", "busybox", "true",
           timeout=JOB_S)  # fmt: skip
    assert ls_row(d, "gjob") == "global job|0/0 (1/1 completed)"
    assert ps_states(d, "gjob") == ["Complete Complete"]
    listed = cli.ok("service", "ls", "--filter", "mode=global-job", "--format", "{{.Name}}")
    assert listed == "gjob\n"
    refused = cli.refused("service", "scale", "gjob=2")
    assert "scale can only be used with replicated or replicated-job mode" in refused

    for name in ("rjob", "flaky", "gjob"):
        d.ok("service", "rm", name)


def test_jobs_from_swarmpys_cli(one_node_swarm: Daemon, tmp_path: Path) -> None:
    d = one_node_swarm
    out = d.ok(
        "service", "create", "--name", "rjob", "--mode", "replicated-job",
        "--replicas", "3", "--max-concurrent", "2", "busybox", "true",
        timeout=JOB_S,
    )  # fmt: skip
    assert out.rstrip().endswith("job complete")
    assert ls_row(d, "rjob") == "replicated job|0/2 (3/3 completed)"
    assert ps_states(d, "rjob") == ["Complete Complete"] * 3
    (doc,) = d.json("service", "inspect", "rjob")
    assert doc["Spec"]["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 3}}
    assert "UpdateConfig" not in doc["Spec"]

    # Scaling a replicated job sets its completions and runs it again.
    assert d.ok("service", "scale", "rjob=4", timeout=JOB_S).startswith("rjob scaled to 4")
    assert ls_row(d, "rjob") == "replicated job|0/2 (4/4 completed)"
    d.ok("service", "update", "--max-concurrent", "1", "rjob", timeout=JOB_S)
    assert ls_row(d, "rjob") == "replicated job|0/1 (4/4 completed)"
    refused = d.cli("service", "update", "--update-parallelism", "2", "rjob")
    assert refused.returncode != 0
    assert "update and rollback configuration is not supported for jobs" in refused.stderr
    refused = d.cli("service", "create", "--mode", "global-job", "--replicas", "2",
                    "busybox", "true")  # fmt: skip
    assert refused.returncode != 0
    assert "replicas can only be used with replicated or replicated-job mode" in refused.stderr

    # The restart policy retries a failed job task until it completes.
    marks = tmp_path / "marks"
    marks.mkdir()
    d.ok(
        "service", "create", "--name", "flaky", "--mode", "replicated-job",
        "--restart-delay", "100ms", "--mount", f"type=bind,source={marks},target=/m",
        "busybox", "sh", "-c", "test -e /m/seen && exit 0; touch /m/seen; exit 3",
        timeout=JOB_S,
    )  # fmt: skip
    assert ls_row(d, "flaky") == "replicated job|0/1 (1/1 completed)"
    assert ps_states(d, "flaky") == ["Complete Complete", "Shutdown Failed"]

    d.ok("service", "create", "--name", "gjob", "--mode", "global-job", "busybox", "true",
         timeout=JOB_S)  # fmt: skip
    assert ls_row(d, "gjob") == "global job|0/0 (1/1 completed)"
    refused = d.cli("service", "scale", "gjob=2")
    assert refused.returncode != 0
    assert "scale can only be used with replicated or replicated-job mode" in refused.stderr

    for name in ("rjob", "flaky", "gjob"):
        d.ok("service", "rm", name)


def test_a_job_from_docker_py(one_node_swarm: Daemon) -> None:
    d = one_node_swarm
    api = docker.APIClient(base_url=f"unix://{d.socket}", version="1.41")
    try:
        mode = docker.types.ServiceMode("replicated-job", replicas=3, concurrency=2)
        template = docker.types.TaskTemplate(docker.types.ContainerSpec("busybox", ["true"]))
        api.create_service(template, name="pyjob", mode=mode)  # type: ignore[no-untyped-call]

        def tasks() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = api.tasks(filters={"service": "pyjob"})  # type: ignore[no-untyped-call]
            return found

        def states() -> list[str]:
            return sorted(t["Status"]["State"] for t in tasks())

        wait_for("pyjob's 3 completions", lambda: states() == ["complete"] * 3, JOB_S)
        doc = api.inspect_service("pyjob")  # type: ignore[no-untyped-call]
        assert doc["JobStatus"]["JobIteration"] == {"Index": 0}
        assert doc["Spec"]["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 3}}
        assert {t["JobIteration"]["Index"] for t in tasks()} == {0}
        api.remove_service("pyjob")  # type: ignore[no-untyped-call]
    finally:
        api.close()


def test_a_global_job_runs_once_on_every_node_and_on_a_node_that_joins(
    daemons: DaemonSet,
) -> None:
    manager, worker, late = daemons.start(3)
    for d in (manager, worker, late):
        load_busybox(d)
    ip, port = free_addr()
    init(manager, ip, port)
    joined(worker, token(manager, "worker"), *free_addr(), f"{ip}:{port}")
    wait_for("two Ready nodes", lambda: all_ready(manager, 2), timeout=30)
    manager.ok("service", "create", "--name", "gjob", "--mode", "global-job", "busybox", "true",
               timeout=JOB_S)  # fmt: skip
    assert ls_row(manager, "gjob") == "global job|0/0 (2/2 completed)"

    def ran_on() -> list[str]:
        # A global task is named after its node (hostnames are alike on one machine).
        out = manager.ok("service", "ps", "gjob", "--format", "{{.Name}} {{.CurrentState}}")
        return sorted(line.split()[0] for line in out.splitlines() if "Complete" in line)

    assert len(set(ran_on())) == 2
    # A node that joins afterwards runs the job too; the others do not run it again.
    joined(late, token(manager, "worker"), *free_addr(), f"{ip}:{port}")
    wait_for("three completions", lambda: len(ran_on()) == 3, JOB_S)
    assert len(set(ran_on())) == 3
    assert ls_row(manager, "gjob") == "global job|0/0 (3/3 completed)"
    manager.ok("service", "rm", "gjob")
