"""The modes of what the engine makes for containers to see.

The daemon runs under umask 077: what it writes for itself (keys, Raft, state) is root's
alone. What containers see keeps the modes it has always had, those of the usual umask 022: a
container's root directory, its /etc/resolv.conf, hosts and hostname, image layers and named
volumes, so a process in the container that is not root can still enter / and resolve names.
These are set explicitly, as the umask no longer gives them.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o755
FILE_MODE = 0o644


def make_dir(path: Path, mode: int = DIR_MODE) -> None:
    """Create ``path`` (and missing parents) with ``mode``; one that exists keeps its mode,
    which may be the container's own doing."""
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        return
    os.chmod(path, mode)


def write_file(path: Path, text: str, mode: int = FILE_MODE) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), mode)  # the umask took bits off the creation mode
        f.write(text)
