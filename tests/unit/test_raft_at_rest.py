"""A manager's Raft files sealed at rest: no secret on disk, old files and old keys readable."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swarmpy.manager import sealing
from swarmpy.manager.raftsecret import SecretKeeper
from swarmpy.manager.state.raft import atrest
from swarmpy.manager.state.raft.dumper import BackgroundSerializer
from swarmpy.manager.state.raft.keyring import SECRET_FILE, KeyRing, load_secret, save_secret
from swarmpy.manager.state.raft.storage import (
    DUMP_FILE,
    JOURNAL_FILE,
    JOURNAL_MAGIC,
    FileJournal,
    RaftDataCorrupt,
    read_dump,
    read_journal,
    verify_dump,
    write_dump_file,
)
from swarmpy.manager.state.store import LocalLog, Store
from swarmpy.model import Cluster, RaftKeys
from tests.support.poll import wait_for

CA_KEY = b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIKf4bench0nly+n0t+a+real+key\n"
SECRET = b"s3cret-db-password-4242"


@pytest.fixture
def ring(tmp_path: Path) -> Iterator[list[str]]:
    """The data keys registered for ``tmp_path``, current first; a test may change them."""
    keys = [sealing.new_data_key()]
    atrest.register(tmp_path, lambda: tuple(keys))
    try:
        yield keys
    finally:
        atrest.unregister(tmp_path)


def entries(start: int, n: int) -> list[tuple[bytes, int, int]]:
    return [(b"\x00" + CA_KEY + SECRET + str(i).encode(), i, 1) for i in range(start, start + n)]


def write_journal(path: Path, new: list[tuple[bytes, int, int]]) -> None:
    journal = FileJournal(str(path))
    for entry in new:
        journal.add(*entry)
    journal._destroy()


def in_clear(directory: Path) -> list[Path]:
    return [
        p
        for p in directory.rglob("*")
        if p.is_file() and (CA_KEY in p.read_bytes() or SECRET in p.read_bytes())
    ]


def next_chunk(leader: BackgroundSerializer, node: str) -> Any:
    """The next chunk of the leader's dump for ``node``, once the dump is opened for it."""
    return wait_for("the dump opened for a follower", lambda: leader.getTransmissionData(node))


def dump_data() -> Any:
    return ([{}, {"state": {"ca_key": CA_KEY, "secret": SECRET}}], (b"\x01", 2, 1), (b"", 1, 1))


def test_journal_and_dump_hold_no_secret_in_clear(tmp_path: Path, ring: list[str]) -> None:
    journal = tmp_path / JOURNAL_FILE
    written = entries(1, 5)
    write_journal(journal, written)
    write_dump_file(tmp_path / DUMP_FILE, dump_data())
    assert in_clear(tmp_path) == []
    assert journal.read_bytes().startswith(atrest.JOURNAL_MAGIC)
    assert read_journal(journal)[0] == written
    assert read_dump(tmp_path / DUMP_FILE) == dump_data()
    # Without the keys (a locked manager, or another machine), neither file opens.
    atrest.unregister(tmp_path)
    with pytest.raises(atrest.RaftDataLocked, match=sealing.key_id(ring[0])):
        read_journal(journal)
    with pytest.raises(atrest.RaftDataLocked, match="does not hold"):
        verify_dump(tmp_path / DUMP_FILE)
    atrest.register(tmp_path, (sealing.new_data_key(),))
    with pytest.raises(atrest.RaftDataLocked):
        FileJournal(str(journal))


def test_a_flipped_byte_in_a_sealed_record_or_dump_is_refused(
    tmp_path: Path, ring: list[str]
) -> None:
    journal = tmp_path / JOURNAL_FILE
    write_journal(journal, entries(1, 3))
    _, ends, _ = read_journal(journal)
    data = bytearray(journal.read_bytes())
    data[ends[0] + 30] ^= 0x01
    journal.write_bytes(bytes(data))
    with pytest.raises(RaftDataCorrupt):
        FileJournal(str(journal))
    dump = tmp_path / DUMP_FILE
    write_dump_file(dump, dump_data())
    data = bytearray(dump.read_bytes())
    data[-3] ^= 0x01
    dump.write_bytes(bytes(data))
    with pytest.raises(RaftDataCorrupt, match="authentication tag"):
        verify_dump(dump)


