"""A host-mode port without a published number (`-p mode=host,target=80`): the node that
runs the task picks a free port, opens it to the task and reports it in the task's PortStatus,
shown by `service ps` and `inspect` as Docker's; it keeps it across a daemon restart."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.support.daemons import DaemonSet
from tests.support.docker_cli import DockerCli
from tests.support.localswarm import remove_service, run_task, single_node_swarm
from tests.support.poll import wait_for

pytestmark = pytest.mark.root


def test_the_node_picks_a_host_port(daemons: DaemonSet) -> None:
    (d,) = daemons.start(1)
    with single_node_swarm(d):
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
        status = json.loads(DockerCli(d).ok("inspect", "--type", "task", task_id))
        assert status[0]["Status"]["PortStatus"]["Ports"] == [
            {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": picked, "PublishMode": "host"}
        ]
        rules = subprocess.run(
            ["nft", "list", "table", "ip", f"{d.prefix}ports"], capture_output=True, text=True
        ).stdout
        assert f"dport {picked} " in rules, rules
        # The spec keeps no published port: Docker's too.
        spec = d.json("service", "inspect", "hp")[0]["Spec"]["EndpointSpec"]["Ports"]
        assert spec == [{"Protocol": "tcp", "TargetPort": 80, "PublishMode": "host"}]

        d.restart()
        wait_for("hp's port kept", lambda: shown() == ports, 30, 0.2)
        rules = subprocess.run(
            ["nft", "list", "table", "ip", f"{d.prefix}ports"], capture_output=True, text=True
        ).stdout
        assert f"dport {picked} " in rules, rules
        remove_service(d, "hp")
