"""`swarm init/update --cert-expiry`, `--dispatcher-heartbeat`, `--task-history-limit` with
real daemons on loopback: the bounds Docker has, refused in one line, and the new values
in use (the task reaper's limit, the node CA's validity)."""

from __future__ import annotations

import datetime

import pytest

from swarmpy.ca import certificates as ca
from swarmpy.tls import CERT_FILE
from tests.support.controlplane import all_ready, assert_refused, init, joined, token
from tests.support.daemons import Daemon, DaemonSet
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

IPS = ("127.0.0.61", "127.0.0.62")
PORT = 23820


def validity_left(d: Daemon) -> datetime.timedelta:
    cert = (d.data_root / "certificates" / CERT_FILE).read_text()
    return ca.cert_validity(cert)[1] - datetime.datetime.now(datetime.UTC)


def test_swarm_init_takes_a_cert_expiry_within_dockers_bounds(daemons: DaemonSet) -> None:
    (d,) = daemons.start(1)
    listen = f"{IPS[0]}:{PORT}"
    refused = d.cli("swarm", "init", "--advertise-addr", IPS[0], "--listen-addr", listen,
                    "--cert-expiry", "59m")  # fmt: skip
    assert_refused(refused, "minimum certificate expiry time is 1h0m0s")
    d.ok("swarm", "init", "--advertise-addr", IPS[0], "--listen-addr", listen,
         "--cert-expiry", "3h")  # fmt: skip
    left = validity_left(d)
    assert datetime.timedelta(hours=2, minutes=59) < left <= datetime.timedelta(hours=3)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--cert-expiry", "30m"), "minimum certificate expiry time is 1h0m0s"),
        (("--dispatcher-heartbeat", "0s"), "must be positive"),
        (("--dispatcher-heartbeat", "-5s"), "invalid duration"),
        (("--dispatcher-heartbeat", "1000000h"), "between 100ms and 24h"),
        (("--dispatcher-heartbeat", "soon"), "invalid duration"),
        (("--task-history-limit", "-7"), "invalid task history limit"),
    ],
)
def test_swarm_update_refuses_bad_values(
    daemons: DaemonSet, args: tuple[str, ...], fragment: str
) -> None:
    (d,) = daemons.start(1)
    init(d, IPS[0], PORT)
    assert_refused(d.cli("swarm", "update", *args), fragment)


def test_swarm_update_changes_what_the_managers_do(daemons: DaemonSet) -> None:
    manager, worker = daemons.start(2)
    init(manager, IPS[0], PORT)
    joined(worker, token(manager, "worker"), IPS[1], PORT, f"{IPS[0]}:{PORT}")
    wait_for("two Ready nodes", lambda: all_ready(manager, 2), timeout=20)
    out = manager.ok("swarm", "update", "--cert-expiry", "2h", "--dispatcher-heartbeat", "2s",
                     "--task-history-limit", "1")  # fmt: skip
    assert out == "Swarm updated.\n"
    # The node CA signs with the new validity: a rotation re-issues every certificate.
    manager.ok("swarm", "ca", "--rotate", "--quiet", timeout=120)
    for d in (manager, worker):
        left = validity_left(d)
        assert datetime.timedelta(hours=1, minutes=59) < left <= datetime.timedelta(hours=2)
    # The agents follow the new heartbeat: still Ready after several periods of it.
    assert all_ready(manager, 2)
    # The task reaper keeps one ended task per slot besides the current one (no image on
    # loopback daemons: every task fails and is replaced).
    manager.ok("service", "create", "--detach", "--name", "fails", "--restart-delay", "0s",
               "busybox", "true")  # fmt: skip

    seen: set[str] = set()

    def restarted_often() -> bool:
        rows = manager.json_lines("service", "ps", "--format", "json", "fails")
        seen.update(r["ID"] for r in rows)
        return len(seen) >= 5

    def trimmed() -> bool:
        rows = manager.json_lines("service", "ps", "--format", "json", "fails")
        return len(rows) <= 2

    wait_for("the failing service replaced several times", restarted_often, timeout=60)
    wait_for("its history trimmed to the limit", trimmed, timeout=15)
    assert all_ready(manager, 2)
