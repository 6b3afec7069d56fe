"""The CLI drives a daemon from another host over TCP with TLS, as ``docker -H tcp://...
--tlsverify`` does: a second daemon's host, with a client certificate the first daemon's CA
signed, lists and changes the first one's swarm; without a client certificate (or with one
of another CA) the daemon refuses the connection."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from swarmpy.lab.hosts import swarmpy_executable
from tests.support.controlplane import init
from tests.support.daemons import Daemon, DaemonSet
from tests.support.localswarm import TASK_START_S, load_busybox, task_container
from tests.support.poll import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

# An address of this test's own: nothing else listens on it, so fixed ports are free.
MANAGER_IP = "127.0.0.73"
SWARM_PORT = 23775  # and Raft's, the next one
API_PORT = 23790


@dataclass(frozen=True)
class Pki:
    """Docker's layout: ca.pem, and a cert.pem/key.pem pair in a directory."""

    ca: Path
    server: Path  # holds cert.pem and key.pem of the daemon
    client: Path  # ca.pem, cert.pem, key.pem: what SWARMPY_CERT_PATH points at


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_pair(directory: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_pki(root: Path, name: str) -> Pki:
    """A CA, a server certificate for MANAGER_IP and a client certificate, all its own."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{name} CA"))
        .issuer_name(_name(f"{name} CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def issue(
        common_name: str, usage: x509.ObjectIdentifier, ip: str = ""
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if ip:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                critical=False,
            )
        return builder.sign(ca_key, hashes.SHA256()), key

    pki = Pki(
        ca=root / name / "ca.pem", server=root / name / "server", client=root / name / "client"
    )
    pki.ca.parent.mkdir(parents=True)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    pki.ca.write_bytes(ca_pem)
    _write_pair(pki.server, *issue("daemon", ExtendedKeyUsageOID.SERVER_AUTH, MANAGER_IP))
    _write_pair(pki.client, *issue("client", ExtendedKeyUsageOID.CLIENT_AUTH))
    (pki.client / "ca.pem").write_bytes(ca_pem)
    return pki


@dataclass(frozen=True)
class Remote:
    manager: Daemon
    worker: Daemon
    url: str
    pki: Pki
    stranger: Pki  # another CA's files


@pytest.fixture(scope="module")
def remote() -> Iterator[Remote]:
    with DaemonSet() as ds:
        pki = make_pki(ds.root, "pki")
        stranger = make_pki(ds.root, "other")
        manager, worker = ds.add(), ds.add()
        url = f"tcp://{MANAGER_IP}:{API_PORT}"
        # The unix socket stays (-H from the fixture), the TCP listener is added beside it.
        manager.extra_args = (
            "-H",
            url,
            "--tlsverify",
            "--tlscacert",
            str(pki.ca),
            "--tlscert",
            str(pki.server / "cert.pem"),
            "--tlskey",
            str(pki.server / "key.pem"),
        )
        for d in (manager, worker):
            d.start()
        for d in (manager, worker):
            d.wait_ready()
        init(manager, MANAGER_IP, SWARM_PORT)
        load_busybox(manager)
        manager.ok(
            "service", "create", "-d", "--name", "web", "--constraint", "node.role==manager",
            "busybox", "sleep", "600",
        )  # fmt: skip
        yield Remote(manager, worker, url, pki, stranger)


def from_worker_host(
    r: Remote, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI on the second daemon's host: its own socket by default, flags say otherwise."""
    return subprocess.run(
        [str(swarmpy_executable()), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "SWARMPY_HOST": r.worker.host, **(env or {})},
        timeout=30,
    )


def tls_flags(r: Remote, pki: Pki | None = None) -> list[str]:
    files = pki or r.pki
    return [
        "-H",
        r.url,
        "--tlsverify",
        "--tlscacert",
        str(r.pki.ca),
        "--tlscert",
        str(files.client / "cert.pem"),
        "--tlskey",
        str(files.client / "key.pem"),
    ]


def test_a_second_host_drives_the_first_over_tls(remote: Remote) -> None:
    r = remote
    listed = from_worker_host(r, *tls_flags(r), "node", "ls", "--format", "{{.Hostname}} {{.Self}}")
    assert listed.returncode == 0, listed.stderr
    # The node marked as self is the manager's: the answer came from the first daemon.
    assert listed.stdout.split()[-1] == "true"
    manager_id = r.manager.ok("node", "inspect", "self", "--format", "{{.ID}}").strip()
    changed = from_worker_host(
        r, *tls_flags(r), "node", "update", "--label-add", "via=tls", manager_id
    )
    assert changed.returncode == 0, changed.stderr
    labels = r.manager.ok("node", "inspect", "self", "--format", "{{json .Spec.Labels}}")
    assert labels.strip() == '{"via":"tls"}'
    # Its own daemon, on its own socket, is not in the swarm: the flags made the difference.
    own = from_worker_host(r, "node", "ls")
    assert own.returncode == 1
    assert "not a swarm manager" in own.stderr


def test_the_environment_says_the_same_as_the_flags(remote: Remote) -> None:
    r = remote
    env = {
        "SWARMPY_HOST": r.url,
        "SWARMPY_TLS_VERIFY": "1",
        "SWARMPY_CERT_PATH": str(r.pki.client),
    }
    listed = from_worker_host(r, "node", "ls", "-q", env=env)
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.split()) == 1


