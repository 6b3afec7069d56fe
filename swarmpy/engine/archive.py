"""Files in and out of a container's root filesystem (``docker cp``, Docker's
``/containers/{id}/archive``), through its overlay mount on the host.

Paths are resolved as inside the container: a symbolic link is followed within the root
(an absolute link target means the container's /), never out of it (moby's
FollowSymlinkInScope), so a container cannot make the daemon read or write the host's files.
What is copied in is checked member by member by tarfile's "tar" filter: no absolute names,
no ``..``, no link out of the destination.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from swarmpy.errors import InvalidArgument, NotFound

MAX_LINKS = 255  # as the kernel's (and moby's) limit on links followed in one path

# Go's os.FileMode type bits, which Docker's path stat carries (the CLI reads IsDir()).
GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27
GO_NAMED_PIPE = 1 << 25
GO_SOCKET = 1 << 24
GO_DEVICE = 1 << 26
GO_CHAR_DEVICE = 1 << 21
GO_SETUID = 1 << 23
GO_SETGID = 1 << 22
GO_STICKY = 1 << 20


Mounts = Sequence[tuple[str, Path]]  # (destination in the container, host source)


def _host(root: Path, mounts: Mounts, parts: Sequence[str]) -> Path:
    """The host path of a container path (its parts), through the container's bind mounts
    (the longest destination that holds it), else under the root."""
    best: tuple[int, Path] | None = None
    for dest, source in mounts:
        dparts = [p for p in dest.split("/") if p]
        if list(parts[: len(dparts)]) == dparts and (best is None or len(dparts) > best[0]):
            best = (len(dparts), source)
    if best is None:
        return root.joinpath(*parts)
    return best[1].joinpath(*parts[best[0] :])


def scoped_path(root: Path, path: str, follow_last: bool = True, mounts: Mounts = ()) -> Path:
    """``path`` in the container (absolute, or relative to /) as a host path under ``root``
    (or a bind mount's source), with every symbolic link resolved inside the container
    (the last one only if ``follow_last``)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = _host(root, mounts, [*done, part])
        if candidate.is_symlink() and (parts or follow_last):
            links += 1
            if links > MAX_LINKS:
                raise InvalidArgument(f"too many links in {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        done.append(part)
    return _host(root, mounts, done)


def container_path(root: Path, path: str, mounts: Mounts = ()) -> str:
    """Where ``path`` leads in the container, links followed (for a link's stat)."""
    host = scoped_path(root, path, True, mounts)
    for dest, source in sorted(mounts, key=lambda m: -len(m[0])):
        if host == source or source in host.parents:
            return dest.rstrip("/") + "/" + str(host.relative_to(source)).removeprefix(".")
    return "/" + str(host.relative_to(root)).removeprefix(".")


def go_mode(st: os.stat_result) -> int:
    """A file's mode as Go's os.FileMode (what Docker's path stat reports)."""
    mode = stat.S_IMODE(st.st_mode) & 0o777
    kind = stat.S_IFMT(st.st_mode)
    if kind == stat.S_IFDIR:
        mode |= GO_DIR
    elif kind == stat.S_IFLNK:
        mode |= GO_SYMLINK
    elif kind == stat.S_IFIFO:
        mode |= GO_NAMED_PIPE
    elif kind == stat.S_IFSOCK:
        mode |= GO_SOCKET
    elif kind == stat.S_IFCHR:
        mode |= GO_DEVICE | GO_CHAR_DEVICE
    elif kind == stat.S_IFBLK:
        mode |= GO_DEVICE
    if st.st_mode & stat.S_ISUID:
        mode |= GO_SETUID
    if st.st_mode & stat.S_ISGID:
        mode |= GO_SETGID
    if st.st_mode & stat.S_ISVTX:
        mode |= GO_STICKY
    return mode


def file_not_found(path: str, container: str) -> NotFound:
    """dockerd's containerFileNotFound, naming the container as the client did."""
    return NotFound(f"Could not find the file {path} in container {container}".rstrip())


def path_stat(root: Path, path: str, mounts: Mounts = (), container: str = "") -> dict[str, Any]:
    """Docker's ContainerPathStat of ``path`` (its last link not followed) in ``container``
    (its name as the client gave it, for the error)."""
    host = scoped_path(root, path, False, mounts)
    try:
        st = os.lstat(host)
    except FileNotFoundError:
        raise file_not_found(path, container) from None
    link = ""
    if stat.S_ISLNK(st.st_mode):
        # Docker reports where the link leads, as a path in the container.
        link = container_path(root, path, mounts)
    mtime = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC).isoformat().replace("+00:00", "Z")
    return {
        "name": host.name or "/",
        "size": st.st_size,
        "mode": go_mode(st),
        "mtime": mtime,
        "linkTarget": link,
    }


def stat_header(doc: dict[str, Any]) -> str:
    """The X-Docker-Container-Path-Stat header: the stat, JSON in base64."""
    return base64.b64encode(json.dumps(doc).encode()).decode()


def write_archive(
    root: Path, path: str, out: IO[bytes], mounts: Mounts = (), container: str = ""
) -> None:
    """A tar of ``path`` (a file, or a directory and everything under it) to ``out``, its
    entries named from the path's base name, as Docker's GET archive."""
    # A link named as such is copied as a link; "dir/" and "dir/." mean the directory.
    contents = path.endswith("/.")
    host = scoped_path(root, path, path.endswith("/") or contents, mounts)
    if not os.path.lexists(host):
        raise file_not_found(path, container)
    name = "." if contents or host == root else host.name
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.add(str(host), arcname=name, recursive=True)


def extract_archive(
    root: Path,
    path: str,
    data: IO[bytes],
    no_overwrite_dir: bool,
    mounts: Mounts = (),
    container: str = "",
) -> None:
    """Docker's PUT archive: ``data`` (a tar) unpacked into the directory ``path``."""
    host = scoped_path(root, path, True, mounts)
    if not host.exists():
        raise file_not_found(path, container)
    if not host.is_dir():
        raise InvalidArgument("extraction point is not a directory")
    with tarfile.open(fileobj=data, mode="r|*") as tar:
        for member in tar:
            if no_overwrite_dir:
                existing = host / member.name
                if existing.is_dir() and not member.isdir():
                    raise InvalidArgument(
                        f"cannot overwrite directory {path}/{member.name} with non-directory"
                    )
                if existing.exists() and not existing.is_dir() and member.isdir():
                    raise InvalidArgument(
                        f"cannot overwrite non-directory {path}/{member.name} with directory"
                    )
            try:
                tar.extract(member, str(host), filter="tar")
            except tarfile.FilterError as e:
                raise InvalidArgument(f"refused to copy {member.name}: {e}") from None
