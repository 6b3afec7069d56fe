"""The swarmpy CLI against ``tests.support.daemons`` daemons: init, join, tokens, node listings
and refusals, for the control-plane tests."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.support.daemons import Daemon, DaemonSet
from tests.support.poll import wait_for


def addr(ip: str, port: int) -> str:
    return f"{ip}:{port}"


def init(d: Daemon, ip: str, port: int) -> None:
    d.ok(
        "swarm",
        "init",
        "--advertise-addr",
        ip,
        "--listen-addr",
        addr(ip, port),
        "--dispatcher-heartbeat",
        "1",
    )


def join(
    d: Daemon, token: str, ip: str, port: int, remote: str
) -> subprocess.CompletedProcess[str]:
    return d.cli(
        "swarm",
        "join",
        "--token",
        token,
        "--advertise-addr",
        ip,
        "--listen-addr",
        addr(ip, port),
        remote,
    )


def joined(d: Daemon, token: str, ip: str, port: int, remote: str) -> None:
    result = join(d, token, ip, port, remote)
    assert result.returncode == 0, f"join failed: {result.stderr}\n{d.log_tail()}"


def token(d: Daemon, role: str) -> str:
    return d.ok("swarm", "join-token", "-q", role).strip()


def nodes(d: Daemon) -> list[dict[str, Any]]:
    return d.json_lines("node", "ls", "--format", "json")


def self_id(d: Daemon) -> str:
    doc = d.json("node", "inspect", "self")
    return str(doc[0]["ID"])


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["ID"].removesuffix(" *"): r for r in rows}


def assert_refused(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """A refusal: non-zero exit, nothing on stdout, one line on stderr holding ``fragments``."""
    assert result.returncode != 0, result.stdout
    message = result.stderr.strip()
    assert message, f"not one line: {result.stderr!r}"
    assert "\n" not in message, f"not one line: {result.stderr!r}"
    assert "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def all_ready(d: Daemon, count: int) -> list[dict[str, Any]] | None:
    rows = nodes(d)
    if len(rows) == count and all(r["Status"] == "Ready" for r in rows):
        return rows
    return None


def leader_of(d: Daemon) -> str | None:
    result = d.cli("node", "ls", "--format", "json")
    if result.returncode != 0:
        return None
    for line in result.stdout.splitlines():
        row = json.loads(line)
        if row["ManagerStatus"] == "Leader":
            return str(row["ID"].removesuffix(" *"))
    return None


def three_managers(ds: DaemonSet, ips: list[str], port: int) -> list[Daemon]:
    managers = ds.start(3)
    init(managers[0], ips[0], port)
    remote = addr(ips[0], port)
    for d, ip in zip(managers[1:], ips[1:], strict=True):
        joined(d, token(managers[0], "manager"), ip, port, remote)
    wait_for("three Ready managers", lambda: all_ready(managers[0], 3), timeout=20)
    return managers
