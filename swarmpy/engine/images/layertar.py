"""A directory of overlayfs changes (a container's upper dir, or an unpacked layer) as an OCI
layer tar.

overlayfs marks a deleted entry with a 0/0 character device and a directory whose lower
contents are hidden with the ``trusted.overlay.opaque`` xattr; a layer tar says the same with
``.wh.<name>`` files and a ``.wh..wh..opq`` entry (the OCI image spec's whiteouts). Entries are
written in sorted order with whole-second times and no user or group names, so one tree always
makes the same tar, and so the same diff_id. Extended attributes other than the opaque marker
are not carried (file capabilities set by a RUN step are lost).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from swarmpy.engine.images.untar import OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX

_CHUNK = 1 << 20


def walk(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """Every entry under ``root`` (relative path, lstat), parents first, names sorted."""
    stack = [""]
    while stack:
        rel = stack.pop()
        base = root / rel if rel else root
        names = sorted(os.listdir(base), reverse=True)
        children = []
        for name in reversed(names):
            child = f"{rel}/{name}" if rel else name
            st = os.lstat(root / child)
            yield child, st
            if stat.S_ISDIR(st.st_mode):
                children.append(child)
        stack.extend(reversed(children))


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def write_layer(root: Path, out: BinaryIO) -> None:
    """Write the tree under ``root`` to ``out`` as an uncompressed layer tar."""
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel, st in walk(root):
            path = root / rel
            parent, name = os.path.split(rel)
            if is_whiteout(st):
                marker = tarfile.TarInfo(os.path.join(parent, WHITEOUT_PREFIX + name))
                marker.mtime = int(st.st_mtime)
                tar.addfile(marker)
                continue
            info = _info(rel, st, path)
            key = (st.st_dev, st.st_ino)
            if info.isreg() and st.st_nlink > 1:
                if key in links:
                    info.type, info.linkname, info.size = tarfile.LNKTYPE, links[key], 0
                    tar.addfile(info)
                    continue
                links[key] = rel
            if info.isreg():
                with path.open("rb") as data:
                    tar.addfile(info, data)
            else:
                tar.addfile(info)
            if info.isdir() and is_opaque(path):
                opaque = tarfile.TarInfo(os.path.join(rel, OPAQUE_MARKER))
                opaque.mtime = int(st.st_mtime)
                tar.addfile(opaque)


def _info(rel: str, st: os.stat_result, path: Path) -> tarfile.TarInfo:
    info = tarfile.TarInfo(rel)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
    elif stat.S_ISREG(mode):
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    return info


def layer_to_file(root: Path, dest: Path) -> str:
    """Write the layer tar of ``root`` to ``dest``; return its diff_id."""
    with dest.open("wb") as out:
        write_layer(root, out)
    return file_digest(dest)


def file_digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def is_empty(root: Path) -> bool:
    return not any(os.scandir(root))
