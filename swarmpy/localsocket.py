"""The daemon's unix sockets: who may connect, decided before anyone can.

Whoever can connect to the local socket controls the node (it runs containers as root), so
the socket is root's and, when the group exists, its group's (0660 root:swarmpy, as
docker.sock is root:docker), and only root's (0600) otherwise. The Engine API's listener
(swarmpy.server.listeners) gives the socket that owner and mode between bind() and listen(),
before anyone can connect.
"""

from __future__ import annotations

import contextlib
import grp
import os
from pathlib import Path

WITH_GROUP = 0o660
ROOT_ONLY = 0o600
# A directory the daemon makes for its socket (/run/swarmpy) lets the group reach it.
SOCKET_DIR_MODE = 0o755


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
