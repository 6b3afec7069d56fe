"""The Raft files' formats: checksums, torn records, refusal of damaged files, a full disk."""

from __future__ import annotations

import errno
import gzip
import logging
import os
import pickle
from pathlib import Path
from typing import Any

import pysyncobj.journal
import pytest

from swarmpy.manager.state.raft.recovery import recover_state, write_dump
from swarmpy.manager.state.raft.storage import (
    DUMP_FILE,
    JOURNAL_FILE,
    JOURNAL_MAGIC,
    FileJournal,
    Meta,
    NoSpace,
    RaftDataCorrupt,
    read_journal,
    read_meta,
    verify_dump,
    write_meta,
)
from swarmpy.manager.state.store import StoreState

WAY_OUT = "rejoin the swarm, or run swarm init --force-new-cluster on a healthy manager"


def journal_with(path: Path, n: int) -> list[tuple[bytes, int, int]]:
    journal = FileJournal(str(path))
    entries = [(b"\x00" + f"command {i}".encode() * 3, i, 1) for i in range(1, n + 1)]
    for entry in entries:
        journal.add(*entry)
    journal.sync()
    journal._destroy()
    return entries


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def refusal(exc: pytest.ExceptionInfo[RaftDataCorrupt], path: Path) -> str:
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message
    assert WAY_OUT in message
    return message


