"""A manager's Raft files: their formats, their checksums and when they reach the disk.

Three files live in the raft data dir (docs/raft.md, "Durability"):

- ``raft.journal``: a header, then one record per log entry, appended and made durable with
  ``fdatasync`` once per batch (``FileJournal.sync``), never through an mmap;
- ``raft.journal.meta``: the current term, the vote and the commit index, replaced whole
  (temporary file, fsync, rename, fsync of the directory);
- ``raft.dump``: pysyncobj's full dump (log compaction, snapshots received from the leader),
  replaced the same way.

A manager's journal records and dumps are sealed under its data keys (``atrest``).

Every record and file carries a CRC-32. A file that fails it makes the manager refuse to start
(``RaftDataCorrupt``), except a journal's last record torn by a crash in the middle of its
append: it was never synced, so never acknowledged, and is cut off with a warning.
"""

from __future__ import annotations

import errno
import gzip
import json
import logging
import os
import pickle
import struct
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pysyncobj.journal
import pysyncobj.pickle

from swarmpy.errors import SwarmpyError, Unavailable
from swarmpy.fsutil import fsync_dir
from swarmpy.manager.state.raft import atrest

log = logging.getLogger(__name__)

JOURNAL_FILE = "raft.journal"
META_SUFFIX = ".meta"
DUMP_FILE = "raft.dump"

JOURNAL_MAGIC = b"swarmpy raft journal 1\n"
# What pysyncobj's own journal starts with: a manager upgraded from a swarmpy that used it.
PYSYNCOBJ_JOURNAL_MAGIC = b"PYSYNCOBJ"
META_MAGIC = b"swarmpy raft meta 1\n"
DUMP_MAGIC = b"swarmpy raft dump 1\n"

# A record: payload length, CRC-32 of the payload, CRC-32 of those 8 bytes. The header has its
# own checksum so that a corrupted length is told apart from a record cut short by a crash.
_HEADER = struct.Struct("<III")
# A journal record's payload: log index and term, then pysyncobj's command bytes.
_ENTRY = struct.Struct("<QQ")
# A crash in the middle of an append leaves some of the record's blocks unwritten; filesystems
# show them as zeros. A record with a bad checksum is torn (and not corrupted) only when it is
# the last one and a whole disk sector of it, or its end, reads as zeros (as etcd's WAL
# decides). A record never ends with a zero byte (pysyncobj's commands end with a pickle's
# STOP or are one type byte), so a flipped byte is not taken for a tear.
_SECTOR = 512

# pysyncobj writes its full dump (log compaction, every 2,000 entries) through gzip at level
# 9 on its tick thread: 370 ms for a store of 10,000 tasks, during which this manager sends
# and answers nothing, against 70 ms at level 1.
DUMP_COMPRESSLEVEL = 1

# pysyncobj's command type bytes (syncobj._COMMAND_TYPE), needed to read a journal.
REGULAR = b"\x00"
NO_OP = b"\x01"
MEMBERSHIP = b"\x02"

Entry = tuple[bytes, int, int]  # pysyncobj's (command, index, term)


class RaftDataCorrupt(SwarmpyError):
    """A Raft file failed its checksum or is cut short: this manager must not start on it."""

    grpc_status = "DATA_LOSS"

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"refusing to start: the raft file {path} {problem}; rejoin the swarm, or run "
            "swarm init --force-new-cluster on a healthy manager"
        )


class NoSpace(Unavailable):
    """The disk holding the Raft files is full: nothing was written."""

    grpc_status = "RESOURCE_EXHAUSTED"

    def __init__(self, where: str) -> None:
        super().__init__(
            f"raft: no space left on device {where}; the write was not made "
            "(free some space: reads keep working meanwhile)"
        )


