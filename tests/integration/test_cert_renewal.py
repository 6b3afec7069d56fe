"""A root CA given to `swarm ca --rotate --detach`, with real daemons on loopback (quicker than
a lab, no registry needed). Renewal over several certificate lifetimes, and a rotation with a
node down, are shown on a lab of namespaced hosts in test_ca_lab.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from swarmpy.ca import certificates as ca
from swarmpy.tls import CA_FILE, CERT_FILE
from tests.support.controlplane import all_ready, init, joined, token
from tests.support.daemons import Daemon, DaemonSet
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

PORT = 23810


def certificate(d: Daemon) -> str:
    return (d.data_root / "certificates" / CERT_FILE).read_text()


def trusted(d: Daemon) -> str:
    return (d.data_root / "certificates" / CA_FILE).read_text()


def small_swarm(daemons: DaemonSet, ips: tuple[str, ...], managers: int) -> list[Daemon]:
    nodes = daemons.start(len(ips))
    init(nodes[0], ips[0], PORT)
    remote = f"{ips[0]}:{PORT}"
    for i, (d, ip) in enumerate(zip(nodes[1:], ips[1:], strict=True), start=1):
        joined(d, token(nodes[0], "manager" if i < managers else "worker"), ip, PORT, remote)
    wait_for("every node Ready", lambda: all_ready(nodes[0], len(nodes)), timeout=30)
    return nodes


def tasks_reported(d: Daemon, service: str, count: int) -> list[dict[str, Any]] | None:
    """The service's tasks once each node's agent has reported on its own (through its
    session): a state past "assigned", whatever the image pull gives on loopback daemons."""
    result = d.cli("service", "ps", "--format", "json", service)
    if result.returncode != 0:
        return None
    rows = d.json_lines("service", "ps", "--format", "json", service)
    waiting = ("new", "pending", "assigned")
    reported = [r for r in rows if not r["CurrentState"].lower().startswith(waiting)]
    # A global service's task is named <service>.<node id>.
    nodes = {r["Name"].rsplit(".", 1)[-1] for r in reported}
    return reported if len(nodes) >= count else None


def create_global(d: Daemon, name: str) -> None:
    d.ok("service", "create", "--detach", "--mode", "global", "--name", name, "busybox", "true")


def test_swarm_ca_detach_and_a_given_root(daemons: DaemonSet, tmp_path: Any) -> None:
    ips = ("127.0.0.57", "127.0.0.58")
    nodes = small_swarm(daemons, ips, managers=1)
    root = ca.create_root_ca()
    cert, key = tmp_path / "ca.crt", tmp_path / "ca.key"
    cert.write_text(root.cert_pem)
    key.write_text(root.key_pem)
    out = nodes[0].ok("swarm", "ca", "--rotate", "--detach", "--ca-cert", str(cert),
                      "--ca-key", str(key))  # fmt: skip
    assert out == ""
    # During the rotation a new service still comes up on both nodes.
    create_global(nodes[0], "during")
    wait_for("tasks during the rotation", lambda: tasks_reported(nodes[0], "during", 2),
             timeout=30)  # fmt: skip

    def given_root_in_use() -> bool:
        return nodes[0].ok("swarm", "ca").strip() == root.cert_pem.strip()

    wait_for("the given root in use", given_root_in_use, timeout=60)
    wait_for("every node trusting only the given root",
             lambda: all(ca.same_certificates(trusted(d), root.cert_pem) for d in nodes),
             timeout=60)  # fmt: skip
