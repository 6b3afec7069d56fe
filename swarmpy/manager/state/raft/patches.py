"""What swarmpy changes in pysyncobj 0.3.17, in one place (docs/raft.md says why).

Importing this module applies the module-level patches; ``PatchedSyncObj`` is the ``SyncObj``
every swarmpy Raft node (and the benchmark's bare baseline) runs.
"""

from __future__ import annotations

import gzip
from typing import Any

import pysyncobj.serializer
from pysyncobj import SyncObj

# pysyncobj writes its full dump (log compaction, every 2,000 entries) through gzip at level
# 9 on its tick thread: 370 ms for a store of 10,000 tasks, during which this manager sends
# and answers nothing, against 70 ms at level 1. The format is the same, so dumps written
# either way read back alike.
DUMP_COMPRESSLEVEL = 1


class _DumpGzip:
    """Stands in for the gzip module inside pysyncobj.serializer."""

    @staticmethod
    def GzipFile(*args: Any, **kwargs: Any) -> gzip.GzipFile:
        kwargs.setdefault("compresslevel", DUMP_COMPRESSLEVEL)
        return gzip.GzipFile(*args, **kwargs)


pysyncobj.serializer.gzip = _DumpGzip


# pysyncobj's command type bytes (syncobj._COMMAND_TYPE), needed to read a journal offline.
REGULAR = b"\x00"
NO_OP = b"\x01"


def wake_if_alone(obj: Any) -> None:
    """Commit a lone manager's new entries now, not a poll period (50 ms) later.

    pysyncobj appends proposed commands at the end of a tick and commits them at the start
    of the next; with followers their replies end the wait in between, but a manager
    alone has nobody to wake it, so each write (and each step of a service create:
    tasks, addresses, placement) would wait out the poll timeout.
    """
    if obj.otherNodes:
        return
    log_ = getattr(obj, "_SyncObj__raftLog", None)
    notifier = getattr(obj, "_SyncObj__pipeNotifier", None)
    if log_ is not None and notifier is not None and log_[-1][1] > obj.raftCommitIndex:
        notifier.notify()


class PatchedSyncObj(SyncObj):  # type: ignore[misc]
    """pysyncobj's SyncObj, reading what arrived before it judges its peers silent.

    A pysyncobj tick checks the election deadline (follower) and the leader-fallback
    deadline (leader) first and reads the network last. A tick thread starved for longer
    than those timeouts (a busy machine, the GIL held by gRPC) then called an election, or
    stepped down, with the leader's heartbeats, or the followers' answers, still unread in
    its sockets: under a burst of writes, leadership moved for no reason.
    """

    def _onTick(self, timeToWait: float = 0.0) -> None:
        self._poller.poll(0)
        super()._onTick(timeToWait)