def _no_space(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


# ------------------------------------------------------------------ records


def frame(payload: bytes) -> bytes:
    """``payload`` behind a header holding its length and checksums."""
    head = struct.pack("<II", len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def unframe(data: bytes, path: Path, what: str) -> bytes:
    """The payload of ``data`` holding exactly one framed record, checked."""
    if len(data) < _HEADER.size:
        raise RaftDataCorrupt(path, f"is cut short ({what})")
    length, crc, head_crc = _HEADER.unpack_from(data)
    if zlib.crc32(data[:8]) != head_crc or len(data) != _HEADER.size + length:
        raise RaftDataCorrupt(path, f"has a damaged {what} header")
    payload = data[_HEADER.size :]
    if zlib.crc32(payload) != crc:
        raise RaftDataCorrupt(path, f"fails its {what} checksum")
    return payload


def _check_magic(data: bytes, magic: bytes, path: Path) -> None:
    if not data.startswith(magic):
        kind = magic.decode().strip()
        raise RaftDataCorrupt(path, f"does not start as a {kind} should")


# ------------------------------------------------------------------ durable replacement


def durable_replace(tmp: Path | str, path: Path | str) -> bool:
    """Rename ``tmp`` over ``path`` once its bytes are on stable storage, then sync the rename.

    Without the first fsync a crash can leave ``path`` renamed but empty; without the second,
    the old file back. Returns True, as pysyncobj's ``atomicReplace`` does."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(os.path.abspath(path)))
    return True


def write_file(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data``, durably; a full disk raises ``NoSpace`` and keeps the
    old file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        durable_replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if _no_space(exc):
            raise NoSpace(f"for {path}") from None
        raise


# ------------------------------------------------------------------ meta


@dataclass(frozen=True)
class Meta:
    """Raft's persistent state besides the log, and the last commit index known."""

    term: int = 0
    voted_for: str | None = None
    commit_index: int = 1


def read_meta(path: Path) -> Meta:
    data = path.read_bytes()
    _check_magic(data, META_MAGIC, path)
    doc = json.loads(unframe(data[len(META_MAGIC) :], path, "meta"))
    return Meta(int(doc["term"]), doc["voted_for"], int(doc["commit_index"]))


def write_meta(path: Path, meta: Meta) -> None:
    doc = {"term": meta.term, "voted_for": meta.voted_for, "commit_index": meta.commit_index}
    write_file(path, META_MAGIC + frame(json.dumps(doc).encode()))


# ------------------------------------------------------------------ dump


def encode_dump(data: Any) -> bytes:
    """The uncompressed content of a dump file: magic, then the framed pickle of ``data``."""
    return DUMP_MAGIC + frame(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))


def decode_dump(content: bytes, path: Path) -> Any:
    if _pysyncobj_dump(content):
        return pickle.loads(content)
    _check_magic(content, DUMP_MAGIC, path)
    return pickle.loads(unframe(content[len(DUMP_MAGIC) :], path, "dump"))


def _pysyncobj_dump(content: bytes) -> bool:
    # A dump pysyncobj wrote before swarmpy framed them: a bare pickle (protocol 2 or later).
    # Only gzip's own CRC, checked as the whole stream was read, vouches for it.
    return content[:1] == b"\x80"


def _dump_content(path: Path) -> bytes:
    """A dump file's content in clear: sealed (``atrest``) or a gzip stream."""
    try:
        return atrest.dump_content(path.read_bytes(), path)
    except atrest.Damaged as exc:
        raise RaftDataCorrupt(path, str(exc)) from None


def read_dump(path: Path) -> Any:
    """The data of a dump file, checked: (consumers' data, last entry, entry before, members)."""
    return decode_dump(_dump_content(path), path)


def verify_dump(path: Path) -> None:
    """Check a dump's checksums without unpickling it (pysyncobj loads it on its first tick)."""
    content = _dump_content(path)
    if not _pysyncobj_dump(content):
        _check_magic(content, DUMP_MAGIC, path)
        unframe(content[len(DUMP_MAGIC) :], path, "dump")


def write_dump_file(path: Path, data: Any) -> None:
    content = encode_dump(data)
    sealed = atrest.seal_dump(content, atrest.keys_for(path))
    write_file(path, sealed or gzip.compress(content, compresslevel=DUMP_COMPRESSLEVEL))


class DumpCodec:
    """Stands in for the pickle module inside pysyncobj.serializer.

    pysyncobj pickles its dump straight into a gzip stream and unpickles it back without any
    check; this frames the pickle with a checksum first. A dump received from the leader is
    the leader's file, so it is checked the same way when it is loaded."""

    @staticmethod
    def dump(data: Any, f: Any) -> None:
        f.write(encode_dump(data))

    @staticmethod
    def load(f: Any) -> Any:
        return decode_dump(f.read(), Path(getattr(f, "name", DUMP_FILE)))

    @staticmethod
    def to_bytes(data: Any) -> bytes:
        return data if isinstance(data, bytes) else bytes(data)


# ------------------------------------------------------------------ journal


def _record(
    command: bytes, idx: int, term: int, sealed: bool = False, keys: atrest.Keys | None = None
) -> bytes:
    entry = _ENTRY.pack(idx, term) + command
    if sealed:  # a journal in atrest's format: sealed if ``keys`` hold one
        return frame(atrest.seal_record(entry, keys))
    return frame(entry)


def _starts_with(path: Path, magic: bytes) -> bool:
    with open(path, "rb") as f:
        return f.read(len(magic)) == magic


def _convert_pysyncobj_journal(path: Path, meta_path: Path) -> None:
    """Rewrite a journal and meta file in pysyncobj's formats as ours, keeping log and vote.

    The meta file goes first and is read either way, so a crash half-way converts again."""
    old = pysyncobj.journal.FileJournal(str(path))
    try:
        entries = [old[i] for i in range(len(old))]
    finally:
        old._destroy()
    raw = meta_path.read_bytes() if meta_path.exists() else b""
    if raw.startswith(META_MAGIC):
        meta = read_meta(meta_path)
    else:
        doc = pysyncobj.pickle.loads(raw) if raw else {}
        meta = Meta(
            doc.get("currentTerm", 0), doc.get("votedForNodeId"), doc.get("raftCommitIndex", 1)
        )
    write_meta(meta_path, meta)
    write_file(path, JOURNAL_MAGIC + b"".join(_record(*entry) for entry in entries))
    log.warning("raft: converted %s (%d entries) from pysyncobj's format", path, len(entries))


def _zeroed_sector(data: bytes, start: int, end: int) -> bool:
    """Whether ``data[start:end]`` holds a whole sector of zeros or ends in a zeroed sector."""
    pos = start
    while pos < end:
        stop = min(end, (pos // _SECTOR + 1) * _SECTOR)
        whole = stop - pos == _SECTOR or stop == end
        if whole and not any(data[pos:stop]):
            return True
        pos = stop
    return False


def read_journal(path: Path) -> tuple[list[Entry], list[int], int | None]:
    """(entries, end offset of each record, offset of a torn last record or None)."""
    entries, ends, torn, _clear = _read_journal(path)
    return entries, ends, torn


def _read_journal(path: Path) -> tuple[list[Entry], list[int], int | None, bool]:
    """``read_journal``, and whether a record of a sealed-format journal is in clear (written
    while this manager held no data key)."""
    data = path.read_bytes()
    sealed = data.startswith(atrest.JOURNAL_MAGIC)
    if not sealed:
        _check_magic(data, JOURNAL_MAGIC, path)
    keys = atrest.keys_for(path) if sealed else None
    entries: list[Entry] = []
    ends: list[int] = []
    clear = False
    pos = len(JOURNAL_MAGIC)
    while pos < len(data):
        if len(data) - pos < _HEADER.size:
            return entries, ends, pos, clear  # the header itself was cut short
        length, crc, head_crc = _HEADER.unpack_from(data, pos)
        if zlib.crc32(data[pos : pos + 8]) != head_crc:
            if not any(data[pos:]):
                return entries, ends, pos, clear
            raise RaftDataCorrupt(path, f"has a damaged record header at byte {pos}")
        end = pos + _HEADER.size + length
        if end > len(data):
            return entries, ends, pos, clear  # a record whose append did not complete
        payload = data[pos + _HEADER.size : end]
        if zlib.crc32(payload) != crc or length < _ENTRY.size:
            if end == len(data) and _zeroed_sector(data, pos + _HEADER.size, end):
                return entries, ends, pos, clear
            raise RaftDataCorrupt(path, f"fails the checksum of its record at byte {pos}")
        if sealed:
            clear = clear or atrest.in_clear(payload)
            try:
                payload = atrest.open_record(payload, keys, path)
            except atrest.Damaged as exc:
                raise RaftDataCorrupt(path, f"{exc} at byte {pos}") from None
        idx, term = _ENTRY.unpack_from(payload)
        entries.append((payload[_ENTRY.size :], idx, term))
        ends.append(end)
        pos = end
    return entries, ends, None, clear


class FileJournal:
    """pysyncobj's ``Journal`` on a plain file: appended with ``write``, synced on demand.

    pysyncobj's own ``FileJournal`` writes through an mmap it never syncs (a power cut loses
    acknowledged entries; a full disk kills the process with SIGBUS) and swallows any error
    reading its meta file (a lost vote). Here ``add`` only appends; ``sync`` makes every
    entry appended so far durable with one ``fdatasync`` (group commit), and ``dirty`` tells
    whether anything awaits it. ``PatchedSyncObj`` calls ``sync`` before this node tells
    anyone it holds an entry, and before a leader counts its own copy towards a majority.
    A full disk makes ``add`` raise ``NoSpace`` with the file unchanged.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.meta_path = Path(path + META_SUFFIX)
        if self.path.exists() and _starts_with(self.path, PYSYNCOBJ_JOURNAL_MAGIC):
            _convert_pysyncobj_journal(self.path, self.meta_path)
        self._saved_meta = read_meta(self.meta_path) if self.meta_path.exists() else None
        self._meta = self._saved_meta or Meta()
        self._meta_error_logged = False
        self._keys = atrest.keys_for(self.path)
        if not self.path.exists():
            write_file(self.path, JOURNAL_MAGIC if self._keys is None else atrest.JOURNAL_MAGIC)
        self._entries, self._ends, torn, self._clear = _read_journal(self.path)
        self._check_companions()
        self._sealed = _starts_with(self.path, atrest.JOURNAL_MAGIC)
        if self._keys is not None and (not self._sealed or (self._clear and self._keys.ring())):
            # A journal in clear from an earlier version, or with records written before this
            # manager held a data key: sealed at once (atrest).
            self._sealed = True
            write_file(self.path, self._magic + b"".join(self._record(*e) for e in self._entries))
            self._entries, self._ends, torn, self._clear = _read_journal(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        if torn is not None:
            log.warning(
                "raft: %s: cut off an incomplete last record at byte %d (a crash during its "
                "append; it was never acknowledged)",
                self.path,
                torn,
            )
            os.ftruncate(self._fd, torn)
            os.fsync(self._fd)
        self._size = self._ends[-1] if self._ends else len(JOURNAL_MAGIC)
        self.dirty = False
        self._synced_index = self._entries[-1][1] if self._entries else 0
        # Entries dropped by deleteEntriesFrom whose records are still in the file (below).
        self._shadow: list[Entry] = []
        self._shadow_ends: list[int] = []

    def _check_companions(self) -> None:
        """Refuse a journal whose meta file or dump is gone while it shows they existed.

        This node saves a term and its vote (the meta file) before it appends any entry of
        that term, and compacts the journal only once the dump holding the entries before its
        first one is durable. Without the meta file pysyncobj would restart at the last
        entry's term with no vote, free to vote a second time in a term it voted in: two
        leaders of one term, each with its own entries at the same index, and a follower
        applies one's entries then truncates them for the other's. Without the dump it would
        never apply anything past the missing entries. Both are lost files, not a fresh start.
        """
        if not self._entries:
            return
        term = self._entries[-1][2]  # a log's terms never decrease
        if self._saved_meta is None and term > 0:
            raise RaftDataCorrupt(
                self.meta_path,
                f"is missing while {self.path.name} holds entries of term {term} "
                "(this manager's term and vote are lost)",
            )
        first = self._entries[0][1]
        dump = self.path.with_name(DUMP_FILE)
        if first > 1 and not dump.exists():
            raise RaftDataCorrupt(
                dump,
                f"is missing while {self.path.name} starts at entry {first} "
                "(the entries before it are lost)",
            )

    # ------------------------------------------------------------ the log

    def add(self, command: bytes, idx: int, term: int) -> None:
        if self._shadow and self._shadow[0] == (command, idx, term):
            # The entry pysyncobj just dropped, sent again: its record is still in the file.
            self._entries.append(self._shadow.pop(0))
            self._ends.append(self._shadow_ends.pop(0))
            return
        self.settle()
        record = self._record(command, idx, term)
        # This manager's first data key (a swarm from before them, a key fetched late): the
        # records written in clear before it are sealed with this one, as SwarmKit
        # re-encrypts its WAL when its Raft DEK changes, not at the next compaction.
        if (
            self._clear
            and not atrest.in_clear(record)
            and self._rewrite([*self._entries, (command, idx, term)])
        ):
            log.info("raft: sealed %s under the data key", self.path)
            return
        self._append(record)
        self._clear = self._clear or (self._sealed and atrest.in_clear(record))
        self._entries.append((command, idx, term))
        self._ends.append(self._size)
        self.dirty = True
        if command[:1] == NO_OP:
            # A lone manager that wins an election adds its no-op and counts it towards the
            # majority within the same tick, before any other point where it syncs.
            self.sync()

    def _append(self, record: bytes) -> None:
        try:
            written = os.write(self._fd, record)
            if written != len(record):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as exc:
            # A partial record would read back as a torn one; cut it off now instead.
            os.ftruncate(self._fd, self._size)
            if _no_space(exc):
                raise NoSpace(f"for {self.path}") from None
            raise
        self._size += len(record)

    def sync(self) -> None:
        """Make every entry added so far durable (one fdatasync for all of them)."""
        self.settle()
        if not self.dirty:
            return
        os.fdatasync(self._fd)
        self.dirty = False
        self._synced_index = self._entries[-1][1] if self._entries else 0

    def clear(self) -> None:
        self.settle()
        del self._entries[:]
        del self._ends[:]
        self._cut_file()

    def deleteEntriesFrom(self, entryFrom: int) -> None:
        """Drop the entries from ``entryFrom`` on; their records stay until ``settle()``.

        pysyncobj drops everything after an append's previous entry before it adds the entries
        sent, also when they are the very ones it holds (a re-sent append, hundreds of times a
        minute under load): cutting the file then would leave entries this follower had
        acknowledged off the disk until the next sync. The entries sent again are taken back
        from the file instead; the file is cut at the first one that differs, or when the
        append is over (``settle``) past the last one sent again, unless those are the sending
        leader's own."""
        self.settle()
        self._shadow = self._entries[entryFrom:]
        self._shadow_ends = self._ends[entryFrom:]
        del self._entries[entryFrom:]
        del self._ends[entryFrom:]

    def settle(self, leader_term: int | None = None) -> None:
        """End an append: the dropped entries not sent again are cut from the file, or taken
        back when they all are of ``leader_term``, the term of the leader that sent it.

        Raft drops a follower's entries only from the first that conflicts; pysyncobj drops
        all those past an append, so one re-sent shorter than the follower's log (a batch cut
        at ``appendEntriesBatchSizeBytes``) dropped entries it had acknowledged. Entries of
        the sender's term can only be the sender's own (one leader per term, which never
        rewrites its log), so they stay. Membership changes do not: pysyncobj has already
        rolled them back."""
        shadow, ends = self._shadow, self._shadow_ends
        if not shadow:
            return
        self._shadow, self._shadow_ends = [], []
        if leader_term is not None and all(
            term == leader_term and command[:1] != MEMBERSHIP for command, _, term in shadow
        ):
            self._entries += shadow
            self._ends += ends
            return
        self._cut_file()

    def _cut_file(self) -> None:
        # The shorter file becomes durable with the next sync, before this node answers.
        self._size = self._ends[-1] if self._ends else len(JOURNAL_MAGIC)
        os.ftruncate(self._fd, self._size)
        self.dirty = True
        self._synced_index = min(self._synced_index, self._entries[-1][1] if self._entries else 0)

    def deleteEntriesTo(self, entryTo: int) -> None:
        """Drop the entries a durable dump now holds: rewrite the rest to a new file."""
        self.settle()
        if not self._rewrite(self._entries[entryTo:]):
            # Keeping entries the dump also holds is harmless; they go with the next dump.
            log.warning("raft: no space left on device to compact %s; kept it whole", self.path)

    def _rewrite(self, kept: list[Entry]) -> bool:
        """Replace the file by ``kept``'s records, durably; False if the disk is full (the
        file is unchanged)."""
        records = [self._record(*entry) for entry in kept]
        try:
            write_file(self.path, self._magic + b"".join(records))
        except NoSpace:
            return False
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._entries = kept
        self._ends = []
        size = len(JOURNAL_MAGIC)
        for record in records:
            size += len(record)
            self._ends.append(size)
        self._size = size
        self.dirty = False
        self._synced_index = kept[-1][1] if kept else 0
        self._clear = self._sealed and any(atrest.in_clear(r) for r in records)
        return True

    @property
    def _magic(self) -> bytes:
        return atrest.JOURNAL_MAGIC if self._sealed else JOURNAL_MAGIC

    def _record(self, command: bytes, idx: int, term: int) -> bytes:
        return _record(command, idx, term, self._sealed, self._keys)

    def __getitem__(self, item: Any) -> Any:
        return self._entries[item]

    def __len__(self) -> int:
        return len(self._entries)

    def _destroy(self) -> None:
        self.sync()
        self._save_meta()
        os.close(self._fd)

    # ------------------------------------------------------------ term, vote, commit index

    def setCurrentTerm(self, term: int, votedForNodeId: str | None) -> None:
        # Raft needs the term and the vote on stable storage before any message says them.
        self._meta = replace(self._meta, term=term, voted_for=votedForNodeId)
        self._write_meta()

    def getCurrentTerm(self) -> int:
        return self._meta.term

    def getVotedForNodeId(self) -> str | None:
        return self._meta.voted_for

    def setRaftCommitIndex(self, raftCommitIndex: int) -> None:
        self._meta = replace(self._meta, commit_index=raftCommitIndex)

    def getRaftCommitIndex(self) -> int:
        return self._meta.commit_index

    def onOneSecondTimer(self) -> None:
        self._save_meta()

    def _save_meta(self) -> None:
        # The commit index is only a hint for the next start (Raft keeps it in memory): a
        # full disk, or a data dir removed under a closing log (a failed swarm init), must
        # not stop the tick thread over it.
        if self._meta_on_disk() == self._saved_meta:
            return
        try:
            self._write_meta()
        except (NoSpace, OSError) as exc:
            if not self._meta_error_logged:
                log.warning("raft: cannot save %s: %s", self.meta_path, exc)
                self._meta_error_logged = True
        else:
            self._meta_error_logged = False

    def _meta_on_disk(self) -> Meta:
        # Never record a commit index past what is synced: a crash would leave the journal
        # shorter than the index that says what to apply from it at the next start.
        synced = max(1, min(self._meta.commit_index, self._synced_index))
        return replace(self._meta, commit_index=synced)

    def _write_meta(self) -> None:
        meta = self._meta_on_disk()
        write_meta(self.meta_path, meta)
        self._saved_meta = meta
