"""Replacing a small file so that a crash leaves either the old bytes or the new, never a mix.

A node's state files (its swarm membership, its certificates, its image records, its address
leases) are each rewritten whole. Written in place, a crash mid-write leaves a truncated file
and a node that cannot start; renamed without a sync, a power cut can leave the new name
pointing at an empty file (ext4's delayed allocation) or the rename itself undone. So: write a
temporary file in the same directory with its final mode from creation, fsync it, rename it
over the old one, fsync the directory.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def fsync_dir(directory: Path | str) -> None:
    """Make a rename (or creation) in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes | str, mode: int = 0o600) -> None:
    """Replace ``path`` by ``data`` durably; ``mode`` applies from the file's creation, whatever
    the umask, so a key is never readable by others even for an instant.

    On any error the old file is left as it was and the temporary file removed; the error
    (an ``OSError``) propagates."""
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
