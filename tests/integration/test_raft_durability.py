"""The Raft store keeps what it acknowledged: a power cut, a full disk, damaged files.

The power cut is a model: every file operation of the Raft storage goes through a layer that
remembers only what was synced (file bytes at fsync/fdatasync, renames at the directory's
fsync); a cut freezes that, and the managers restart on exactly those bytes. Three managers
run in this process (real pysyncobj, TCP on 127.0.0.1) so the cut hits all of them at the same
instant, the worst case.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swarmpy.manager.state.raft import storage
from swarmpy.manager.state.raft.log import RaftLog
from swarmpy.manager.state.raft.storage import (
    DUMP_FILE,
    JOURNAL_FILE,
    JOURNAL_MAGIC,
    NoSpace,
    read_journal,
    verify_dump,
)
from tests.support.daemons import DaemonSet
from tests.support.poll import wait_for_async
from tests.support.ports import free_port

PASSWORD = "test-cluster-secret"


class PowerCut:
    """What a power cut leaves of the Raft files: the bytes synced, nothing else."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._lock = threading.Lock()
        self._paths: dict[int, str] = {}
        self._durable: dict[str, bytes] = {}
        self._renames: dict[str, list[tuple[str, str]]] = {}
        self.frozen: dict[str, bytes] | None = None
        layer = types.SimpleNamespace(**{k: getattr(os, k) for k in dir(os) if k[0] != "_"})
        layer.open = self._open
        layer.fsync = self._sync
        layer.fdatasync = self._sync
        layer.replace = self._replace
        monkeypatch.setattr(storage, "os", layer)
        # The directory's fsync (swarmpy.fsutil, with its own os) is what makes a rename
        # durable: missed, the model lost every meta file, so the managers restarted
        # without their terms and votes and elected two leaders of one term.
        monkeypatch.setattr(storage, "fsync_dir", self._fsync_dir)

    def _open(self, path: Any, flags: int, mode: int = 0o777) -> int:
        fd = os.open(path, flags, mode)
        self._paths[fd] = os.path.abspath(path)
        return fd

    def _sync(self, fd: int) -> None:
        os.fsync(fd)
        path = self._paths[fd]
        with self._lock:
            if self.frozen is not None:
                return
            if os.path.isdir(path):
                for src, dst in self._renames.pop(path, []):
                    self._durable[dst] = self._durable.pop(src, b"")
            else:
                with open(path, "rb") as f:
                    self._durable[path] = f.read()

    def _fsync_dir(self, directory: Any) -> None:
        fd = self._open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self._sync(fd)
        finally:
            os.close(fd)

    def _replace(self, src: Any, dst: Any) -> None:
        os.replace(src, dst)
        src, dst = os.path.abspath(src), os.path.abspath(dst)
        with self._lock:
            self._renames.setdefault(os.path.dirname(dst), []).append((src, dst))

    def cut(self) -> None:
        with self._lock:
            self.frozen = dict(self._durable)

    def restore(self, directory: Path) -> None:
        """Leave in ``directory`` only what the cut kept (call once its managers are gone)."""
        assert self.frozen is not None
        for path in directory.iterdir():
            path.unlink()
        for name, data in self.frozen.items():
            if os.path.dirname(name) == str(directory):
                Path(name).write_bytes(data)


# How long an election (and a restarted leader's replay of its log) may take: generous, as
# the suite's other daemons share the machine's two cores with these three Raft nodes.
ELECTION_S = 60.0


async def leader_of(logs: list[RaftLog], within: float = ELECTION_S) -> RaftLog:
    def leading() -> RaftLog | None:
        return next((log for log in logs if log.is_leader()), None)

    return await wait_for_async("a raft leader", leading, within)


@contextlib.contextmanager
def managers(addrs: list[str], dirs: list[Path]) -> Iterator[list[RaftLog]]:
    logs = [RaftLog(a, addrs, d, PASSWORD, timeout=10.0) for a, d in zip(addrs, dirs, strict=True)]
    started: list[RaftLog] = []
    try:
        for log in logs:
            log.start()
            started.append(log)
        yield logs
    finally:
        for log in started:
            log.close()


async def acknowledged_before_a_cut(logs: list[RaftLog], cut: PowerCut, after: float) -> int:
    """Write from 6 writers (3 on the leader, 3 forwarded by followers) until the cut; the
    highest store index acknowledged to any of them by then."""
    acknowledged = 0

    async def writer(log: RaftLog) -> None:
        nonlocal acknowledged
        while cut.frozen is None:
            result = await log.propose(())
            if cut.frozen is None:
                acknowledged = max(acknowledged, result.index)

    leader = await leader_of(logs)
    followers = [log for log in logs if log is not leader]
    tasks = [asyncio.create_task(writer(log)) for log in [leader] * 3 + followers + followers[:1]]
    await asyncio.sleep(after)
    cut.cut()  # on the event loop: no acknowledgement can slip in between
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return acknowledged


def power_cut_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: float) -> tuple[int, int]:
    """(highest index acknowledged before the cut, index of the store after restarting)."""
    cut = PowerCut(monkeypatch)
    addrs = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    dirs = [tmp_path / f"m{i}" for i in range(3)]

    async def before() -> int:
        with managers(addrs, dirs) as logs:
            return await acknowledged_before_a_cut(logs, cut, after)

    acknowledged = asyncio.run(before())
    assert acknowledged > 20, "too few writes before the cut to tell anything"
    for d in dirs:
        cut.restore(d)

    async def after_restart() -> int:
        with managers(addrs, dirs) as logs:
            # A leader reports leadership once it applied everything committed before it.
            return (await leader_of(logs)).state.index

    return acknowledged, asyncio.run(after_restart())


