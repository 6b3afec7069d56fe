"""A manager's Raft files read and written offline: the state they hold, a fresh dump."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

from pysyncobj.journal import createJournal
from pysyncobj.node import TCPNode

from swarmpy.manager.state.raft.machine import install
from swarmpy.manager.state.raft.patches import DUMP_COMPRESSLEVEL, NO_OP, REGULAR
from swarmpy.manager.state.store import StoreState

JOURNAL_FILE = "raft.journal"
DUMP_FILE = "raft.dump"


def recover_state(data_dir: Path) -> StoreState:
    """The store a manager's files describe: its last dump plus every journal entry after."""
    state = StoreState()
    applied = 0
    dump = data_dir / DUMP_FILE
    if dump.exists():
        with gzip.open(dump, "rb") as f:
            data = pickle.load(f)
        # (consumers' data, last entry, entry before it, members); consumer 0 is ours.
        install(state, data[0][1]["state"], None)
        applied = data[1][1]
    journal_path = data_dir / JOURNAL_FILE
    if journal_path.exists():
        journal = createJournal(str(journal_path))
        try:
            for i in range(len(journal)):
                command, idx, _term = journal[i]
                if idx <= applied or command[:1] != REGULAR:
                    continue
                _method, args = pickle.loads(command[1:])
                state.apply(tuple(args[0]))
        finally:
            journal._destroy()
    return state


def write_dump(path: Path, state: StoreState, self_addr: str) -> None:
    """Write a pysyncobj full dump holding ``state`` and the membership {``self_addr``}."""
    prev, last = (NO_OP, 1, 0), (NO_OP, 2, 0)
    data = ([{}, {"state": state}], last, prev, {TCPNode(self_addr)})
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=DUMP_COMPRESSLEVEL) as f:
            pickle.dump(data, f)
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)
