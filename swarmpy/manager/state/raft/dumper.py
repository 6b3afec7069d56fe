"""Log compaction's dump, written by a thread of its own instead of the Raft tick thread.

pysyncobj (with ``useFork`` off, as swarmpy runs it: forking a process that runs gRPC
threads is unsafe) pickles, compresses and writes the whole store on its tick thread. That
thread also sends heartbeats and answers votes: at 100,000 tasks a dump took seconds, long
enough for followers to call an election. Here the tick thread only takes a copy of the
tables (their dicts; the objects in them never change), a few ms, and a ``raft-dump``
thread does the rest while the tick thread keeps its timers. The file's format and its
durable replacement are pysyncobj's as patched (``patches.py``: ``DumpCodec``, gzip level,
``durable_replace``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pysyncobj.serializer
from pysyncobj.config import SERIALIZER_STATE

log = logging.getLogger(__name__)


def frozen(data: Any) -> Any:
    """A copy of pysyncobj's dump data that later applies cannot change: each consumer's
    attributes copied, a store state by its ``dump_copy``."""
    payload, *rest = data

    def attrs(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: v.dump_copy() if hasattr(v, "dump_copy") else v for k, v in value.items()}

    payload = [attrs(item) for item in payload] if isinstance(payload, list) else attrs(payload)
    return (payload, *[set(r) if isinstance(r, set) else r for r in rest])


class BackgroundSerializer(pysyncobj.serializer.Serializer):  # type: ignore[misc]
    """pysyncobj's Serializer; a dump to a file is written by a thread."""

    # pysyncobj's private state this class takes part in: nonzero while a dump is written.
    _Serializer__pid: int

    def __init__(self, fileName: str | None, *args: Any) -> None:
        super().__init__(fileName, *args)
        self._file = fileName
        self._thread: threading.Thread | None = None
        self._ok = False

    def serialize(self, data: Any, id: Any) -> None:
        if self._file is None or self._Serializer__serializer is not None:
            super().serialize(data, id)
            return
        if self._thread is not None or self._Serializer__pid != 0:
            return  # one dump at a time, as pysyncobj
        self._Serializer__currentID = id
        # Nonzero while writing: pysyncobj sends no dump to a follower meanwhile.
        self._Serializer__pid = -3
        self._ok = False
        self._thread = threading.Thread(
            target=self._write, args=(frozen(data),), name="raft-dump", daemon=True
        )
        self._thread.start()

    def _write(self, data: Any) -> None:
        assert self._file is not None
        tmp = self._file + ".tmp"
        try:
            with (
                open(tmp, "wb") as f,
                pysyncobj.serializer.gzip.GzipFile(fileobj=f, mode="wb") as g,
            ):
                pysyncobj.serializer.pickle.dump(data, g)
            pysyncobj.serializer.atomicReplace(tmp, self._file)
            self._ok = True
        except Exception:
            log.exception("raft: writing the log compaction dump failed")

    def checkSerializing(self) -> tuple[Any, Any]:
        thread = self._thread
        if thread is None:
            state: tuple[Any, Any] = super().checkSerializing()
            return state
        current = self._Serializer__currentID
        if thread.is_alive():
            return SERIALIZER_STATE.SERIALIZING, current
        self._thread = None
        self._Serializer__pid = 0
        if not self._ok:
            return SERIALIZER_STATE.FAILED, current
        # A follower's dump transfer in progress would mix two files: start those over.
        self._Serializer__transmissions: dict[Any, Any] = {}
        return SERIALIZER_STATE.SUCCESS, current

    def wait(self, timeout: float | None = None) -> None:
        """Until the dump being written (if any) is done: for a clean shutdown."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
