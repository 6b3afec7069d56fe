"""`swarmpy lab demo`: the swarm journey on a fresh two-host lab, every step checked.

Each command is printed as a user would type it at that host's prompt (``node1$ swarmpy
node ls``) followed by its real output. The checks behind each step read ``--format json``
listings that are not shown, so what is printed is exactly what a user would see.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pyroute2 import IPRoute

from swarmpy.errors import SwarmpyError
from swarmpy.lab import DEFAULT_NAME, manage, teardown
from swarmpy.lab.hosts import Host, Lab
from swarmpy.lab.manage import Echo, Shell

T = TypeVar("T")

SERVICE = "myservice"
NETWORK = "overnet"
# How long the failover may take: heartbeat grace plus rescheduling plus an image-cached start.
NODE_DOWN_TIMEOUT_S = 60.0
RESCHEDULE_TIMEOUT_S = 90.0
CONVERGE_TIMEOUT_S = 30.0


class DemoFailed(SwarmpyError):
    """A step's expectation did not hold."""


def run_demo(name: str, *, keep: bool, echo: Echo) -> bool:
    """The whole journey; True when every step held. The lab is removed at the end unless
    ``keep`` (also when a step failed or the demo was interrupted)."""
    manage.check_prerequisites()
    if manage.exists(name):
        echo(f"==> removing the existing lab {name}: the demo starts from a fresh one")
        manage.down(name)
    try:
        echo("\n## 1. Two hosts and a registry; node1 creates the swarm and node2 joins")
        lab = manage.up(name, 2, 1, echo)
        Journey(Shell(lab, echo), lab).run()
        echo(
            "\nPASS: swarm formed, overlay network, service on both hosts, VIP and DNS, "
            "failover after a host died"
        )
        return True
    except SwarmpyError as exc:
        echo(f"\nFAIL: {exc.message}")
        if not keep:
            echo("(swarmpy lab demo --keep leaves the lab and its daemon logs for a look)")
        return False
    finally:
        if keep and manage.exists(name):
            suffix = "" if name == DEFAULT_NAME else f" --name {name}"
            echo(f"==> lab {name} kept: swarmpy lab exec{suffix} node1 -- swarmpy node ls")
            echo(f"    daemon logs: {manage.state_dir(name)}/node*/daemon.log")
        else:
            echo(f"==> removing lab {name}")
            manage.down(name)


