"""Unpacked layers, content-addressed by diff_id and shared by every image on the node.

Each layer lives in ``<root>/<diff_id hex>/`` with the tree in ``diff/`` (an overlayfs
lowerdir), its content size in ``size``, the blob it came in as (``blob``, gzip or plain
tar, its digest in ``blob.digest``: what push sends and save writes, byte for byte, so its
digests hold), and the repositories it was pulled from or pushed to (``sources``: where push
can mount it from). A layer is unpacked into a temp dir and renamed
into place, so a crash never leaves half a layer under a real name; one lock per diff_id
makes concurrent pulls of the same layer unpack it once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, cast

from swarmpy.engine import modes
from swarmpy.engine.images.digests import digest_hex
from swarmpy.engine.images.untar import OPAQUE_XATTR, extract_layer
from swarmpy.errors import ImageError

LayerSource = Callable[[], AbstractContextManager[BinaryIO]]


class LayerStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._sweep_temps()

    def diff_dir(self, diff_id: str) -> Path:
        return self.root / digest_hex(diff_id) / "diff"

    def has(self, diff_id: str) -> bool:
        return (self.root / digest_hex(diff_id) / "size").exists()

    def size(self, diff_id: str) -> int:
        return int((self.root / digest_hex(diff_id) / "size").read_text())

    def ensure(
        self,
        diff_id: str,
        source: LayerSource,
        keep_blob: bool = True,
        extracting: Callable[[int], None] | None = None,
    ) -> bool:
        """Unpack the layer from ``source`` unless present; True when it was unpacked now.

        ``source`` is only opened when the layer is missing, so callers can defer downloads.
        ``extracting(n)``: n bytes of the (compressed) layer read by the unpacking so far.
        """
        with self.lock(diff_id):
            if self.has(diff_id):
                return False
            final = self.root / digest_hex(diff_id)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
            try:
                modes.make_dir(tmp / "diff")  # the layer's /, which tar entries rarely name
                with source() as stream:
                    if keep_blob:
                        blob_digest = _copy_hashing(stream, tmp / "blob")
                        with (tmp / "blob").open("rb") as kept:
                            actual, size = extract_layer(_told(kept, extracting), tmp / "diff")
                        (tmp / "blob.digest").write_text(blob_digest)
                    else:
                        actual, size = extract_layer(_told(stream, extracting), tmp / "diff")
                if actual != diff_id:
                    raise ImageError(
                        f"layer verification failed: content is {actual}, expected {diff_id}"
                    )
                (tmp / "size").write_text(str(size))
                os.rename(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            return True

    def adopt(self, tree: Path, blob: Path, diff_id: str) -> bool:
        """Move an unpacked tree (a build step's upper dir) and its blob in as layer
        ``diff_id``, unless present; True when moved in now. The caller vouches that the blob
        (gzipped) is the tree's tar with that diff_id: it made both."""
        with self.lock(diff_id):
            if self.has(diff_id):
                return False
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
            try:
                os.rename(tree, tmp / "diff")
                _forget_overlay_state(tmp / "diff")
                with blob.open("rb") as stream:
                    digest = _copy_hashing(stream, None)
                os.rename(blob, tmp / "blob")
                (tmp / "blob.digest").write_text(digest)
                (tmp / "size").write_text(str(_content_size(tmp / "diff")))
                os.rename(tmp, self.root / digest_hex(diff_id))
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            return True

    def blob(self, diff_id: str) -> tuple[Path, str] | None:
        """The layer's blob as it came (path, digest), if kept."""
        layer = self.root / digest_hex(diff_id)
        try:
            digest = (layer / "blob.digest").read_text().strip()
        except FileNotFoundError:
            return None
        return layer / "blob", digest

    def keep_blob(self, diff_id: str, blob: Path) -> str:
        """Keep ``blob`` (renamed in) as the layer's blob; its digest."""
        with self.lock(diff_id):
            layer = self.root / digest_hex(diff_id)
            with blob.open("rb") as stream:
                digest = _copy_hashing(stream, None)
            os.rename(blob, layer / "blob")
            (layer / "blob.digest").write_text(digest)
            return digest

    def sources(self, diff_id: str) -> list[str]:
        """Repositories (``domain/path``) the layer was pulled from or pushed to."""
        try:
            text = (self.root / digest_hex(diff_id) / "sources").read_text()
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines() if line]

    def add_source(self, diff_id: str, repository: str) -> None:
        with self.lock(diff_id):
            path = self.root / digest_hex(diff_id) / "sources"
            if not path.parent.exists() or repository in self.sources(diff_id):
                return
            with path.open("a") as out:
                out.write(repository + "\n")

    def remove(self, diff_id: str) -> None:
        with self.lock(diff_id):
            path = self.root / digest_hex(diff_id)
            if not path.exists():
                return
            # Rename first so a half-deleted layer never looks present.
            trash = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
            os.rename(path, trash / "layer")
            shutil.rmtree(trash, ignore_errors=True)

    def all(self) -> set[str]:
        return {"sha256:" + p.name for p in self.root.iterdir() if not p.name.startswith(".")}

    @contextlib.contextmanager
    def lock(self, diff_id: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault(diff_id, threading.Lock())
        with lock:
            yield

    def _sweep_temps(self) -> None:
        """Remove leftovers of unpacks that a crash interrupted."""
        for path in self.root.glob(".tmp-*"):
            shutil.rmtree(path, ignore_errors=True)


def _forget_overlay_state(tree: Path) -> None:
    """Drop the trusted.overlay.* xattrs overlayfs left on an upper dir's entries (origin,
    impure...) but the opaque marker, which is part of the layer: as a lower dir the tree
    must say no more than an unpacked tar would."""
    for current, dirs, files in os.walk(tree):
        for name in ["", *dirs, *files]:
            path = os.path.join(current, name) if name else current
            try:
                names = os.listxattr(path, follow_symlinks=False)
            except OSError:
                continue
            for attr in names:
                if attr.startswith("trusted.overlay.") and attr != OPAQUE_XATTR:
                    with contextlib.suppress(OSError):
                        os.removexattr(path, attr, follow_symlinks=False)


def _content_size(tree: Path) -> int:
    """The bytes of the regular files under ``tree`` (what extract_layer counts), hardlinks
    once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for current, _, files in os.walk(tree):
        for name in files:
            st = os.lstat(os.path.join(current, name))
            if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


class _Telling:
    """A layer file as the unpacking reads it, telling how far it got (its position)."""

    def __init__(self, raw: BinaryIO, told: Callable[[int], None]) -> None:
        self._raw, self._told = raw, told

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._told(self._raw.tell())
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def _told(stream: BinaryIO, told: Callable[[int], None] | None) -> BinaryIO:
    return stream if told is None else cast(BinaryIO, _Telling(stream, told))


def _copy_hashing(stream: BinaryIO, dest: Path | None) -> str:
    """Copy ``stream`` to ``dest`` (or nowhere); the sha256 of what was read."""
    hasher = hashlib.sha256()
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(dest.open("wb")) if dest is not None else None
        while chunk := stream.read(1 << 20):
            hasher.update(chunk)
            if out is not None:
                out.write(chunk)
    return "sha256:" + hasher.hexdigest()