def test_journal_reads_back_what_was_added(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_FILE
    entries = journal_with(path, 5)
    journal = FileJournal(str(path))
    assert [journal[i] for i in range(len(journal))] == entries
    # Truncating (a follower's conflict) and compacting (after a dump) persist.
    journal.deleteEntriesFrom(3)
    journal.add(b"\x00other", 4, 2)
    journal.deleteEntriesTo(1)
    journal._destroy()
    assert read_journal(path)[0] == [*entries[1:3], (b"\x00other", 4, 2)]


def test_a_flipped_byte_in_a_journal_record_is_refused(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_FILE
    journal_with(path, 5)
    _, ends, _ = read_journal(path)
    for offset in (ends[1] + 2, ends[1] + 20, ends[-2] + 30):  # header, payload, last record
        flip(path, offset)
        with pytest.raises(RaftDataCorrupt) as exc:
            FileJournal(str(path))
        assert "checksum" in refusal(exc, path) or "header" in str(exc.value)
        flip(path, offset)
    flip(path, 3)
    with pytest.raises(RaftDataCorrupt) as exc:
        FileJournal(str(path))
    refusal(exc, path)


def test_a_torn_last_record_is_cut_off(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / JOURNAL_FILE
    entries = journal_with(path, 4)
    _, ends, _ = read_journal(path)
    data = path.read_bytes()
    # A crash mid-append: the record cut short, its header cut short, or its blocks unwritten.
    for torn in (data[: ends[-1] - 5], data[: ends[-2] + 7], data[: ends[-2]] + bytes(40)):
        path.write_bytes(torn)
        with caplog.at_level(logging.WARNING):
            journal = FileJournal(str(path))
        assert [journal[i] for i in range(len(journal))] == entries[:3]
        assert "incomplete last record" in caplog.text
        journal._destroy()
        assert path.stat().st_size == ends[-2]
        caplog.clear()


def test_a_full_record_of_zeros_at_the_end_is_torn_but_not_in_the_middle(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_FILE
    journal_with(path, 4)
    _, ends, _ = read_journal(path)
    data = path.read_bytes()
    zeroed = data[: ends[-2] + 12] + bytes(ends[-1] - ends[-2] - 12)
    path.write_bytes(zeroed)
    assert len(FileJournal(str(path))) == 3
    path.write_bytes(data[: ends[0] + 12] + bytes(ends[1] - ends[0] - 12) + data[ends[1] :])
    with pytest.raises(RaftDataCorrupt):
        FileJournal(str(path))


def test_meta_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "raft.journal.meta"
    write_meta(path, Meta(7, "127.0.0.1:4000", 42))
    assert read_meta(path) == Meta(7, "127.0.0.1:4000", 42)
    for offset in range(0, path.stat().st_size, 7):
        flip(path, offset)
        with pytest.raises(RaftDataCorrupt) as exc:
            read_meta(path)
        refusal(exc, path)
        flip(path, offset)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(RaftDataCorrupt):
        FileJournal(str(tmp_path / JOURNAL_FILE))


def test_the_vote_is_durable_and_the_commit_index_never_passes_the_synced_log(
    tmp_path: Path,
) -> None:
    path = tmp_path / JOURNAL_FILE
    journal = FileJournal(str(path))
    journal.add(b"\x01", 1, 0)
    journal.setCurrentTerm(3, "127.0.0.1:4001")
    assert read_meta(Path(f"{path}.meta")) == Meta(3, "127.0.0.1:4001", 1)
    journal.add(b"\x00x", 2, 3)
    journal.setRaftCommitIndex(2)
    journal.onOneSecondTimer()
    assert read_meta(Path(f"{path}.meta")).commit_index == 1  # entry 2 is not synced yet
    journal.sync()
    journal.setRaftCommitIndex(2)
    journal._destroy()
    reopened = FileJournal(str(path))
    assert (reopened.getCurrentTerm(), reopened.getVotedForNodeId()) == (3, "127.0.0.1:4001")
    assert reopened.getRaftCommitIndex() == 2


def test_dump_is_checked(tmp_path: Path) -> None:
    path = tmp_path / DUMP_FILE
    state = StoreState()
    write_dump(path, state, "127.0.0.1:4000")
    verify_dump(path)
    size = path.stat().st_size
    for offset in (size // 2, size - 6, size - 2):  # deflate data, gzip's CRC, its length
        flip(path, offset)
        with pytest.raises(RaftDataCorrupt) as exc:
            verify_dump(path)
        refusal(exc, path)
        with pytest.raises(RaftDataCorrupt):
            recover_state(tmp_path)
        flip(path, offset)
    path.write_bytes(path.read_bytes()[: size // 2])
    with pytest.raises(RaftDataCorrupt):
        verify_dump(path)


def test_a_full_disk_fails_the_append_and_leaves_the_journal_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / JOURNAL_FILE
    entries = journal_with(path, 2)
    journal = FileJournal(str(path))
    real_write = os.write

    def half_then_full(fd: int, data: Any) -> int:
        # The disk fills in the middle of the record.
        real_write(fd, bytes(data)[:5])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(NoSpace, match="no space left on device"):
        journal.add(b"\x00lost", 3, 1)
    monkeypatch.setattr(os, "write", real_write)
    assert len(journal) == 2
    journal.add(b"\x00kept", 3, 1)
    journal._destroy()
    assert read_journal(path) == ([*entries, (b"\x00kept", 3, 1)], read_journal(path)[1], None)


def test_a_new_journal_starts_with_its_header(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_FILE
    FileJournal(str(path))._destroy()
    assert path.read_bytes() == JOURNAL_MAGIC


def test_files_in_pysyncobj_formats_are_converted(tmp_path: Path) -> None:
    # A manager upgraded from a swarmpy that ran pysyncobj's own journal keeps log and vote.
    path = tmp_path / JOURNAL_FILE
    old = pysyncobj.journal.FileJournal(str(path))
    entries = [(b"\x01", 1, 0), (b"\x00first", 2, 4), (b"\x00second", 3, 4)]
    for entry in entries:
        old.add(*entry)
    old.setCurrentTerm(4, "127.0.0.1:4002")
    old.setRaftCommitIndex(3)
    old.onOneSecondTimer()
    old._destroy()
    journal = FileJournal(str(path))
    assert [journal[i] for i in range(len(journal))] == entries
    assert (journal.getCurrentTerm(), journal.getVotedForNodeId()) == (4, "127.0.0.1:4002")
    assert journal.getRaftCommitIndex() == 3
    journal._destroy()
    assert path.read_bytes().startswith(JOURNAL_MAGIC)
    dump = tmp_path / DUMP_FILE
    content: Any = ([{}, {"state": StoreState()}], entries[2], entries[1], set())
    dump.write_bytes(gzip.compress(pickle.dumps(content)))
    verify_dump(dump)
    assert recover_state(tmp_path).index == 0


def test_entries_sent_again_are_not_cut_from_the_file(tmp_path: Path) -> None:
    # pysyncobj drops a follower's entries after an append's previous one before adding the
    # entries sent, even when they are the same: the file keeps them meanwhile.
    path = tmp_path / JOURNAL_FILE
    entries = journal_with(path, 5)
    before = path.read_bytes()
    journal = FileJournal(str(path))
    journal.deleteEntriesFrom(2)
    assert len(journal) == 2
    for entry in entries[2:]:
        journal.add(*entry)
    journal.settle()
    assert path.read_bytes() == before
    assert not journal.dirty
    # Sent again in part by the leader that wrote them (same term): they all stay.
    journal.deleteEntriesFrom(2)
    journal.add(*entries[2])
    journal.settle(leader_term=1)
    assert [journal[i] for i in range(len(journal))] == entries
    assert path.read_bytes() == before
    # By a later leader: what it did not send again is cut, as pysyncobj expects.
    journal.deleteEntriesFrom(2)
    journal.add(*entries[2])
    assert path.read_bytes() == before
    journal.settle(leader_term=2)
    assert read_journal(path)[0] == entries[:3]
    assert len(journal) == 3
    # A different entry (another leader's) cuts the file where it differs.
    journal.deleteEntriesFrom(1)
    journal.add(*entries[1])
    journal.add(b"\x00other", 3, 2)
    journal._destroy()
    assert read_journal(path)[0] == [*entries[:2], (b"\x00other", 3, 2)]


def test_a_journal_whose_meta_file_is_lost_is_refused(tmp_path: Path) -> None:
    # Restarted without its term and vote, a manager could vote twice in one term: two
    # leaders of that term, and entries applied on a follower then truncated.
    path = tmp_path / JOURNAL_FILE
    journal = FileJournal(str(path))
    journal.add(b"\x01", 1, 0)
    journal.setCurrentTerm(2, "127.0.0.1:4001")
    journal.add(b"\x00x", 2, 2)
    journal._destroy()
    meta = Path(f"{path}.meta")
    meta.unlink()
    with pytest.raises(RaftDataCorrupt) as exc:
        FileJournal(str(path))
    assert "term and vote are lost" in refusal(exc, meta)


def test_a_new_journal_needs_no_meta_file(tmp_path: Path) -> None:
    # Before its first election a manager has only the term-0 entry pysyncobj starts with.
    path = tmp_path / JOURNAL_FILE
    journal = FileJournal(str(path))
    journal.add(b"\x01", 1, 0)
    journal.sync()
    os.close(journal._fd)
    assert not Path(f"{path}.meta").exists()
    assert FileJournal(str(path))[0] == (b"\x01", 1, 0)


def test_a_compacted_journal_without_its_dump_is_refused(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_FILE
    entries = journal_with(path, 6)
    journal = FileJournal(str(path))
    journal.deleteEntriesTo(3)  # as after a dump holding entries 1-4
    journal._destroy()
    assert read_journal(path)[0] == entries[3:]
    with pytest.raises(RaftDataCorrupt) as exc:
        FileJournal(str(path))
    assert "the entries before it are lost" in refusal(exc, tmp_path / DUMP_FILE)
    write_dump(tmp_path / DUMP_FILE, StoreState(), "127.0.0.1:4000")
    assert FileJournal(str(path))[0] == entries[3]
