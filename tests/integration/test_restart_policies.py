"""Standalone containers' restart policies across daemon restarts, through Debian's docker CLI,
as a Docker user sees them: which containers are up again after the daemon was killed (SIGKILL,
as acceptance runs do) or stopped (SIGTERM) and started on the same data root, with the
RestartCount and State that ``docker inspect`` shows on dockerd (moby's ``daemon.restore``:
a container its policy starts again begins a new run count, and its manual stop is forgotten).

The daemon's containers outlive it (as dockerd's with live-restore); the ones it would take down
with it are killed by hand while no daemon runs."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemons import Daemon, DaemonSet, start_daemon
from tests.support.docker_cli import DOCKER, DockerCli
from tests.support.localswarm import load_busybox
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

SLEEPER = ("busybox", "sleep", "1000")


def state(docker: DockerCli, name: str) -> dict[str, Any]:
    """What ``docker inspect`` says of its run: Status, ExitCode, Pid and RestartCount."""
    (doc,) = json.loads(docker.ok("inspect", name))
    return {
        "Status": doc["State"]["Status"],
        "ExitCode": doc["State"]["ExitCode"],
        "Pid": doc["State"]["Pid"],
        "RestartCount": doc["RestartCount"],
    }


def exited(code: int, restarts: int = 0) -> dict[str, Any]:
    """The state of a container that ended with ``code`` after ``restarts`` restarts."""
    return {"Status": "exited", "ExitCode": code, "Pid": 0, "RestartCount": restarts}


def statuses(docker: DockerCli) -> dict[str, str]:
    """``docker ps -a``: each container's status, its age left out ("Up", "Exited (3)")."""
    rows = docker.ok("ps", "-a", "--format", "{{.Names}}\t{{.Status}}").splitlines()
    out = {}
    for row in rows:
        name, status = row.split("\t")
        words = status.split()
        out[name] = " ".join(words[:2]) if words[0] == "Exited" else words[0]
    return out


def running_again(docker: DockerCli, name: str, count: int, not_pid: int) -> dict[str, Any]:
    """Its state once it runs again under another pid, having been restarted ``count`` times."""

    def probe() -> dict[str, Any] | None:
        now = state(docker, name)
        if now["Status"] == "running" and now["Pid"] not in (0, not_pid):
            return now
        return None

    now = wait_for(f"{name} running again", probe, 20)
    assert now["RestartCount"] == count, (name, now)
    return now


def kill_process(pid: int) -> None:
    """The container's process killed from the host, and gone (reaped, not a zombie) after."""
    os.kill(pid, signal.SIGKILL)

    def gone() -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        return stat.rsplit(")", 1)[1].split()[0] == "Z"

    wait_for(f"process {pid} to end", gone, 10)


def restart_daemon(d: Daemon, hard: bool, docker: DockerCli, die: list[str]) -> None:
    """The daemon killed (``hard``) or stopped, the containers named in ``die`` killed while
    it is down (as dockerd takes its containers down with it), and the daemon started again."""
    pids = [state(docker, name)["Pid"] for name in die]
    if hard:
        d.kill()
    else:
        d.stop()
    for pid in pids:
        kill_process(pid)
    d.start()
    d.wait_ready()


def test_restart_policies_across_daemon_restarts(daemons: DaemonSet) -> None:
    assert DOCKER.exists(), f"{DOCKER} is missing: run scripts/install-deps.sh (docker.io)"
    d = start_daemon(daemons)
    load_busybox(d)
    docker = DockerCli(d)

    for name, policy in [
        ("always", "always"),
        ("unless", "unless-stopped"),
        ("unless-held", "unless-stopped"),
        ("always-held", "always"),
        ("failing", "on-failure:5"),
        ("plain", "no"),
    ]:
        docker.ok("run", "-d", "--restart", policy, "--name", name, *SLEEPER)
    docker.ok("run", "-d", "--restart", "on-failure", "--name", "done", "busybox", "true")
    flaky = ("busybox", "sh", "-c", "exit 3")
    docker.ok("run", "-d", "--restart", "on-failure:2", "--name", "flaky", *flaky)
    # A user's stop holds unless-stopped back across a daemon restart, not always.
    docker.ok("stop", "-t", "0", "unless-held", "always-held")
    wait_for("done to exit", lambda: state(docker, "done")["Status"] == "exited")
    wait_for("flaky to give up after 2 restarts", lambda: state(docker, "flaky") == exited(3, 2))

    # A process that dies while the daemon runs comes back (after a back-off), counted.
    first = state(docker, "always")["Pid"]
    kill_process(first)
    running_again(docker, "always", 1, first)

    # SIGKILL: the daemon and its containers die; what their policy keeps is up again, with a
    # run count started over (dockerd's restore starts them as `docker start` does).
    before = {name: state(docker, name) for name in ("always", "unless", "failing", "plain")}
    restart_daemon(d, True, docker, ["always", "unless", "failing", "plain"])
    for name in ("always", "unless", "failing"):
        running_again(docker, name, 0, before[name]["Pid"])
    running_again(docker, "always-held", 0, 0)
    # Ended while no daemon watched: 255, as dockerd's restore reports a task containerd lost.
    assert state(docker, "plain") == exited(255)
    assert state(docker, "unless-held")["Status"] == "exited"
    assert state(docker, "done") == exited(0)
    assert state(docker, "flaky") == exited(3, 2)  # its tries were used up: not started
    assert statuses(docker) == {
        "always": "Up",
        "unless": "Up",
        "unless-held": "Exited (137)",
        "always-held": "Up",
        "failing": "Up",
        "plain": "Exited (255)",
        "done": "Exited (0)",
        "flaky": "Exited (3)",
    }
    # The start at the daemon's restart forgot always-held's manual stop: its policy holds.
    held = state(docker, "always-held")["Pid"]
    kill_process(held)
    running_again(docker, "always-held", 1, held)

    # SIGTERM: the same, and a stop since then holds unless-stopped back.
    docker.ok("stop", "-t", "0", "unless")
    before = {name: state(docker, name) for name in ("always", "failing")}
    restart_daemon(d, False, docker, ["always", "failing"])
    for name in ("always", "failing"):
        running_again(docker, name, 0, before[name]["Pid"])
    assert statuses(docker) == {
        "always": "Up",
        "unless": "Exited (137)",
        "unless-held": "Exited (137)",
        "always-held": "Up",
        "failing": "Up",
        "plain": "Exited (255)",
        "done": "Exited (0)",
        "flaky": "Exited (3)",
    }
    docker.ok("rm", "-f", *statuses(docker))
    assert docker.ok("ps", "-aq") == ""
