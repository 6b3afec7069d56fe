"""Certificates that renew and a root CA that rotates, on a lab of three namespaced hosts with
real daemons, runc and the lab's registry: what a user would check with the CLI.

The renewal test starts the daemons with the test-only ``SWARMPY_TEST_NODE_CERT_EXPIRY_S``
(swarmpy.ca.rotation): certificates live seconds, so the test sees several lifetimes pass.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
from typing import Any

import pytest

from swarmpy.ca import certificates as ca
from swarmpy.ca.rotation import TEST_EXPIRY_ENV
from swarmpy.errors import Unavailable
from swarmpy.lab.hosts import Host
from swarmpy.lab.manage import daemon_pid
from swarmpy.tls import CA_FILE, CERT_FILE
from tests.support.lab import LabFactory, TestLab
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

# Renewed at 50-80 % of a life backdated by a tenth: at 15 s, at least 3 s before expiry.
LIFETIME_S = 15.0


def cli(lab: TestLab, host: Host, *args: str) -> str:
    result = lab.swarmpy(host, *args)
    assert result.returncode == 0, (
        f"{host.name}$ swarmpy {' '.join(args)}: {result.stderr}\n{daemon_log(host)}"
    )
    return str(result.stdout)


def daemon_log(host: Host) -> str:
    try:
        return "\n".join(host.daemon_log.read_text(errors="replace").splitlines()[-30:])
    except FileNotFoundError:
        return "(no log)"


def certificate(host: Host) -> str:
    return (host.data_root / "certificates" / CERT_FILE).read_text()


def trusted(host: Host) -> str:
    return (host.data_root / "certificates" / CA_FILE).read_text()


def serial(host: Host) -> int:
    return ca.load_cert(certificate(host)).serial_number


def start_daemon(lab: TestLab, host: Host, env: dict[str, str] | None = None) -> None:
    """``Lab.start_daemon``, with ``env`` added to the daemon's environment."""
    host.data_root.mkdir(parents=True, exist_ok=True)
    lab.lab.spawn(host, lab.lab.daemon_argv(host), host.daemon_log, env=env)
    try:
        lab.lab.wait_for_socket(host, 30)
    except Unavailable as exc:
        raise AssertionError(f"{exc}\n{daemon_log(host)}") from None


def swarm_of_three(lab: TestLab, managers: int, env: dict[str, str] | None = None) -> None:
    for host in lab.hosts:
        start_daemon(lab, host, env)
    n1 = lab.hosts[0]
    cli(lab, n1, "swarm", "init", "--advertise-addr", n1.ip, "--dispatcher-heartbeat", "1")
    for i, host in enumerate(lab.hosts[1:], start=1):
        role = "manager" if i < managers else "worker"
        token = cli(lab, n1, "swarm", "join-token", "-q", role).strip()
        cli(lab, host, "swarm", "join", "--token", token, "--advertise-addr", host.ip,
            f"{n1.ip}:2377")  # fmt: skip
    wait_for("three Ready nodes", lambda: ready(lab) == 3, timeout=30)


def ready(lab: TestLab) -> int:
    out = lab.swarmpy(lab.hosts[0], "node", "ls", "--format", "json").stdout
    return sum(json.loads(line)["Status"] == "Ready" for line in out.splitlines() if line)


def running(lab: TestLab, service: str) -> dict[str, str] | None:
    """Task id -> node of the service's running tasks, once there are three on three nodes."""
    out = lab.swarmpy(lab.hosts[0], "service", "ps", "--no-trunc", "--format", "json", service)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    up = {r["ID"]: r["Node"] for r in rows if r["CurrentState"].startswith("Running")}
    return up if len(set(up.values())) == 3 else None


def create(lab: TestLab, name: str, *command: str) -> dict[str, str]:
    cli(lab, lab.hosts[0], "service", "create", "--detach", "--name", name, "--mode", "global",
        "busybox", *command)  # fmt: skip
    return wait_for(f"{name} running on every node", lambda: running(lab, name), timeout=60)


def test_the_lab_outlives_its_certificates(lab_factory: LabFactory) -> None:
    lab = lab_factory(3)
    swarm_of_three(lab, managers=1, env={TEST_EXPIRY_ENV: str(LIFETIME_S)})
    before = create(lab, "before", "sleep", "infinity")
    first = {h.name: serial(h) for h in lab.hosts}
    seen: dict[str, set[int]] = {name: {s} for name, s in first.items()}
    start = datetime.datetime.now(datetime.UTC)

    def three_lifetimes() -> bool:
        for h in lab.hosts:
            seen[h.name].add(serial(h))
        elapsed = (datetime.datetime.now(datetime.UTC) - start).total_seconds()
        # Renewed at 50-80 % of each life: three lives bring at least three new certificates.
        return elapsed > 3 * LIFETIME_S and all(len(s) >= 4 for s in seen.values())

    wait_for("three lifetimes, every node renewing", three_lifetimes, timeout=8 * LIFETIME_S,
             interval=0.5)  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    for h in lab.hosts:
        assert serial(h) != first[h.name]
        assert ca.cert_validity(certificate(h))[1] > now
    # The first certificates have all expired, and the swarm works: nodes Ready (sessions
    # and heartbeats), the old tasks untouched, a new service on every node, its logs.
    assert ready(lab) == 3
    assert running(lab, "before") == before
    create(lab, "after", "sh", "-c", "echo hello from $(hostname); sleep infinity")

    def logged() -> bool:
        out = lab.swarmpy(lab.hosts[0], "service", "logs", "after").stdout
        return str(out).count("hello from") >= 3

    wait_for("logs from every node", logged, timeout=30)


