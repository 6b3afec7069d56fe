"""docker attach's and run's --sig-proxy: without a TTY, a signal the CLI gets goes to the
container (default), or, with --sig-proxy=false, ctrl-c ends the CLI and the container runs on."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from swarmpy.lab.hosts import swarmpy_executable
from tests.support.daemons import Daemon, DaemonSet
from tests.support.localswarm import load_busybox
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

# Ticks while attached (so the test knows the CLI is copying), "caught 7" on SIGINT.
SCRIPT = "trap 'echo caught; exit 7' INT; while :; do echo tick; sleep 0.1; done"


def interrupted(d: Daemon, *argv: str) -> tuple[int, str]:
    """``swarmpy <argv>`` (attached to a container), sent SIGINT once the container's output
    arrives: its exit status and what it printed."""
    with subprocess.Popen(
        [str(swarmpy_executable()), *argv],
        env={**os.environ, "SWARMPY_HOST": d.host},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "tick\n"  # attached: the handlers are in place
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    return proc.returncode, out + err


def test_attach_proxies_signals_unless_told_not_to(daemons: DaemonSet) -> None:
    (d,) = daemons.start(1)
    try:
        load_busybox(d)
        for name in ("proxied", "unproxied"):
            d.ok("run", "-d", "--network", "none", "--name", name, "busybox", "sh", "-c", SCRIPT)

        code, out = interrupted(d, "attach", "proxied")
        assert code == 7, out
        assert out.rstrip().endswith("caught")
        (doc,) = d.json("inspect", "proxied")
        assert doc["State"]["ExitCode"] == 7

        code, out = interrupted(d, "attach", "--sig-proxy=false", "unproxied")
        assert code == -signal.SIGINT, out
        (doc,) = d.json("inspect", "unproxied")
        assert doc["State"]["Running"] is True
        assert "caught" not in d.ok("logs", "unproxied")

        # run, attached, proxies as attach does.
        run = ("run", "--network", "none", "--name", "ran", "busybox", "sh", "-c", SCRIPT)
        code, out = interrupted(d, *run)
        assert code == 7, out
        assert out.rstrip().endswith("caught")
    finally:
        d.cli("rm", "-f", "proxied", "unproxied", "ran")
        wait_for("the containers' removal", lambda: d.ok("ps", "-aq") == "", 30)
        d.stop()