@pytest.mark.parametrize("after", [0.4, 1.3])
def test_every_acknowledged_write_survives_a_power_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: float
) -> None:
    acknowledged, recovered = power_cut_run(tmp_path, monkeypatch, after)
    # Writes apply in log order: an index at least as high holds every acknowledged write.
    assert recovered >= acknowledged


def test_the_power_cut_model_catches_a_journal_that_does_not_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pysyncobj's own journal never synced: as if fdatasync did nothing, acknowledged writes
    # are lost. The model above would have failed on it.
    monkeypatch.setattr(storage.FileJournal, "sync", _sync_without_disk)
    acknowledged, recovered = power_cut_run(tmp_path, monkeypatch, 0.4)
    assert recovered < acknowledged


def _sync_without_disk(journal: storage.FileJournal) -> None:
    journal.dirty = False


def test_the_power_cut_model_keeps_a_synced_rename_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The term and the vote reach the disk by a rename: kept once the directory is synced.
    cut = PowerCut(monkeypatch)
    meta = tmp_path / "raft.journal.meta"
    storage.write_meta(meta, storage.Meta(term=4, voted_for="127.0.0.1:1"))
    tmp = tmp_path / "unsynced.tmp"
    tmp.write_bytes(b"x")
    cut._replace(tmp, tmp_path / "renamed")  # no fsync of the directory after it
    cut.cut()
    cut.restore(tmp_path)
    assert storage.read_meta(meta).term == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raft.journal.meta"]


# ------------------------------------------------------------------ compaction


def test_a_compacted_log_restarts_from_its_checked_dump(tmp_path: Path) -> None:
    async def run() -> None:
        addr = f"127.0.0.1:{free_port()}"
        with managers([addr], [tmp_path]) as (log,):
            await leader_of([log])
            for _ in range(30):
                await log.propose(())
            obj = log._running()
            obj.forceLogCompaction()
            # Compacted: the dump holds the entries, the journal only the last two of them.
            await wait_for_async("a compaction", lambda: len(obj._SyncObj__raftLog) <= 2)
            index = log.state.index
        verify_dump(tmp_path / DUMP_FILE)
        assert len(read_journal(tmp_path / JOURNAL_FILE)[0]) == 2
        with managers([addr], [tmp_path]) as (log,):
            assert (await leader_of([log])).state.index == index

    asyncio.run(asyncio.wait_for(run(), 30))


# ------------------------------------------------------------------ full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(path: Path) -> None:
    with open(path, "wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\xff" * 65536)
            f.flush()


async def write_until_refused(log: RaftLog) -> NoSpace:
    # The journal's last page may still have room for a few records.
    for _ in range(1000):
        try:
            await log.propose(())
        except NoSpace as exc:
            return exc
    raise AssertionError("writes kept committing on a full disk")


@pytest.mark.root
def test_a_full_disk_fails_writes_and_keeps_reads_and_the_manager(small_disk: Path) -> None:
    async def run() -> None:
        addr = f"127.0.0.1:{free_port()}"
        with managers([addr], [small_disk / "raft"]) as (log,):
            await leader_of([log])
            for _ in range(20):
                await log.propose(())
            before = log.state.index
            filler = small_disk / "filler"
            fill(filler)
            refused = await write_until_refused(log)
            assert "no space left on device" in str(refused)
            assert "\n" not in str(refused)
            full_at = log.state.index
            assert full_at >= before
            # Reads work, the manager still leads, and writes resume once there is room.
            assert log.is_leader()
            await asyncio.sleep(1.5)  # the once-a-second meta save meets the full disk too
            assert log.is_leader()
            assert log._running().tick_thread_alive()
            filler.unlink()
            result = await log.propose(())
            assert result.index == full_at + 1
        # What was acknowledged is on the (now roomier) disk.
        with managers([addr], [small_disk / "raft"]) as (log,):
            assert (await leader_of([log])).state.index == full_at + 1

    asyncio.run(run())


# ------------------------------------------------------------------ damaged files


@pytest.mark.root
def test_the_daemon_refuses_to_start_on_a_damaged_journal(daemons: DaemonSet) -> None:
    (d,) = daemons.start(1)
    d.ok("swarm", "init", "--advertise-addr", "127.0.0.31", "--listen-addr", "127.0.0.31:23977")
    d.ok("network", "create", "-d", "overlay", "kept")
    d.stop()
    journal = d.data_root / "raft" / JOURNAL_FILE
    data = bytearray(journal.read_bytes())
    data[len(JOURNAL_MAGIC) + 20] ^= 0x40  # in the first record: damage, not a torn tail
    journal.write_bytes(bytes(data))

    d.start()
    assert d.process is not None
    assert d.process.wait(30) == 1
    lines = d.log_path.read_text().splitlines()
    refusals = [line for line in lines if "refusing to start" in line]
    assert len(refusals) == 1, "\n".join(lines[-20:])
    assert str(journal) in refusals[0]
    assert "rejoin the swarm, or run swarm init --force-new-cluster" in refusals[0]
    assert not any("Traceback" in line for line in lines), "\n".join(lines[-40:])
