"""Three (or more) real Raft logs on loopback ports, members of one cluster: for the tests
that need the managers' Raft without their daemons."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from swarmpy.manager.state.raft.log import RaftLog
from tests.support.ports import free_port


@contextlib.asynccontextmanager
async def raft_logs(
    tmp: Path, password: str, commit_timeout_s: float = 10, count: int = 3
) -> AsyncIterator[list[RaftLog]]:
    """``count`` started RaftLogs, each with its data under ``tmp/m<i>``; all stopped after,
    pass or fail. ``commit_timeout_s`` is each log's wait for a write to commit."""
    addrs = [f"127.0.0.1:{free_port()}" for _ in range(count)]
    logs: list[RaftLog] = []
    try:
        for i, addr in enumerate(addrs):
            raft = RaftLog(addr, addrs, tmp / f"m{i}", password, timeout=commit_timeout_s)
            raft.start()
            logs.append(raft)
        yield logs
    finally:
        for raft in logs:
            await raft.stop()
