"""A few hundred agents joining, then all reconnecting at once, against three real managers
on loopback: no election and no node marked down.

Needs root (the daemons). The agents are real ``Agent``s in one process
(``tests.support.simnodes``: only the container executor is fake); SIGUSR1 makes every one
of them drop its session and open a new one at the same moment, as after a network blip. The
leader admits what it can register and tells the rest when to come back
(``dispatcher/admission.py``); Raft keeps its timers through it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.controlplane import addr, token
from tests.support.daemons import DaemonSet
from tests.support.poll import wait_for
from tests.support.simnodes import argv, read_stats

pytestmark = pytest.mark.root

AGENTS = 300
IPS = ("127.0.0.61", "127.0.0.62", "127.0.0.63")
PORT = 23861
REPO = Path(__file__).resolve().parents[2]


def _count(daemons: DaemonSet, fragment: str) -> int:
    """How many lines of the managers' whole logs hold ``fragment``."""
    return sum(d.log_path.read_text(errors="replace").count(fragment) for d in daemons.daemons)


def test_hundreds_of_agents_reconnecting_at_once_cause_no_election(daemons: DaemonSet) -> None:
    managers = daemons.start(3)
    leader = managers[0]
    # The default heartbeat period (5 s): what a real swarm runs.
    leader.ok("swarm", "init", "--advertise-addr", IPS[0], "--listen-addr", addr(IPS[0], PORT))
    manager_token, worker_token = token(leader, "manager"), token(leader, "worker")
    for daemon, ip in zip(managers[1:], IPS[1:], strict=True):
        daemon.ok(
            "swarm",
            "join",
            "--token",
            manager_token,
            "--advertise-addr",
            ip,
            "--listen-addr",
            addr(ip, PORT),
            addr(IPS[0], PORT),
            timeout=60,
        )
    with tempfile.TemporaryDirectory(prefix="agentstorm-") as tmp:
        stats = Path(tmp) / "sim.json"
        log = open(Path(tmp) / "sim.log", "wb")  # noqa: SIM115 - closed in finally
        sim = subprocess.Popen(
            [sys.executable, *argv(addr(IPS[0], PORT), worker_token, stats, 0, AGENTS)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        try:
            wait_for(
                f"{AGENTS} agents with a session",
                lambda: read_stats([stats]).get("connected", 0) >= AGENTS,
                timeout=90,
            )
            elections = _count(daemons, "raft: gained leadership")
            assert elections == 1, daemons.logs()[-3000:]  # the first only

            sim.send_signal(signal.SIGUSR1)
            wait_for(
                "every agent restarted",
                lambda: read_stats([stats]).get("restarts", 0) >= 1,
                timeout=60,
            )
            wait_for(
                f"{AGENTS} agents with a new session",
                lambda: read_stats([stats]).get("connected", 0) >= AGENTS,
                timeout=60,
            )
            assert sim.poll() is None
            # What a user would see: the same leader, every node Ready, nobody went Down.
            rows = leader.json_lines("node", "ls", "--format", "json")
            assert len(rows) == AGENTS + 3
            assert {r["Status"] for r in rows} == {"Ready"}
            assert [r["ManagerStatus"] for r in rows if r["Self"]] == ["Leader"]
            assert _count(daemons, "raft: gained leadership") == elections
            assert _count(daemons, "heartbeats: down") == 0
        finally:
            sim.terminate()
            try:
                sim.wait(15)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait()
            log.close()
