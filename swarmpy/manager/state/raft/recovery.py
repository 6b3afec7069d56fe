"""A manager's Raft files read and written offline: the state they hold, a fresh dump."""

from __future__ import annotations

import pickle
from pathlib import Path

from pysyncobj.node import TCPNode

from swarmpy.manager.state.raft.machine import install
from swarmpy.manager.state.raft.storage import (
    DUMP_FILE,
    JOURNAL_FILE,
    NO_OP,
    REGULAR,
    read_dump,
    read_journal,
    write_dump_file,
)
from swarmpy.manager.state.store import StoreState


def recover_state(data_dir: Path) -> StoreState:
    """The store a manager's files describe: its last dump plus every journal entry after.

    A damaged file raises ``RaftDataCorrupt``; a torn last journal record (never
    acknowledged) is left out."""
    state = StoreState()
    applied = 0
    dump = data_dir / DUMP_FILE
    if dump.exists():
        data = read_dump(dump)
        # (consumers' data, last entry, entry before it, members); consumer 0 is ours.
        install(state, data[0][1]["state"], None)
        applied = data[1][1]
    journal = data_dir / JOURNAL_FILE
    if journal.exists():
        entries, _ends, _torn = read_journal(journal)
        for command, idx, _term in entries:
            if idx <= applied or command[:1] != REGULAR:
                continue
            _method, args = pickle.loads(command[1:])
            state.apply(tuple(args[0]))
    return state


def write_dump(path: Path, state: StoreState, self_addr: str) -> None:
    """Write a full dump holding ``state`` and the membership {``self_addr``}, durably."""
    prev, last = (NO_OP, 1, 0), (NO_OP, 2, 0)
    write_dump_file(path, ([{}, {"state": state}], last, prev, {TCPNode(self_addr)}))
