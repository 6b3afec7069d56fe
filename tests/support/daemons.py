"""Real ``swarmpy daemon`` processes on loopback, for control-plane tests.

    with DaemonSet() as ds:
        a, b = ds.start(2)
        a.ok("swarm", "init", "--advertise-addr", "127.0.0.21", "--listen-addr", "127.0.0.21:23770")
        b.cli("node", "ls").returncode  # 1: not in a swarm

Every daemon gets its own data root, socket and node-local subnet under one tmp dir, and a
kernel-object prefix unique to this run, so parallel test runs (and the lab) never share
anything. Each daemon runs in its own session so ``kill()`` can take its whole process group.
Leaving the ``with`` block kills every daemon still running, then removes what they made in the
kernel (containers, cgroups, netns, links, nft tables: a killed daemon cleans nothing up), the
mounts and the tmp dir, also on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from swarmpy.lab import teardown
from swarmpy.lab.hosts import daemon_cgroup_parent, swarmpy_executable
from swarmpy.overlay.bridges import BridgeNetworks
from swarmpy.overlay.names import Names
from swarmpy.overlay.provider import OverlayNetworkProvider
from tests.support.poll import wait_for

log = logging.getLogger(__name__)


class Daemon:
    """One daemon: start, kill (SIGKILL), stop (SIGTERM), restart on the same data root."""

    def __init__(self, name: str, workdir: Path, prefix: str, local_subnet: str) -> None:
        self.name = name
        self.workdir = workdir
        self.prefix = prefix
        self.local_subnet = local_subnet
        self.data_root = workdir / "data"
        self.socket = workdir / "s.sock"
        self.log_path = workdir / "daemon.log"
        self.process: subprocess.Popen[bytes] | None = None
        # The umask it starts under (None: the test's) and flags added to its command line.
        self.umask: int | None = None
        self.extra_args: tuple[str, ...] = ()

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        assert not self.running, f"{self.name} is already running"
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()  # a killed daemon leaves it behind
        argv = [
            str(swarmpy_executable()),
            "daemon",
            "--data-root",
            str(self.data_root),
            "--host",
            self.host,
            "--name-prefix",
            self.prefix,
            "--local-subnet",
            self.local_subnet,
            *self.extra_args,
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                umask=-1 if self.umask is None else self.umask,
            )

    def wait_ready(self, timeout: float = 20.0) -> None:
        def serving() -> bool:
            # Not a "not yet": a daemon that died will not come up, say so now.
            if self.process is None or self.process.poll() is not None:
                pytest.fail(f"{self.name} exited early:\n{self.log_tail()}")
            return self.socket.exists()

        try:
            wait_for(f"{self.name}'s socket", serving, timeout, 0.05)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.log_tail()}") from None

    def kill(self) -> None:
        """SIGKILL the daemon's process group: a crash, nothing is cleaned up."""
        self._signal(signal.SIGKILL, timeout=10.0)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (a clean shutdown), SIGKILL if it takes longer than ``timeout``."""
        if not self._signal(signal.SIGTERM, timeout):
            self.kill()

    def _signal(self, sig: signal.Signals, timeout: float) -> bool:
        process = self.process
        if process is None or process.poll() is not None:
            return True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)  # pid == pgid: start_new_session
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def restart(self) -> None:
        self.stop()
        self.start()
        self.wait_ready()

    # ------------------------------------------------------------------ the CLI

    def cli(
        self, *args: str, timeout: float = 30.0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``swarmpy <args>`` against this daemon (``input`` on its stdin); never raises on a
        non-zero exit."""
        env = {**os.environ, "SWARMPY_HOST": self.host}
        return subprocess.run(
            [str(swarmpy_executable()), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            input=input,
        )

    def ok(self, *args: str, timeout: float = 30.0, input: str | None = None) -> str:
        """Run the CLI, fail the test (with the daemon's log) unless it exits 0; stdout."""
        result = self.cli(*args, timeout=timeout, input=input)
        assert result.returncode == 0, (
            f"{self.name}: swarmpy {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}\n"
            f"daemon log:\n{self.log_tail()}"
        )
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args))

    def json_lines(self, *args: str) -> list[Any]:
        return [json.loads(line) for line in self.ok(*args).splitlines() if line.strip()]

    def remove_kernel_objects(self) -> None:
        """What this (stopped) daemon made outside its data root, gone."""
        assert not self.running
        teardown.remove_cgroups([daemon_cgroup_parent(self.prefix)])
        teardown.delete_runc_containers(self.data_root / "runc")
        provider = OverlayNetworkProvider("", self.data_root, self.prefix, self.local_subnet)
        bridges = BridgeNetworks(self.data_root, Names(self.prefix), self.local_subnet)

        async def cleanup() -> None:
            try:
                await bridges.cleanup_all()
                await provider.cleanup_all()
            finally:
                await bridges.close()
                await provider.close()

        asyncio.run(cleanup())

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def start_daemon(daemons: DaemonSet) -> Daemon:
    """One daemon whose bridge subnet no interface on this machine has: the sets of
    concurrent test runs share the host's routing table, and a second bridge on the same
    subnet takes the route (and so the published ports) away."""
    d = daemons.add()
    d.local_subnet = free_subnet()
    d.start()
    d.wait_ready()
    return d


