"""A daemon started under umask 000 still makes its secrets root's alone from their creation:
the data root, keys, Raft files and swarm state; its local socket is 0660 root:<group> when the
group exists, 0600 otherwise. What its containers see keeps the modes of umask 022."""

from __future__ import annotations

import contextlib
import grp
import os
import secrets
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemons import Daemon, DaemonSet
from tests.support.localswarm import remove_service, run_task, single_node_swarm
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

# Where the node keeps its secrets: TLS keys, the Raft journal and snapshots, the swarm state
# (it holds the Raft password).
SECRET_DIRS = ("certificates", "raft", "swarm")
# What containers see (or runc keeps for them) is made with the modes it always had: their
# rootfs, /etc files, image layers and volumes are not the node's secrets.
CONTAINER_PARTS = ("containers", "images", "runc", "volumes")
# Run as nobody: it reads the /etc files the daemon wrote, enters / and a volume whose mount
# point runc made (with its parents), and says its umask.
VOLUME = "type=volume,source=probevol,target=/srv/data/v"
PROBE = (
    "umask; cat /etc/resolv.conf /etc/hosts /etc/hostname >/dev/null && ls / /srv/data/v "
    ">/dev/null && echo readable; exec sleep 600"
)


@contextlib.contextmanager
def temporary_group() -> Iterator[str]:
    name = "spg" + secrets.token_hex(3)
    subprocess.run(["groupadd", name], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["groupdel", name], check=False, capture_output=True)


def modes_under(root: Path) -> dict[Path, int]:
    """Every file and directory under ``root`` (not through mounts: a rootfs is the image's)
    and its permission bits."""
    found: dict[Path, int] = {}
    for top, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not os.path.ismount(os.path.join(top, d))]
        for name in (*dirs, *files):
            path = Path(top, name)
            found[path.relative_to(root)] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


def is_secret(path: Path) -> bool:
    """Keys, everything of Raft's and the swarm state; certificates are public (0644)."""
    return (
        path.parts[0] in ("raft", "swarm")
        or path.suffix == ".key"
        or path.parts == ("certificates",)
    )


def assert_secrets_are_roots_alone(data_root: Path) -> None:
    assert stat.S_IMODE(data_root.stat().st_mode) == 0o700
    modes = modes_under(data_root)
    for part in SECRET_DIRS:
        assert Path(part) in modes, f"no {part} under the data root: {sorted(modes)}"
    own = {p: mode for p, mode in modes.items() if p.parts[0] not in CONTAINER_PARTS}
    open_secrets = {str(p): oct(m) for p, m in own.items() if is_secret(p) and m & 0o077}
    assert not open_secrets, f"group or other bits on secrets: {open_secrets}"
    writable = {str(p): oct(m) for p, m in own.items() if m & 0o022}
    assert not writable, f"the node's own files writable by others: {writable}"
    keys = [p for p in own if p.suffix == ".key"]
    raft_files = [p for p in own if p.parts[0] == "raft" and (data_root / p).is_file()]
    assert keys, f"no key files found: {sorted(own)}"
    assert raft_files, "the Raft journal was not written"
    for path in (*keys, *raft_files, Path("swarm/state.json")):
        assert own[path] == 0o600, f"{path} is {oct(own[path])}"


def assert_sockets(d: Daemon, mode: int, gid: int) -> None:
    """The Engine API's socket (-H), the daemon's only local socket."""
    st = d.socket.stat()
    assert stat.S_ISSOCK(st.st_mode), d.socket
    assert (oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid) == (oct(mode), 0, gid)
    assert sorted(p.name for p in d.socket.parent.iterdir() if p.is_socket()) == [d.socket.name]


def start_under_umask_000(d: Daemon, group: str) -> None:
    d.umask = 0o000
    d.extra_args = ("--group", group)
    d.start()
    d.wait_ready()


def test_a_daemon_under_umask_000_keeps_its_files_and_socket_to_itself(
    daemons: DaemonSet,
) -> None:
    d = daemons.add()
    # In a directory the daemon makes, as /run/swarmpy: the group must be able to enter it.
    d.socket = d.workdir / "run" / "s.sock"
    with temporary_group() as group:
        start_under_umask_000(d, group)
        assert_sockets(d, 0o660, grp.getgrnam(group).gr_gid)
        assert stat.S_IMODE(d.socket.parent.stat().st_mode) == 0o755
        with single_node_swarm(d):
            name = run_task(
                d, "probe", "--user", "65534", "--mount", VOLUME, "busybox", "sh", "-c", PROBE
            )
            try:
                wait_for("the probe's report", lambda: "readable" in d.ok("logs", name))
                assert d.ok("logs", name).split() == ["0022", "readable"]
                d.ok("service", "update", "-d", "--replicas", "2", "probe")  # more Raft writes
                assert_secrets_are_roots_alone(d.data_root)
            finally:
                remove_service(d, "probe")
    # The group is gone: the restarted daemon's socket is root's only.
    d.restart()
    assert_sockets(d, 0o600, 0)
