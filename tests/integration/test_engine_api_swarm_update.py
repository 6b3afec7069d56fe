"""Docker's CLI changes the swarm's settings and rotates its root CA through /swarm/update:
`docker swarm update --cert-expiry/--task-history-limit/--dispatcher-heartbeat` and
`docker swarm ca --rotate` (a new root, or one given), with Docker's refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from swarmpy.ca import certificates as ca
from tests.support.daemons import DaemonSet
from tests.support.docker_cli import DOCKER, DockerCli
from tests.support.localswarm import free_addr
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

NANOS = 1_000_000_000
# A rotation on one node: it renews twice (for the new root, then to trust only it), each
# after a jitter of up to 2 s, and Docker's CLI polls the progress every second.
ROTATION_S = 120.0


def spec(cli: DockerCli) -> Any:
    return json.loads(cli.ok("info", "--format", "{{json .Swarm.Cluster.Spec}}"))


def test_docker_swarm_update_and_ca_rotate(daemons: DaemonSet) -> None:
    assert DOCKER.exists(), f"{DOCKER} is missing: run scripts/install-deps.sh (docker.io)"
    (d,) = daemons.start(1)
    cli = DockerCli(d)
    ip, port = free_addr()
    cli.ok("swarm", "init", "--advertise-addr", ip, "--listen-addr", f"{ip}:{port}")
    wait_for(
        "the node Ready",
        lambda: cli.ok("node", "ls", "--format", "{{.Status}}") == "Ready\n",
        timeout=30,
    )

    assert "Swarm updated." in cli.ok("swarm", "update", "--cert-expiry", "100h")
    assert "Swarm updated." in cli.ok("swarm", "update", "--task-history-limit", "3")
    assert "Swarm updated." in cli.ok("swarm", "update", "--dispatcher-heartbeat", "10s")
    now = spec(cli)
    assert now["CAConfig"]["NodeCertExpiry"] == 100 * 3600 * NANOS
    assert now["Orchestration"]["TaskHistoryRetentionLimit"] == 3
    assert now["Dispatcher"]["HeartbeatPeriod"] == 10 * NANOS

    assert "minimum certificate expiry time is" in cli.refused(
        "swarm", "update", "--cert-expiry", "30m"
    )
    assert "heartbeat time period cannot be a negative duration" in cli.refused(
        "swarm", "update", "--dispatcher-heartbeat", "-1s"
    )
    assert "unsupported field Raft.SnapshotInterval" in cli.refused(
        "swarm", "update", "--snapshot-interval", "5000"
    )
    assert spec(cli) == now, "a refused update changes nothing"
    # Autolock on prints the unlock key, as Docker's; off again, the spec is as it was.
    assert "    SWMKEY-1-" in cli.ok("swarm", "update", "--autolock")
    assert cli.ok("swarm", "update", "--autolock=false") == "Swarm updated.\n"
    assert spec(cli) == now

    # A new root the managers make: Docker's CLI bumps CAConfig.ForceRotate, follows the
    # rotation to its end (it returns only once every node trusts the new root alone), then
    # prints the new root.
    old_root = cli.ok("swarm", "ca").strip()
    shown = cli.ok("swarm", "ca", "--rotate", timeout=ROTATION_S)
    new_root = cli.ok("swarm", "ca").strip()
    assert new_root.startswith("-----BEGIN CERTIFICATE-----")
    assert shown.strip().endswith(new_root)
    assert not ca.same_certificates(new_root, old_root)
    assert spec(cli)["CAConfig"]["ForceRotate"] == 1

    # A root the user brings, given as SigningCACert and SigningCAKey.
    given = ca.create_root_ca()
    cert_file, key_file = d.workdir / "ca.pem", d.workdir / "ca-key.pem"
    cert_file.write_text(given.cert_pem)
    key_file.write_text(given.key_pem)
    cli.ok(
        "swarm", "ca", "--rotate", "--quiet", "--ca-cert", str(cert_file),
        "--ca-key", str(key_file), timeout=ROTATION_S,
    )  # fmt: skip
    assert ca.same_certificates(cli.ok("swarm", "ca").strip(), given.cert_pem)
    # Neither is shown back, so the next update rotates nothing.
    ca_config = spec(cli)["CAConfig"]
    assert "SigningCACert" not in ca_config
    assert "SigningCAKey" not in ca_config
    assert "Swarm updated." in cli.ok("swarm", "update", "--task-history-limit", "4")
    info = json.loads(cli.ok("info", "--format", "{{json .Swarm.Cluster}}"))
    assert not info["RootRotationInProgress"]
    assert ca.same_certificates(info["TLSInfo"]["TrustRoot"], given.cert_pem)
