"""Certificates that renew and a root CA that rotates, with real daemons on loopback.

The daemons run with the test-only ``SWARMPY_TEST_NODE_CERT_EXPIRY_S`` (swarmpy.ca.rotation):
node certificates live seconds instead of 90 days, so a test sees several lifetimes pass.
"""

from __future__ import annotations

import datetime
import subprocess
from typing import Any

import pytest

from swarmpy.ca import certificates as ca
from swarmpy.ca.rotation import TEST_EXPIRY_ENV
from swarmpy.tls import CA_FILE, CERT_FILE
from tests.support.controlplane import all_ready, init, joined, token
from tests.support.daemons import Daemon, DaemonSet
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

LIFETIME_S = 20.0
PORT = 23810


def certificate(d: Daemon) -> str:
    return (d.data_root / "certificates" / CERT_FILE).read_text()


def trusted(d: Daemon) -> str:
    return (d.data_root / "certificates" / CA_FILE).read_text()


def serial(d: Daemon) -> int:
    return ca.load_cert(certificate(d)).serial_number


@pytest.fixture
def short_lived(monkeypatch: pytest.MonkeyPatch) -> None:
    # Inherited by the daemons DaemonSet starts.
    monkeypatch.setenv(TEST_EXPIRY_ENV, str(LIFETIME_S))


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


def test_certificates_renew_on_their_own_and_the_swarm_outlives_them(
    short_lived: None, daemons: DaemonSet
) -> None:
    ips = ("127.0.0.51", "127.0.0.52", "127.0.0.53")
    nodes = small_swarm(daemons, ips, managers=1)
    first = {d.name: serial(d) for d in nodes}
    start = datetime.datetime.now(datetime.UTC)
    renewed: dict[str, set[int]] = {d.name: {first[d.name]} for d in nodes}

    def three_lifetimes_and_renewals() -> bool:
        for d in nodes:
            renewed[d.name].add(serial(d))
        elapsed = (datetime.datetime.now(datetime.UTC) - start).total_seconds()
        # Renewed at 50-80 % of each life: three lives see at least three new certificates.
        return elapsed > 3 * LIFETIME_S and all(len(s) >= 4 for s in renewed.values())

    wait_for("three certificate lifetimes, each node renewing", three_lifetimes_and_renewals,
             timeout=8 * LIFETIME_S, interval=0.5)  # fmt: skip
    for d in nodes:
        assert serial(d) != first[d.name]
        _, not_after = ca.cert_validity(certificate(d))
        assert not_after > datetime.datetime.now(datetime.UTC)
    # Every first certificate has expired by now, and the swarm works: node ls from the
    # manager, sessions (agents report the tasks of a new service), and a worker that opens
    # a new session with its renewed certificate after a restart.
    assert all_ready(nodes[0], 3)
    create_global(nodes[0], "after-renewals")
    wait_for("tasks reported by every node", lambda: tasks_reported(nodes[0], "after-renewals", 3),
             timeout=30)  # fmt: skip
    nodes[2].restart()
    wait_for("the restarted worker Ready again", lambda: all_ready(nodes[0], 3), timeout=30)
    create_global(nodes[0], "after-restart")
    wait_for("tasks reported by every node", lambda: tasks_reported(nodes[0], "after-restart", 3),
             timeout=30)  # fmt: skip


def run_cli(d: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return d.cli(*args, timeout=120)


def test_root_rotation_moves_every_node_to_the_new_root(daemons: DaemonSet) -> None:
    ips = ("127.0.0.54", "127.0.0.55", "127.0.0.56")
    nodes = small_swarm(daemons, ips, managers=3)
    leader = nodes[0]
    old_root = leader.ok("swarm", "ca").strip()
    assert old_root == trusted(leader).strip()
    old_token = token(leader, "worker")
    create_global(leader, "before")

    result = run_cli(leader, "swarm", "ca", "--rotate")
    assert result.returncode == 0, result.stderr + leader.log_tail()
    assert "rotated TLS certificates: 3/3 nodes" in result.stdout
    assert "rotated CA certificates:  3/3 nodes" in result.stdout
    new_root = leader.ok("swarm", "ca").strip()
    assert new_root != old_root
    assert result.stdout.strip().endswith(new_root)

    inspected = [d.json("node", "inspect", "self")[0] for d in nodes]
    new_info = ca.tls_info(new_root + "\n", new_root + "\n")
    for doc in inspected:
        tls_info = doc["Description"]["TLSInfo"]
        assert ca.same_certificates(tls_info["TrustRoot"], new_root + "\n")
        assert tls_info["CertIssuerSubject"] == new_info.cert_issuer_subject
        assert tls_info["CertIssuerPublicKey"] == new_info.cert_issuer_public_key
    for d in nodes:
        assert ca.same_certificates(trusted(d), new_root + "\n")
        assert ca.chain_is_trusted(certificate(d), new_root)
        assert not ca.chain_is_trusted(certificate(d), old_root)
    # The join tokens name the new root: the old ones are refused.
    assert token(leader, "worker") != old_token
    # Services kept running and new ones come up.
    create_global(leader, "after")
    wait_for("tasks of the old service", lambda: tasks_reported(leader, "before", 3), timeout=30)
    wait_for("tasks of the new service", lambda: tasks_reported(leader, "after", 3), timeout=30)


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