def test_old_keys_stay_readable_and_compaction_moves_to_the_new(
    tmp_path: Path, ring: list[str]
) -> None:
    path = tmp_path / JOURNAL_FILE
    before = entries(1, 3)
    write_journal(path, before)
    old = ring[0]
    ring.insert(0, sealing.new_data_key())  # a rotation: the new key first, the old kept
    after = entries(4, 3)
    write_journal(path, after)
    journal = FileJournal(str(path))
    assert [journal[i] for i in range(len(journal))] == before + after
    # Log compaction rewrites what is kept under the current key: the old one may go.
    journal.deleteEntriesTo(2)
    journal._destroy()
    ring.remove(old)
    assert read_journal(path)[0] == (before + after)[2:]
    assert in_clear(tmp_path) == []


def test_files_of_an_earlier_version_are_read_and_sealed(tmp_path: Path) -> None:
    path, dump = tmp_path / JOURNAL_FILE, tmp_path / DUMP_FILE
    written = entries(1, 4)
    write_journal(path, written)  # no keys registered: in clear, as earlier versions wrote
    write_dump_file(dump, dump_data())
    assert path.read_bytes().startswith(JOURNAL_MAGIC)
    assert dump.read_bytes().startswith(b"\x1f\x8b")
    assert len(in_clear(tmp_path)) == 1  # the dump is gzip: the journal shows its bytes
    atrest.register(tmp_path, (sealing.new_data_key(),))
    try:
        journal = FileJournal(str(path))
        assert [journal[i] for i in range(len(journal))] == written
        journal.add(*entries(5, 1)[0])
        journal._destroy()
        assert atrest.seal_dump_file(dump)
        assert not atrest.seal_dump_file(dump)  # once
        assert in_clear(tmp_path) == []
        assert read_journal(path)[0] == written + entries(5, 1)
        assert read_dump(dump) == dump_data()
    finally:
        atrest.unregister(tmp_path)


def test_a_dump_travels_opened_and_each_manager_seals_it_under_its_keys(
    tmp_path: Path,
) -> None:
    import swarmpy.manager.state.raft.patches  # noqa: F401  (pysyncobj's dump path, patched)

    leader_dir, follower_dir = tmp_path / "leader", tmp_path / "follower"
    leader_dir.mkdir()
    follower_dir.mkdir()
    atrest.register(leader_dir, (sealing.new_data_key(),))
    atrest.register(follower_dir, (sealing.new_data_key(),))  # not the leader's key
    try:
        leader = BackgroundSerializer(str(leader_dir / DUMP_FILE), 1000, False, None, None, None)
        leader.serialize(dump_data(), 7)
        leader.wait()
        assert leader.checkSerializing()[1] == 7
        assert read_dump(leader_dir / DUMP_FILE) == dump_data()
        assert leader.deserialize() == dump_data()
        follower = BackgroundSerializer(
            str(follower_dir / DUMP_FILE), 1000, False, None, None, None
        )
        chunks: list[bytes] = []
        while True:
            part = next_chunk(leader, "f1")
            chunks.append(part[0])
            if follower.setTransmissionData(part):
                break
        assert gzip.decompress(b"".join(chunks))  # opened, as any swarmpy reads it
        assert follower.deserialize() == dump_data()
        assert read_dump(follower_dir / DUMP_FILE) == dump_data()
        assert in_clear(tmp_path) == []
    finally:
        atrest.unregister(leader_dir)
        atrest.unregister(follower_dir)


def test_the_transport_secret_beside_the_journal_is_sealed(tmp_path: Path, ring: list[str]) -> None:
    save_secret(tmp_path, 3, SECRET.decode())
    assert in_clear(tmp_path) == []
    assert load_secret(tmp_path) == (3, SECRET.decode())
    atrest.unregister(tmp_path)  # locked: the state file's password and the store decide
    assert load_secret(tmp_path) is None


