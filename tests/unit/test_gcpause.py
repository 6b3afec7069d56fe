"""The Raft tick thread's waits for the GIL kept short once a Raft log runs in the process."""

from __future__ import annotations

import sys

from swarmpy.manager.state.raft import gcpause


def test_a_raft_process_asks_for_the_gil_back_within_a_millisecond() -> None:
    # The default (5 ms) made each of a tick's dozen system calls wait up to 5 ms for a busy
    # event loop thread to hand the GIL back; 2,500 nodes then saw ticks of several hundred
    # ms and elections (bench/README.md).
    gcpause.install()
    assert sys.getswitchinterval() == gcpause.SWITCH_INTERVAL_S <= 0.001
