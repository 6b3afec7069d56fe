"""Unpacked layers, content-addressed by diff_id and shared by every image on the node.

Each layer lives in ``<root>/<diff_id hex>/`` with the tree in ``diff/`` (an overlayfs
lowerdir) and its content size in ``size``. A layer is unpacked into a temp dir and renamed
into place, so a crash never leaves half a layer under a real name; one lock per diff_id
makes concurrent pulls of the same layer unpack it once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

from swarmpy.engine import modes
from swarmpy.engine.images.digests import digest_hex
from swarmpy.engine.images.untar import extract_layer
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

    def ensure(self, diff_id: str, source: LayerSource) -> bool:
        """Unpack the layer from ``source`` unless present; True when it was unpacked now.

        ``source`` is only opened when the layer is missing, so callers can defer downloads.
        """
        with self.lock(diff_id):
            if self.has(diff_id):
                return False
            final = self.root / digest_hex(diff_id)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
            try:
                modes.make_dir(tmp / "diff")  # the layer's /, which tar entries rarely name
                with source() as stream:
                    actual, size = extract_layer(stream, tmp / "diff")
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
