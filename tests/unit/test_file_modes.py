"""File modes under the daemon's umask 077: the local socket's owner and mode before it is
reachable, the swarm state 0600 from its creation, and what containers see kept at 0755/0644."""

from __future__ import annotations

import contextlib
import grp
import io
import os
import socket
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmpy.config import SwarmState
from swarmpy.engine import modes
from swarmpy.engine.images.untar import extract_layer
from swarmpy.server.listeners import unix_socket


@pytest.fixture
def daemon_umask() -> Iterator[None]:
    """The test runs under the daemon's umask; the old one comes back afterwards."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def own_group() -> str:
    return grp.getgrgid(os.getgid()).gr_name


def bound(path: Path, group: str) -> socket.socket:
    """The Engine API's unix socket at ``path`` as the daemon binds it, not yet listening: so
    what is checked is what the socket is before anyone can connect."""
    sock = unix_socket(path, group)
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as client:
        client.connect(str(path))
        sock.close()
        raise AssertionError("the socket took a connection before listen()")
    return sock


def test_the_socket_appears_with_its_groups_mode(tmp_path: Path, daemon_umask: None) -> None:
    path = tmp_path / "run" / "s.sock"
    with bound(path, own_group()):
        st = path.stat()
        assert (stat.S_ISSOCK(st.st_mode), mode_of(path), st.st_gid) == (True, 0o660, os.getgid())
        assert mode_of(path.parent) == 0o755, "the group must be able to reach the socket"
        assert [p.name for p in path.parent.iterdir()] == ["s.sock"]


def test_without_the_group_the_socket_is_roots_only(tmp_path: Path, daemon_umask: None) -> None:
    path = tmp_path / "s.sock"
    path.touch()  # left by a killed daemon: replaced
    with bound(path, "spg-no-such-group"):
        assert (stat.S_ISSOCK(path.stat().st_mode), mode_of(path)) == (True, 0o600)


def test_an_existing_socket_dir_keeps_its_mode(tmp_path: Path, daemon_umask: None) -> None:
    directory = tmp_path / "run"
    directory.mkdir()
    os.chmod(directory, 0o750)
    with bound(directory / "s.sock", ""):
        assert mode_of(directory) == 0o750


def test_the_swarm_state_is_0600_from_its_creation(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        state = SwarmState("n1", "c1", "manager", "1.2.3.4:2377", "1.2.3.4", raft_password="pw")
        path = tmp_path / "swarm" / "state.json"
        state.save(path)
    finally:
        os.umask(old)
    assert mode_of(path) == 0o600
    assert SwarmState.load(path) == state


def test_what_containers_see_keeps_the_modes_of_umask_022(
    tmp_path: Path, daemon_umask: None
) -> None:
    modes.make_dir(tmp_path / "volumes" / "v" / "_data")
    assert mode_of(tmp_path / "volumes" / "v" / "_data") == 0o755
    os.chmod(tmp_path / "volumes" / "v" / "_data", 0o777)  # the container's own doing
    modes.make_dir(tmp_path / "volumes" / "v" / "_data")
    assert mode_of(tmp_path / "volumes" / "v" / "_data") == 0o777, "kept on the next use"
    modes.write_file(tmp_path / "resolv.conf", "nameserver 127.0.0.11\n")
    assert mode_of(tmp_path / "resolv.conf") == 0o644


def test_a_layers_implicit_directories_are_0755(tmp_path: Path, daemon_umask: None) -> None:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("usr/share/doc/readme")  # no entries for usr/, share/, doc/
        info.mode = 0o644
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    data.seek(0)
    dest = tmp_path / "diff"
    modes.make_dir(dest)
    extract_layer(data, dest)
    for rel in ("", "usr", "usr/share", "usr/share/doc"):
        assert mode_of(dest / rel) == 0o755, rel
    assert mode_of(dest / "usr/share/doc/readme") == 0o644
