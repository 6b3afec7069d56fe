"""The daemon's unix sockets: who may connect, decided before anyone can.

Whoever can connect to the local socket controls the node (it runs containers as root), so
the socket is root's and, when the group exists, its group's (0660 root:swarmpy, as
docker.sock is root:docker), and only root's (0600) otherwise. The socket gets that owner and
mode before it becomes reachable: it is bound inside a directory only root can enter, given
its owner and mode there, and renamed into place. (gRPC binds and listens in one call, so
there is no moment between the two to fix the mode in.)
"""

from __future__ import annotations

import contextlib
import grp
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from swarmpy.errors import InvalidArgument

WITH_GROUP = 0o660
ROOT_ONLY = 0o600
# A directory the daemon makes for its socket (/run/swarmpy) lets the group reach it.
SOCKET_DIR_MODE = 0o755
_SUN_PATH_MAX = 107


def socket_access(group: str) -> tuple[int | None, int]:
    """(gid, mode) for the socket: the group's and 0660 if it exists, else (None, 0600)."""
    if group:
        with contextlib.suppress(KeyError):
            return grp.getgrnam(group).gr_gid, WITH_GROUP
    return None, ROOT_ONLY


def restrict(path: Path, group: str) -> None:
    """Give the socket at ``path`` its owner and mode (chown first: it may clear mode bits)."""
    gid, mode = socket_access(group)
    if gid is not None:
        os.chown(path, -1, gid)
    os.chmod(path, mode)


def make_socket_dir(directory: Path) -> None:
    """The socket's directory: one the daemon makes is reachable by the socket's group (the
    daemon's umask would make it root's only); one that exists is left as it is."""
    if directory.is_dir():
        return
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, SOCKET_DIR_MODE)


async def bind_privately(path: Path, group: str, bind: Callable[[Path], Awaitable[None]]) -> None:
    """Have ``bind`` create a listening socket, and make it appear at ``path`` with its owner
    and mode already set (``restrict``). A socket left at ``path`` by a killed daemon is
    replaced."""
    make_socket_dir(path.parent)
    staging = Path(tempfile.mkdtemp(prefix=".", dir=path.parent))  # 0700: root's only
    try:
        staged = staging / "s"
        if len(os.fsencode(staged)) > _SUN_PATH_MAX:
            raise InvalidArgument(f"socket path too long: {path}")
        await bind(staged)
        restrict(staged, group)
        os.replace(staged, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
