"""Safe extraction of one image layer, converting AUFS-style whiteouts to overlayfs ones.

Layers come from registries and tarballs we do not trust, so no entry may land outside the
layer directory: names are normalised, ``..`` is refused, and no entry is written through a
symlink (parents are checked with lstat; files are opened with O_NOFOLLOW). Owners, modes,
times, xattrs, symlinks and hardlinks are kept, since the layer becomes a container's rootfs.
"""

from __future__ import annotations

import enum
import gzip
import logging
import os
import posixpath
import shutil
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO, cast

from swarmpy.engine import modes
from swarmpy.engine.images.digests import HashingReader
from swarmpy.errors import ImageError

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_GZIP_MAGIC = b"\x1f\x8b"
_XATTR_PAX_PREFIX = "SCHILY.xattr."


class Whiteout(enum.Enum):
    NONE = "none"
    FILE = "file"  # hide the named entry of lower layers: a 0/0 character device
    OPAQUE = "opaque"  # hide the whole directory of lower layers: an xattr on the dir


def classify(name: str) -> tuple[Whiteout, str]:
    """What a tar entry means for overlayfs, and the path it applies to.

    ``a/.wh.b`` hides ``a/b``; ``a/.wh..wh..opq`` makes ``a`` opaque.
    """
    parent, base = posixpath.split(name)
    if base == OPAQUE_MARKER:
        return Whiteout.OPAQUE, parent
    if base.startswith(WHITEOUT_PREFIX):
        return Whiteout.FILE, posixpath.join(parent, base[len(WHITEOUT_PREFIX) :])
    return Whiteout.NONE, name


def safe_name(name: str) -> str:
    """A tar member name relative to the layer root; refuse escapes."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ImageError(f"refusing layer entry {name!r}: path escapes the layer")
    return "/".join(parts)


def open_layer(stream: BinaryIO) -> BinaryIO:
    """Decompress gzip transparently; plain tars pass through."""
    head = stream.read(2)
    stream.seek(0)
    if head == _GZIP_MAGIC:
        return cast(BinaryIO, gzip.GzipFile(fileobj=stream, mode="rb"))
    return stream


def extract_layer(stream: BinaryIO, dest: Path) -> tuple[str, int]:
    """Unpack a (possibly gzipped) layer tar into ``dest``; return (diff_id, content size).

    The diff_id is the sha256 of the uncompressed tar, computed while extracting.
    ``stream`` must be seekable (a file), so the compression can be sniffed.
    """
    hashing = HashingReader(open_layer(stream))
    extractor = _Extractor(dest)
    try:
        with tarfile.open(fileobj=cast(BinaryIO, hashing), mode="r|") as tar:
            for member in tar:
                extractor.add(tar, member)
        hashing.drain()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ImageError(f"failed to unpack layer: {exc}") from None
    extractor.finish()
    return hashing.digest, extractor.size


class _Extractor:
    """Unpacks tar members one by one into ``dest`` (also a build context, or ADD's archive)."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.size = 0
        # Directory metadata is applied last: a read-only dir would block its own children.
        self._dirs: list[tuple[Path, tarfile.TarInfo]] = []

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        rel = safe_name(member.name)
        if not rel:
            return  # the root itself ("./")
        kind, target_rel = classify(rel)
        if kind is Whiteout.OPAQUE:
            target = self._prepare(target_rel, keep_dir=True) if target_rel else self.dest
            modes.make_dir(target)
            os.setxattr(target, OPAQUE_XATTR, b"y", follow_symlinks=False)
            return
        path = self._prepare(target_rel, keep_dir=member.isdir())
        if kind is Whiteout.FILE:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))
            return
        if member.isdir():
            path.mkdir(exist_ok=True)
            self._dirs.append((path, member))
            return
        if member.issym():
            os.symlink(member.linkname, path)
        elif member.islnk():
            source = self._prepare(safe_name(member.linkname), keep_dir=True, create=False)
            if not os.path.lexists(source):
                raise ImageError(f"refusing layer entry {member.name!r}: hardlink to nothing")
            os.link(source, path, follow_symlinks=False)
            return  # shares the inode: metadata was already applied to the source
        elif member.isreg():
            self._write_file(tar, member, path)
        elif member.ischr() or member.isblk() or member.isfifo():
            mode = {tarfile.CHRTYPE: stat.S_IFCHR, tarfile.BLKTYPE: stat.S_IFBLK}.get(
                member.type, stat.S_IFIFO
            )
            os.mknod(path, mode | 0o600, os.makedev(member.devmajor, member.devminor))
        else:
            log.debug("skipping layer entry %s of type %r", member.name, member.type)
            return
        _apply_metadata(path, member)

    def finish(self) -> None:
        for path, member in reversed(self._dirs):
            _apply_metadata(path, member)

    def _prepare(self, rel: str, keep_dir: bool, create: bool = True) -> Path:
        """The host path for ``rel``, after checking no parent is a symlink or non-directory.

        An existing entry at ``rel`` is removed (later tar entries win), except a directory
        that is being re-declared as a directory.
        """
        current = self.dest
        parts = rel.split("/")
        for part in parts[:-1]:
            current = current / part
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                if not create:
                    break
                modes.make_dir(current)
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise ImageError(f"refusing layer entry {rel!r}: a parent is not a directory")
        path = self.dest / rel
        if create:
            _remove_unless_dir(path, keep_dir)
        return path

    def _write_file(self, tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path) -> None:
        source = tar.extractfile(member)
        if source is None:
            raise ImageError(f"unreadable layer entry {member.name!r}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
        self.size += member.size


def _remove_unless_dir(path: Path, keep_dir: bool) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if not keep_dir:
            shutil.rmtree(path)
    else:
        path.unlink()


def _apply_metadata(path: Path, member: tarfile.TarInfo) -> None:
    # chown before chmod: chown clears setuid/setgid bits.
    try:
        os.chown(path, member.uid, member.gid, follow_symlinks=False)
    except PermissionError:
        if os.geteuid() == 0:
            raise
        # Unprivileged (unit tests, rootless): the files stay ours, like a rootless unpack.
    for key, value in member.pax_headers.items():
        if key.startswith(_XATTR_PAX_PREFIX):
            try:
                os.setxattr(
                    path,
                    key[len(_XATTR_PAX_PREFIX) :],
                    value.encode("utf-8", "surrogateescape"),
                    follow_symlinks=False,
                )
            except OSError as exc:
                log.debug("cannot set xattr %s on %s: %s", key, path, exc)
    if not member.issym():
        os.chmod(path, member.mode & 0o7777)
    os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)


# The extractor's public name, for the builder (a context tar, ADD's local archives).
Extractor = _Extractor
