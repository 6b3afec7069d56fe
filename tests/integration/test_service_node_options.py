"""Service options a node carries out, on a one-node swarm (one daemon for them all):

- a host-mode port without a published number (`-p mode=host,target=80`): the node picks a
  free port, opens it to the task and reports it in the task's PortStatus, shown by
  `service ps` and `inspect` as Docker's, kept across a daemon restart;
- `--log-driver/--log-opt`: json-file rotated at max-size keeping max-file files, none keeping
  nothing (reading refused in Docker's words), any other driver refused; through swarmpy's
  CLI and Docker's."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.daemons import Daemon
from tests.support.docker_cli import DockerCli
from tests.support.localswarm import remove_service, run_task
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

CHATTY = (
    "i=0; while true; do echo line-$i-abcdefghijklmnopqrstuvwxyz; i=$((i+1)); sleep 0.005; done"
)
NOT_READABLE = "configured logging driver does not support reading"


def log_files(d: Daemon, container: str) -> list[Path]:
    """The container's json-file log and its rotated files."""
    task_id = container.rsplit(".", 1)[-1]
    return sorted((d.data_root / "containers" / task_id).glob(f"{task_id}-json.log*"))


def rotated_names(d: Daemon, container: str) -> list[str]:
    return [f.name.split("-json.")[1] for f in log_files(d, container)]


def sizes(d: Daemon, container: str) -> list[int]:
    """The log files' sizes (one being rotated away meanwhile is skipped)."""
    out = []
    for f in log_files(d, container):
        with contextlib.suppress(FileNotFoundError):
            out.append(f.stat().st_size)
    return out


def host_rules(d: Daemon) -> str:
    return subprocess.run(
        ["nft", "list", "table", "ip", f"{d.prefix}ports"], capture_output=True, text=True
    ).stdout


def test_host_port_pick_and_log_drivers(one_node_swarm: Daemon) -> None:
    d = one_node_swarm
    docker = DockerCli(d)
    check_host_port_pick(d, docker)
    check_log_drivers(d, docker)


def check_host_port_pick(d: Daemon, docker: DockerCli) -> None:
    run_task(d, "hp", "-p", "mode=host,target=80", "busybox", "sleep", "3600")

    def shown() -> str | None:
        ports = d.ok("service", "ps", "--format", "{{.Ports}}", "hp").strip()
        return ports or None

    ports = wait_for("hp's PortStatus", shown, 30, 0.2)
    found = re.fullmatch(r"\*:(\d+)->80/tcp", ports)
    assert found, ports
    picked = int(found.group(1))
    assert picked > 0
    task_id = d.ok("service", "ps", "-q", "hp").strip()
    status = json.loads(docker.ok("inspect", "--type", "task", task_id))
    assert status[0]["Status"]["PortStatus"]["Ports"] == [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": picked, "PublishMode": "host"}
    ]
    assert f"dport {picked} " in host_rules(d)
    # The spec keeps no published port: Docker's too.
    spec = d.json("service", "inspect", "hp")[0]["Spec"]["EndpointSpec"]["Ports"]
    assert spec == [{"Protocol": "tcp", "TargetPort": 80, "PublishMode": "host"}]

    d.restart()
    wait_for("hp's port kept", lambda: shown() == ports, 30, 0.2)
    assert f"dport {picked} " in host_rules(d)
    remove_service(d, "hp")


def check_log_drivers(d: Daemon, docker: DockerCli) -> None:
    name = run_task(d, "lj", "--log-driver", "json-file", "--log-opt", "max-size=1k",
                    "--log-opt", "max-file=2", "busybox", "sh", "-c", CHATTY)  # fmt: skip
    wait_for("a rotated log", lambda: len(log_files(d, name)) == 2, 30, 0.2)
    # Rotated again and again: never a third file, none much past 1 kB.
    assert set(rotated_names(d, name)) <= {"log", "log.1"}
    assert all(size <= 1000 + 100 for size in sizes(d, name))
    assert "line-" in d.ok("service", "logs", "--tail", "5", "lj")
    spec = json.loads(docker.ok("service", "inspect", "lj"))[0]["Spec"]["TaskTemplate"]
    assert spec["LogDriver"] == {
        "Name": "json-file",
        "Options": {"max-file": "2", "max-size": "1k"},
    }
    remove_service(d, "lj")

    name = run_task(d, "ln", "--log-driver", "none", "busybox", "sh", "-c",
                    "echo hello; sleep 3600")  # fmt: skip
    assert log_files(d, name) == []
    assert d.ok("service", "logs", "ln") == ""
    refused = d.cli("logs", name)
    assert (refused.returncode, refused.stderr) == (
        1,
        f"Error response from daemon: {NOT_READABLE}\n",
    )
    assert docker.refused("logs", name) == f"Error response from daemon: {NOT_READABLE}\n"
    config = json.loads(docker.ok("inspect", name))[0]["HostConfig"]["LogConfig"]
    assert config == {"Type": "none", "Config": {}}
    remove_service(d, "ln")

    refused = d.cli("service", "create", "--log-driver", "syslog", "busybox")
    assert refused.returncode == 1
    assert 'logging driver "syslog" is not supported' in refused.stderr
    assert refused.stderr.count("\n") == 1
    assert 'logging driver "syslog" is not supported' in docker.refused(
        "service", "create", "--log-driver", "syslog", "busybox"
    )
    assert d.ok("service", "ls", "-q") == ""