def test_root_rotation_with_a_node_down_then_back(lab_factory: LabFactory) -> None:
    lab = lab_factory(3)
    swarm_of_three(lab, managers=3)
    n1, n3 = lab.hosts[0], lab.hosts[2]
    old_root = cli(lab, n1, "swarm", "ca").strip()
    old_token = cli(lab, n1, "swarm", "join-token", "-q", "worker").strip()
    old_info = json.loads(cli(lab, n1, "node", "inspect", "self"))[0]["Description"]["TLSInfo"]
    assert old_info["TrustRoot"].strip() == old_root
    before = create(lab, "before", "sleep", "infinity")

    # node3's daemon stops (its containers keep running): the rotation must wait for it.
    pid = daemon_pid(n3)
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    wait_for("node3 Down", lambda: ready(lab) == 2, timeout=30)
    assert cli(lab, n1, "swarm", "ca", "--rotate", "--detach") == ""
    wait_for("node1 trusting both roots",
             lambda: len(ca.split_pems(trusted(n1))) == 2, timeout=30)  # fmt: skip
    # As Docker's: `swarm ca` shows the swarm's root, the old one until the rotation ends.
    assert cli(lab, n1, "swarm", "ca").strip() == old_root
    # During the rotation: old tasks run on, a new service comes up on the nodes that are up.
    cli(lab, n1, "service", "create", "--detach", "--name", "during", "--replicas", "2",
        "--constraint", "node.hostname!=node3", "busybox", "sleep", "infinity")  # fmt: skip

    def during_running() -> bool:
        out = lab.swarmpy(n1, "service", "ls", "--format", "json").stdout
        rows = {json.loads(line)["Name"]: json.loads(line) for line in out.splitlines() if line}
        return bool(rows.get("during", {}).get("Replicas") == "2/2")

    wait_for("a service created during the rotation", during_running, timeout=60)
    assert not ca.chain_is_trusted(certificate(n3), ca.split_pems(trusted(n1))[1])

    # node3 comes back with its old certificate and old root: it renews through the
    # cross-signed intermediate, and the rotation completes.
    start_daemon(lab, n3)

    def rotated() -> str | None:
        root = cli(lab, n1, "swarm", "ca").strip()
        return root if root != old_root else None

    new_root = wait_for("the new root in use", rotated, timeout=90)
    wait_for("every node trusting only the new root",
             lambda: all(ca.same_certificates(trusted(h), new_root) for h in lab.hosts),
             timeout=60)  # fmt: skip
    for h in lab.hosts:
        assert ca.chain_is_trusted(certificate(h), new_root)
        assert not ca.chain_is_trusted(certificate(h), old_root)
    wanted = ca.tls_info(ca.join_pems([new_root]), new_root)

    def inspected() -> list[Any] | None:
        docs = [json.loads(cli(lab, h, "node", "inspect", "self"))[0] for h in lab.hosts]
        infos = [d["Description"]["TLSInfo"] for d in docs]
        ok = all(
            i["TrustRoot"] == wanted.trust_root
            and i["CertIssuerSubject"] == wanted.cert_issuer_subject
            and i["CertIssuerPublicKey"] == wanted.cert_issuer_public_key
            for i in infos
        )
        return infos if ok else None

    wait_for("every node's TLSInfo naming the new root", inspected, timeout=30)
    assert old_info["CertIssuerPublicKey"] != wanted.cert_issuer_public_key
    assert cli(lab, n1, "swarm", "join-token", "-q", "worker").strip() != old_token
    # After it: the old tasks of the nodes that stayed up still run; node3's was shut down
    # while node3 was down (as SwarmKit's global orchestrator does) and it runs a new one.
    # New services come up on every node.
    wait_for("node3 Ready", lambda: ready(lab) == 3, timeout=30)
    kept = {task: node for task, node in before.items() if node != "node3"}

    def one_task_per_node() -> dict[str, str] | None:
        tasks = running(lab, "before")
        return tasks if tasks is not None and len(tasks) == 3 else None

    after = wait_for("before running once on every node", one_task_per_node, timeout=60)
    assert kept.items() <= after.items()
    assert set(after) - set(kept) != set(before) - set(kept)
    create(lab, "after", "sleep", "infinity")


def test_swarm_ca_rotate_shows_dockers_progress(lab_factory: LabFactory) -> None:
    lab = lab_factory(3)
    swarm_of_three(lab, managers=1)
    n1 = lab.hosts[0]
    result = lab.swarmpy(n1, "swarm", "ca", "--rotate")
    assert result.returncode == 0, result.stderr + daemon_log(n1)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("desired root digest: sha256:")
    assert "  rotated TLS certificates: 3/3 nodes" in lines
    assert "  rotated CA certificates:  3/3 nodes" in lines
    new_root = cli(lab, n1, "swarm", "ca").strip()
    assert result.stdout.strip().endswith(new_root)
