"""A task's secrets and configs on the node: held in memory, written only to a tmpfs.

The dispatcher sends, with every assignments message, the bytes of every secret and config
the node's live tasks use (``TaskFiles.replace``; what it leaves out is forgotten). When a
task's container is made, ``TaskFiles.mount`` mounts a tmpfs of its own outside the data
root, writes the task's files into it with their uid, gid and mode, and returns them as
read-only bind mounts at their targets (Docker's: a secret's relative target is under
/run/secrets, a config's under /). ``release`` unmounts it when the container goes, so
nothing of them is ever on the worker's disk.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import posixpath
import shutil
from collections.abc import Iterable
from pathlib import Path

from swarmpy.engine.images.rootfs import is_mounted
from swarmpy.engine.spec import Mount, MountKind
from swarmpy.errors import RuntimeFailure
from swarmpy.model import FileData, FileReference, Task

log = logging.getLogger(__name__)

SECRETS_DIR = "/run/secrets"
_MNT_DETACH = 2
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def secret_target(ref: FileReference) -> str:
    """Docker's getSecretTargetPath."""
    return ref.target if posixpath.isabs(ref.target) else posixpath.join(SECRETS_DIR, ref.target)


def config_target(ref: FileReference) -> str:
    """Docker's getConfigTargetPath."""
    return ref.target if posixpath.isabs(ref.target) else posixpath.join("/", ref.target)


def task_files(task: Task) -> list[tuple[str, FileReference]]:
    """(path in the container, reference) of every file the task gets, secrets first (a
    config for the runtime, a credential spec's, is no file in the container)."""
    spec = task.spec.container
    return [(secret_target(r), r) for r in spec.secrets] + [
        (config_target(r), r) for r in spec.configs if not r.runtime
    ]


def _owner(text: str, what: str) -> int:
    try:
        value = int(text or "0")
    except ValueError:
        raise RuntimeFailure(f"invalid {what} {text!r}: expected a number") from None
    if value < 0:
        raise RuntimeFailure(f"invalid {what} {text!r}: expected a number")
    return value


class TaskFiles:
    """The node's secret and config bytes, and each task's tmpfs of them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._data: dict[str, bytes] = {}

    def replace(self, files: Iterable[FileData], assigned: set[str] | None = None) -> None:
        """The node's bytes now; with the complete set of ``assigned`` task ids, the tmpfs of
        any other task goes too (one a daemon that stopped uncleanly left behind: the worker
        removes such a task's container)."""
        self._data = {f.id: f.data for f in files}
        if assigned is not None and self.root.is_dir():
            for directory in self.root.iterdir():
                if directory.name not in assigned:
                    try:
                        self.release(directory.name)
                    except RuntimeFailure as e:  # tried again with the next complete set
                        log.warning("%s", e)

    def held(self) -> frozenset[str]:
        return frozenset(self._data)

    def mount(self, task: Task) -> tuple[Mount, ...]:
        """Write the task's files into its own tmpfs; the bind mounts of them."""
        wanted = task_files(task)
        if not wanted:
            return ()
        missing = sorted({r.name for _, r in wanted if r.id not in self._data})
        if missing:
            raise RuntimeFailure(f"secret or config not available on this node: {missing[0]}")
        directory = self.root / task.id
        if not is_mounted(directory):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            options = (
                b"mode=0700,size="
                + str(2 * 1024 * 1024 + 2 * sum(len(self._data[r.id]) for _, r in wanted)).encode()
            )
            flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
            if _libc.mount(b"tmpfs", str(directory).encode(), b"tmpfs", flags, options) != 0:
                err = ctypes.get_errno()
                raise RuntimeFailure(f"mounting a tmpfs at {directory}: {os.strerror(err)}")
        mounts = []
        for index, (target, ref) in enumerate(wanted):
            path = directory / str(index)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, self._data[ref.id])
                os.fchown(fd, _owner(ref.uid, "uid"), _owner(ref.gid, "gid"))
                os.fchmod(fd, ref.mode & 0o7777)
            finally:
                os.close(fd)
            mounts.append(Mount(MountKind.BIND, target, str(path), readonly=True))
        return tuple(mounts)

    def release_all(self) -> None:
        """Every task's tmpfs, when the node leaves the swarm (its containers gone)."""
        self._data = {}
        if self.root.is_dir():
            for directory in self.root.iterdir():
                self.release(directory.name)

    def release(self, task_id: str) -> None:
        """Unmount the task's tmpfs (its files go with it) and remove the mount point."""
        directory = self.root / task_id
        if is_mounted(directory) and _libc.umount2(str(directory).encode(), _MNT_DETACH) != 0:
            err = ctypes.get_errno()
            raise RuntimeFailure(f"unmounting {directory}: {os.strerror(err)}")
        shutil.rmtree(directory, ignore_errors=True)