def test_records_and_a_dump_from_before_the_first_key_are_sealed_when_it_comes(
    tmp_path: Path,
) -> None:
    """A manager that held no data key yet (a swarm from before them, a key fetched late)
    wrote its first records and dump in clear: its first key seals them, not the next
    compaction."""
    import swarmpy.manager.state.raft.patches  # noqa: F401  (pysyncobj's dump path, patched)

    keys: list[str] = []
    atrest.register(tmp_path, lambda: tuple(keys))
    try:
        path, dump = tmp_path / JOURNAL_FILE, tmp_path / DUMP_FILE
        journal = FileJournal(str(path))
        before = entries(1, 3)
        for entry in before:
            journal.add(*entry)
        journal.sync()
        serializer = BackgroundSerializer(str(dump), 1000, False, None, None, None)
        serializer.serialize(dump_data(), 2)
        serializer.wait()
        assert serializer.checkSerializing()[1] == 2
        assert in_clear(tmp_path) == [path]
        assert gzip.decompress(dump.read_bytes())  # in clear too, behind gzip

        keys.append(sealing.new_data_key())  # the swarm's first data key
        after = entries(4, 1)
        journal.add(*after[0])
        journal.sync()
        serializer.checkSerializing()  # the tick thread, between dumps
        assert in_clear(tmp_path) == []
        assert atrest.is_sealed_dump(dump.read_bytes())
        assert [journal[i] for i in range(len(journal))] == before + after
        journal.add(*entries(5, 1)[0])  # appended as usual from then on
        journal._destroy()
        assert read_journal(path)[0] == before + after + entries(5, 1)
        assert read_dump(dump) == dump_data()
        assert in_clear(tmp_path) == []
    finally:
        atrest.unregister(tmp_path)


def test_a_journal_opened_with_records_from_before_the_key_is_sealed(tmp_path: Path) -> None:
    keys: list[str] = []
    atrest.register(tmp_path, lambda: tuple(keys))
    try:
        path = tmp_path / JOURNAL_FILE
        written = entries(1, 3)
        write_journal(path, written)  # registered, but no key held: records in clear
        assert in_clear(tmp_path) == [path]
        keys.append(sealing.new_data_key())
        journal = FileJournal(str(path))  # a restart holding the key
        journal._destroy()
        assert in_clear(tmp_path) == []
        assert read_journal(path)[0] == written
    finally:
        atrest.unregister(tmp_path)


def test_the_dump_is_opened_for_followers_off_the_tick_thread(
    tmp_path: Path, ring: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import swarmpy.manager.state.raft.patches  # noqa: F401  (pysyncobj's dump path, patched)

    write_dump_file(tmp_path / DUMP_FILE, dump_data())
    opened_on: list[str] = []
    export = atrest.export_dump

    def recording(path: str) -> bytes:
        opened_on.append(threading.current_thread().name)
        return export(path)

    monkeypatch.setattr(atrest, "export_dump", recording)
    leader = BackgroundSerializer(str(tmp_path / DUMP_FILE), 1000, False, None, None, None)
    first = next_chunk(leader, "f1")
    second = next_chunk(leader, "f2")  # a second follower's transfer shares the export
    assert first[0] == second[0]
    assert opened_on == ["raft-dump-export"]
    chunks = [first[0]]
    while not (part := next_chunk(leader, "f1"))[2]:
        chunks.append(part[0])
    assert gzip.decompress(b"".join(chunks))


def test_the_transport_secret_kept_in_clear_is_sealed_with_the_first_key(
    tmp_path: Path,
) -> None:
    keys: list[str] = []
    atrest.register(tmp_path, lambda: tuple(keys))
    try:
        save_secret(tmp_path, 1, SECRET.decode())  # before any key: in clear
        assert in_clear(tmp_path) == [tmp_path / SECRET_FILE]
        keeper = SecretKeeper(Store(LocalLog()), KeyRing(SECRET.decode()), tmp_path)
        cluster = Cluster(id="c1", raft_secret=SECRET.decode(), raft_keys=RaftKeys(epoch=1))
        keeper.follow(cluster)
        assert in_clear(tmp_path) == [tmp_path / SECRET_FILE]  # still no key to seal with
        keys.append(sealing.new_data_key())
        keeper.follow(cluster)  # the cluster object naming the first key
        assert in_clear(tmp_path) == []
        assert load_secret(tmp_path) == (1, SECRET.decode())
    finally:
        atrest.unregister(tmp_path)