def test_without_a_client_certificate_the_daemon_refuses(remote: Remote) -> None:
    r = remote
    bare = from_worker_host(
        r, "-H", r.url, "--tlsverify", "--tlscacert", str(r.pki.ca), "node", "ls"
    )
    assert bare.returncode == 1
    assert bare.stdout == ""
    assert len(bare.stderr.strip().splitlines()) == 1, bare.stderr
    assert bare.stderr.startswith("the daemon at "), bare.stderr
    assert "client certificates" in bare.stderr


def test_a_certificate_of_another_ca_is_refused(remote: Remote) -> None:
    r = remote
    other = from_worker_host(r, *tls_flags(r, r.stranger), "node", "ls")
    assert other.returncode == 1
    assert other.stderr.startswith("the daemon at "), other.stderr
    assert "client certificates" in other.stderr


def test_the_client_refuses_a_daemon_its_ca_did_not_sign(remote: Remote) -> None:
    r = remote
    flags = tls_flags(r)
    flags[flags.index("--tlscacert") + 1] = str(r.stranger.ca)
    wrong = from_worker_host(r, *flags, "node", "ls")
    assert wrong.returncode == 1
    assert "certificate verify failed" in wrong.stderr, wrong.stderr


def test_exec_through_the_remote_daemon_over_tls(remote: Remote) -> None:
    r = remote
    wait_for(
        "web's task to run", lambda: task_container(r.manager, "web") is not None, TASK_START_S
    )
    row = task_container(r.manager, "web")
    assert row is not None
    listed = from_worker_host(r, *tls_flags(r), "ps", "-q")
    assert listed.stdout.split() == [row["ID"]], listed.stderr
    ran = from_worker_host(r, *tls_flags(r), "exec", row["ID"], "sh", "-c", "echo hi; exit 3")
    assert (ran.returncode, ran.stdout) == (3, "hi\n"), ran.stderr
    # stdin goes through too (over TLS its end cannot be sent: the process reads 4 bytes).
    fed = subprocess.run(
        [str(swarmpy_executable()), *tls_flags(r), "exec", "-i", row["ID"], "head", "-c", "4"],
        input="ping",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (fed.returncode, fed.stdout) == (0, "ping"), fed.stderr


def test_swarm_ca_and_network_commands_work_over_tls(remote: Remote) -> None:
    """They once went through a gRPC socket beside the local one, so only on the daemon's own
    machine; through the Engine API they reach a remote daemon as every command does."""
    r = remote
    root = from_worker_host(r, *tls_flags(r), "swarm", "ca")
    assert (root.returncode, root.stdout) == (0, r.manager.ok("swarm", "ca")), root.stderr
    r.manager.ok("network", "create", "-d", "overlay", "tlsnet")
    try:
        listed = from_worker_host(r, *tls_flags(r), "network", "ls", "--format", "{{.Name}}")
        assert "tlsnet" in listed.stdout.split(), listed.stderr
        shown = from_worker_host(
            r, *tls_flags(r), "network", "inspect", "--format", "{{.Name}} {{.Scope}}", "tlsnet"
        )
        assert (shown.returncode, shown.stdout) == (0, "tlsnet swarm\n"), shown.stderr
    finally:
        r.manager.ok("network", "rm", "tlsnet")


def test_service_create_update_scale_rollback_work_over_tls(remote: Remote) -> None:
    """They once went through the gRPC socket too; now a remote daemon takes them."""
    r = remote

    def remote_ok(*args: str) -> str:
        done = from_worker_host(r, *tls_flags(r), *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert remote_ok("service", "update", "--detach", "--label-add", "via=tls", "web") == "web\n"
    labels = r.manager.ok("service", "inspect", "web", "--format", "{{json .Spec.Labels}}")
    assert labels.strip() == '{"via":"tls"}'
    assert remote_ok("service", "scale", "--detach", "web=2") == "web scaled to 2\n"
    assert remote_ok("service", "rollback", "--detach", "web") == "web\n"
    labels = r.manager.ok("service", "inspect", "web", "--format", "{{json .Spec.Labels}}")
    assert labels.strip() == "{}"
    made = remote_ok("service", "create", "--detach", "--name", "tls2", "busybox", "true")
    try:
        assert (
            made.strip()
            == r.manager.ok("service", "inspect", "tls2", "--format", "{{.ID}}").strip()
        )
    finally:
        r.manager.ok("service", "rm", "tls2")