class Journey:
    def __init__(self, shell: Shell, lab: Lab) -> None:
        self.shell = shell
        self.lab = lab
        self.node1, self.node2 = manage.swarm_hosts(lab)

    def step(self, title: str) -> None:
        self.shell.echo(f"\n## {title}")

    def run(self) -> None:
        self.nodes()
        self.network()
        self.service()
        self.placement()
        self.connectivity()
        self.failover()

    # ------------------------------------------------------------ steps

    def nodes(self) -> None:
        self.step("2. The nodes of the swarm")
        self.shell.swarmpy(self.node1, "node", "ls")
        states = {r["Hostname"]: r["Status"] for r in self.shell.rows(self.node1, "node", "ls")}
        expect(
            states == {"node1": "Ready", "node2": "Ready"},
            f"step 2: expected node1 and node2 Ready, got {states}",
        )

    def network(self) -> None:
        self.step("3. An overlay network; a worker sees it only once a task needs it")
        self.shell.swarmpy(self.node1, "network", "create", "-d", "overlay", NETWORK)
        expect(
            NETWORK in self._network_names(self.node1, show=True),
            f"step 3: {NETWORK} missing from network ls on node1",
        )
        expect(
            NETWORK not in self._network_names(self.node2, show=True),
            f"step 3: {NETWORK} already on node2 before any task uses it",
        )

    def service(self) -> None:
        self.step("4. A service with two replicas on the overlay network")
        self.shell.swarmpy(
            self.node1,
            "service",
            "create",
            "--name",
            SERVICE,
            "--network",
            NETWORK,
            "--replicas",
            "2",
            "busybox",
            "sleep",
            "infinity",
        )

    def placement(self) -> None:
        self.step("5. One task per host; node2 now has the network")
        wait_for(
            lambda: self._replicas() == "2/2" or None,
            CONVERGE_TIMEOUT_S,
            f"step 5: {SERVICE} did not reach 2/2",
        )
        self.shell.swarmpy(self.node1, "service", "ls")
        self.shell.swarmpy(self.node1, "service", "ps", SERVICE)
        nodes = sorted(t["Node"] for t in self._running_tasks())
        expect(nodes == ["node1", "node2"], f"step 5: expected a task per host, got {nodes}")
        wait_for(
            lambda: NETWORK in self._network_names(self.node2, show=False) or None,
            CONVERGE_TIMEOUT_S,
            f"step 5: {NETWORK} never appeared on node2",
        )
        self._network_names(self.node2, show=True)

    def connectivity(self) -> None:
        self.step("6. Containers talk across hosts; names resolve to the VIP and to tasks")
        c1 = self._container(self.node1)
        c2 = self._container(self.node2)
        ip1 = self._task_ip(self.node1, c1, show=False)
        ip2 = self._task_ip(self.node2, c2, show=True)
        ping = self.shell.swarmpy(self.node1, "exec", c1, "ping", "-c2", ip2, check=False)
        expect(ping.returncode == 0, f"step 6: ping from node1's task to {ip2} failed")
        resolv = self.shell.swarmpy(self.node1, "exec", c1, "cat", "/etc/resolv.conf")
        expect(
            "nameserver 127.0.0.11" in resolv.output,
            "step 6: the task's resolv.conf does not point at the embedded DNS 127.0.0.11",
        )
        vip = self._vip()
        ping = self.shell.swarmpy(self.node1, "exec", c1, "ping", "-c2", SERVICE, check=False)
        resolved = re.search(r"PING \S+ \(([\d.]+)\)", ping.output)
        expect(
            resolved is not None and resolved.group(1) == vip,
            f"step 6: {SERVICE} should resolve to the VIP {vip}, ping said "
            f"{resolved.group(1) if resolved else 'nothing'}",
        )
        expect(ping.returncode == 0, f"step 6: ping {SERVICE} (VIP {vip}) failed")
        lookup = self.shell.swarmpy(self.node1, "exec", c1, "nslookup", f"tasks.{SERVICE}")
        listed = set(re.findall(r"Address:\s*([\d.]+)", lookup.output))
        expect(
            {ip1, ip2} <= listed,
            f"step 6: tasks.{SERVICE} should list {ip1} and {ip2}, got {sorted(listed)}",
        )

    def failover(self) -> None:
        self.step("7. node2 dies; the swarm marks it Down and reschedules its task on node1")
        self.shell.echo("(simulated: kill -9 node2's daemon and containers, unplug its eth0)")
        kill_host(self.lab, self.node2)
        wait_for(
            lambda: self._node_status("node2") == "Down" or None,
            NODE_DOWN_TIMEOUT_S,
            "step 7: node2 was not marked Down",
        )
        self.shell.swarmpy(self.node1, "node", "ls")

        def rescheduled() -> bool | None:
            nodes = [t["Node"] for t in self._running_tasks()]
            return (nodes == ["node1", "node1"] and self._replicas() == "2/2") or None

        wait_for(rescheduled, RESCHEDULE_TIMEOUT_S, "step 7: the task was not rescheduled")
        self.shell.swarmpy(self.node1, "service", "ps", SERVICE)
        self.shell.swarmpy(self.node1, "service", "ls")

    # ------------------------------------------------------------ queries

    def _network_names(self, host: Host, *, show: bool) -> list[str]:
        result = self.shell.swarmpy(host, "network", "ls", show=show)
        # NETWORK ID, NAME, DRIVER, SCOPE: the name is the second column.
        return [line.split()[1] for line in result.output.splitlines()[1:] if line.split()]

    def _replicas(self) -> str:
        rows = self.shell.rows(self.node1, "service", "ls")
        return next((str(r["Replicas"]) for r in rows if r["Name"] == SERVICE), "")

    def _running_tasks(self) -> list[dict[str, Any]]:
        rows = self.shell.rows(self.node1, "service", "ps", SERVICE)
        return sorted(
            (
                r
                for r in rows
                # Rows of older tasks are drawn as " \_ name" under the current one.
                if not str(r["Name"]).lstrip().startswith("\\_")
                and r["DesiredState"] == "Running"
                and str(r["CurrentState"]).startswith("Running")
            ),
            key=lambda r: str(r["Node"]),
        )

    def _node_status(self, hostname: str) -> str:
        rows = self.shell.rows(self.node1, "node", "ls")
        return next((str(r["Status"]) for r in rows if r["Hostname"] == hostname), "")

    def _container(self, host: Host) -> str:
        ids = self.shell.swarmpy(host, "ps", "-q").output.split()
        expect(len(ids) == 1, f"step 6: expected one container on {host.name}, got {ids}")
        return ids[0]

    def _task_ip(self, host: Host, container: str, *, show: bool) -> str:
        result = self.shell.swarmpy(
            host, "exec", container, "ip", "-4", "addr", "show", "eth0", show=show
        )
        found = re.search(r"inet ([\d.]+)/", result.output)
        expect(found is not None, f"step 6: no IPv4 address on eth0 of {container}")
        assert found is not None
        return found.group(1)

    def _vip(self) -> str:
        result = self.shell.swarmpy(self.node1, "service", "inspect", SERVICE, show=False)
        endpoint = json.loads(result.output)[0].get("Endpoint", {})
        vips = [str(v["Addr"]).split("/")[0] for v in endpoint.get("VirtualIPs", [])]
        expect(len(vips) == 1, f"step 6: expected one VIP for {SERVICE}, got {vips}")
        self.shell.echo(f"node1$ swarmpy service inspect {SERVICE}   # the Endpoint part:")
        self.shell.echo(json.dumps({"Endpoint": endpoint}, indent=4))
        return vips[0]


def kill_host(lab: Lab, host: Host) -> None:
    """What a power cut does to ``host``: its daemon and containers die at once and it drops
    off the underlay. Its namespaces stay until ``lab down`` removes them."""
    pid = manage.daemon_pid(host)
    if pid is not None:
        # Its children (runc, exec helpers) die with it, as on a real host losing power.
        teardown.kill_and_wait(teardown.with_descendants({pid}))
    teardown.delete_runc_containers(host.runc_root)
    with IPRoute(netns=host.netns) as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="eth0")[0], state="down")


def expect(condition: bool, failure: str) -> None:
    if not condition:
        raise DemoFailed(failure)


def wait_for(probe: Callable[[], T | None], timeout: float, failure: str) -> T:
    """Poll ``probe`` until it returns something other than None."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            value = probe()
        except (SwarmpyError, subprocess.SubprocessError) as exc:
            value = None  # a manager busy electing or reconciling: ask again
            last_error = str(exc)
        if value is not None:
            return value
        if time.monotonic() > deadline:
            why = f" (last error: {last_error})" if last_error else ""
            raise DemoFailed(f"{failure} within {timeout:.0f}s{why}")
        time.sleep(0.5)
