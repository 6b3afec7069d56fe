"""Log compaction's dump, written by a thread of its own instead of the Raft tick thread.

pysyncobj (with ``useFork`` off, as swarmpy runs it: forking a process that runs gRPC
threads is unsafe) pickles, compresses and writes the whole store on its tick thread. That
thread also sends heartbeats and answers votes: at 100,000 tasks a dump took seconds, long
enough for followers to call an election. Here the tick thread only takes a copy of the
tables (their dicts; the objects in them never change), a few ms, and a ``raft-dump``
thread does the rest while the tick thread keeps its timers. The file's format and its
durable replacement are pysyncobj's as patched (``patches.py``: ``DumpCodec``, gzip level,
``durable_replace``).

The same goes for a dump sent to a lagging follower: the file is sealed at rest (``atrest``)
and travels opened, and opening 10 MB of it (decrypt, inflate) took ~60 ms, which pysyncobj
did on the tick thread as the transfer began. A ``raft-dump-export`` thread opens it instead;
until it is done the leader sends the follower no dump data (pysyncobj's answer while a dump
is written), and the transfers that start meanwhile share the one export.

And a dump written in clear, before this manager held a data key, is sealed on the tick
thread as soon as it holds one (``atrest.seal_dump_file``), between dumps: only that thread
starts the writes of this file.
"""

from __future__ import annotations

import io
import logging
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pysyncobj.serializer
from pysyncobj.config import SERIALIZER_STATE

from swarmpy.manager.state.raft import atrest

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

    # pysyncobj's private state this class takes part in: nonzero while a dump is written;
    # the transfers to followers in progress, by node.
    _Serializer__pid: int
    _Serializer__transmissions: dict[Any, Any]

    def __init__(self, fileName: str | None, *args: Any) -> None:
        super().__init__(fileName, *args)
        self._file = fileName
        self._thread: threading.Thread | None = None
        self._ok = False
        # The dump file opened for followers, shared by the transfers starting while it is.
        self._export: Future[bytes] | None = None
        # Whether the dump file is in clear (None: not looked at since it last changed).
        self._clear: bool | None = None

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
            if state[0] == SERIALIZER_STATE.NOT_SERIALIZING:
                self._seal_clear_dump()
            return state
        current = self._Serializer__currentID
        if thread.is_alive():
            return SERIALIZER_STATE.SERIALIZING, current
        self._thread = None
        self._Serializer__pid = 0
        if not self._ok:
            return SERIALIZER_STATE.FAILED, current
        self._dump_changed()
        return SERIALIZER_STATE.SUCCESS, current

    def _dump_changed(self) -> None:
        # A follower's dump transfer in progress would mix two files: start those over.
        self._Serializer__transmissions = {}
        self._export = None
        self._clear = None

    def _seal_clear_dump(self) -> None:
        """Seal a dump written in clear once a data key is held (no dump is written now)."""
        if self._file is None or self._clear is False:
            return
        path = Path(self._file)
        if self._clear is None:
            # A data dir nobody registered keys for is kept in clear (atrest).
            self._clear = atrest.keys_for(path) is not None and atrest.dump_in_clear(path)
        if not self._clear:
            return
        try:
            sealed = atrest.seal_dump_file(path)
        except (atrest.Damaged, OSError) as exc:
            # pysyncobj fails to load it too; the next dump replaces it.
            log.warning("raft: cannot seal the dump %s: %s", path, exc)
            self._clear = False
            return
        if sealed:
            log.info("raft: sealed the dump %s under the data key", path)
            self._dump_changed()
            self._clear = False

    def setTransmissionData(self, data: Any) -> bool:
        """A chunk of a dump from the leader; True once the whole dump replaced the file."""
        done = bool(super().setTransmissionData(data))
        if done:
            self._dump_changed()
        return done

    def getTransmissionData(self, transmissionID: Any) -> Any:
        """The next chunk of the dump for a follower, or None while none can be sent yet (a
        dump being written, or the file being opened for it)."""
        exported = self._file is not None and self._Serializer__serializer is None
        if not exported or self._Serializer__pid != 0:
            return super().getTransmissionData(transmissionID)
        transmissions = self._Serializer__transmissions
        if transmissionID not in transmissions:
            export = self._export
            if export is None:
                self._export = export = Future()
                threading.Thread(
                    target=_export, args=(self._file, export), name="raft-dump-export", daemon=True
                ).start()
            if not export.done():
                return None
            try:
                opened = export.result()
            except Exception:  # the next transfer opens the file again
                log.exception("raft: opening the dump for a follower failed")
                self._export = None
                return None
            # pysyncobj reads what it sends from the transfer's 'file'.
            transmissions[transmissionID] = {"file": io.BytesIO(opened), "transmitted": 0}
        data = super().getTransmissionData(transmissionID)
        if not transmissions:
            self._export = None  # no transfer left: the opened dump is not kept in memory
        return data

    def cancelTransmisstion(self, id: Any) -> None:  # pysyncobj's spelling
        super().cancelTransmisstion(id)
        if not self._Serializer__transmissions:
            self._export = None

    def wait(self, timeout: float | None = None) -> None:
        """Until the dump being written (if any) is done: for a clean shutdown."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)


def _export(path: str, into: Future[bytes]) -> None:
    """Open the dump file as it travels to a follower (``atrest.export_dump``), off the tick
    thread; the outcome goes to ``into``."""
    try:
        into.set_result(atrest.export_dump(path))
    except BaseException as exc:  # handed to the tick thread, which logs it  # noqa: BLE001
        into.set_exception(exc)
