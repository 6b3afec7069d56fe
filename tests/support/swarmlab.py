"""One three-host swarm shared by the lab modules of a test session.

Building a lab and its swarm costs tens of seconds; most lab scenarios only need *a* healthy
swarm of three hosts, so they share one (``swarm_lab`` in tests/integration/conftest.py).
Sharing is safe because every test gets the swarm back in the same shape: after each test,
daemons a test killed are started again, nodes it drained are made active, and services it left
are removed, and the next test waits until all three nodes are Ready again.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from swarmpy.lab.manage import daemon_pid
from tests.support.lab import TestLab, new_lab
from tests.support.poll import wait_for

# Heartbeat period of the shared swarm's dispatcher, in seconds: short, so that a node a test
# kills is seen Down within a few seconds (three missed beats), as the node-loss tests need.
HEARTBEAT = "1"

# How long a restarted node may take to be Ready again (daemon start, TLS session, first beat).
READY_TIMEOUT = 60.0


def new_swarm_lab() -> TestLab:
    """node1 manager, node2 and node3 workers, plus the registry/DNS host."""
    lab = new_lab(3)
    try:
        lab.start_daemons()
        n1 = lab.hosts[0]
        init = ("swarm", "init", "--advertise-addr", n1.ip, "--dispatcher-heartbeat", HEARTBEAT)
        lab.swarmpy(n1, *init, check=True)
        token = lab.swarmpy(n1, "swarm", "join-token", "-q", "worker", check=True).stdout.strip()
        for host in lab.hosts[1:]:
            join = ("swarm", "join", "--token", token, "--advertise-addr", host.ip)
            lab.swarmpy(host, *join, f"{n1.ip}:2377", check=True)
        wait_until_ready(lab)
    except BaseException:
        lab.lab.destroy()
        raise
    return lab


def node_rows(lab: TestLab) -> list[dict[str, str]]:
    out = lab.swarmpy(lab.hosts[0], "node", "ls", "--format", "{{json .}}", check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def wait_until_ready(lab: TestLab) -> None:
    def all_ready() -> bool:
        rows = node_rows(lab)
        assert len(rows) == len(lab.hosts), rows
        assert all(r["Status"] == "Ready" and r["Availability"] == "Active" for r in rows), rows
        return True

    wait_for("every node Ready and Active", all_ready, READY_TIMEOUT, interval=0.3)


def restore(lab: TestLab) -> None:
    """Bring the swarm back to its shape after a test: every daemon up, every node active,
    no service left."""
    for host in lab.hosts:
        if daemon_pid(host) is None:
            lab.lab.start_daemon(host)
            lab.lab.wait_for_socket(host, 30)
    manager = lab.hosts[0]
    for row in node_rows(lab):
        if row["Availability"] != "Active":
            lab.swarmpy(manager, "node", "update", "--availability", "active", row["Hostname"])
    services = lab.swarmpy(manager, "service", "ls", "-q", check=True).stdout.split()
    if services:
        lab.swarmpy(manager, "service", "rm", *services, check=True)
    # The removed services' containers go in the background (up to their stop grace period,
    # 10 s for a shell that ignores SIGTERM); a test that needs a bare node waits for it.
    wait_until_ready(lab)


def keep_logs(lab: TestLab, name: str) -> None:
    """Copy the daemons' logs where a failure can be diagnosed after the lab is gone."""
    keep = Path(os.environ.get("SWARMPY_TEST_LOGS", "/tmp/swarmpy-test-logs")) / name
    keep.mkdir(parents=True, exist_ok=True)
    for host in lab.hosts:
        if host.daemon_log.exists():
            shutil.copy(host.daemon_log, keep / f"{host.name}.log")