def free_subnet() -> str:
    used = {
        ipaddress.IPv4Interface(addr).network
        for line in subprocess.run(
            ["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        for addr in [line.split()[3]]
    }
    for candidate in ipaddress.IPv4Network("172.18.0.0/16").subnets(new_prefix=20):
        if candidate.network_address.packed[2] <= 160:
            continue  # a daemon's default, and those every DaemonSet gives its daemons
        if not any(candidate.overlaps(net) for net in used):
            return str(candidate)
    raise AssertionError("no free /20 left in 172.18.0.0/16")


TAGS = 256  # "cp" and two hex digits


def claim_tag() -> tuple[socket.socket, str]:
    """A tag no other live DaemonSet on this machine holds, and the claim to close after.

    A set's teardown kills every process in the cgroups named with its tag and deletes its
    namespaces and links: two sets sharing a tag (tests of several people or a CI run side by
    side) killed each other's containers, e.g. under a rolling update whose replacement then
    found its namespace gone and paused the update. The claim is an abstract unix socket's
    name: one per machine, released with the socket or the process, no file left behind.
    """
    start = int(secrets.token_hex(1), 16)
    for step in range(TAGS):
        tag = f"cp{(start + step) % TAGS:02x}"
        claim = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            claim.bind(f"\0swarmpy-tests-daemonset-{tag}")
        except OSError:
            claim.close()
            continue
        return claim, tag
    raise RuntimeError(f"all {TAGS} daemon set tags are held by live test runs")


class DaemonSet:
    """Owns a tmp dir and the daemons in it; ``close()`` (or the ``with``) ends them all."""

    def __init__(self) -> None:
        # Short: unix socket paths are limited to 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="spd-", dir="/tmp"))
        # <= 5 alnum chars with the index digit; unique among live sets so kernel objects
        # never clash, and "cp" so a leftover is easy to trace back here.
        self._claim, self.tag = claim_tag()
        self.daemons: list[Daemon] = []

    def add(self) -> Daemon:
        index = len(self.daemons)
        assert index < 10, "the name prefix has room for one digit"
        name = f"d{index}"
        workdir = self.root / name
        workdir.mkdir()
        # Each daemon's bridge sits in the host netns: overlapping subnets would mean two
        # routes for one prefix. 172.18.0.0/16 stays free for daemons started elsewhere.
        subnet = f"172.18.{16 * (index + 1)}.0/20"
        daemon = Daemon(name, workdir, f"{self.tag}{index}", subnet)
        self.daemons.append(daemon)
        return daemon

    def start(self, n: int) -> list[Daemon]:
        """Start ``n`` new daemons and wait until each serves its socket."""
        started = [self.add() for _ in range(n)]
        for daemon in started:
            daemon.start()
        for daemon in started:
            daemon.wait_ready()
        return started

    def close(self) -> None:
        for daemon in self.daemons:
            with contextlib.suppress(Exception):
                daemon.kill()
        for daemon in self.daemons:
            try:
                daemon.remove_kernel_objects()
            except Exception:  # one failure must not leave the rest behind
                log.exception("cleaning up after %s", daemon.name)
        teardown.unmount_all(self.root)
        shutil.rmtree(self.root, ignore_errors=True)
        self._claim.close()  # only now: the tag's kernel objects are gone

    def logs(self, daemons: Sequence[Daemon] | None = None) -> str:
        return "\n".join(f"--- {d.name} ---\n{d.log_tail()}" for d in (daemons or self.daemons))

    def __enter__(self) -> DaemonSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
