"""The replicated log under the store: Raft, on pysyncobj 0.3.17 (docs/raft.md).

- ``log``: ``RaftLog``, the ``Log`` the store proposes to, and the settings it runs with;
- ``machine``: the state machine pysyncobj replicates and snapshots;
- ``patches``: what swarmpy changes in pysyncobj, in one place;
- ``recovery``: reading and writing a manager's files offline (force new cluster);
- ``storage``: the files themselves (journal, meta, dump): formats, checksums, syncing;
- ``atrest``: journal records and dumps sealed under the manager's data keys.
"""

import _socket
import socket

import pysyncobj.win_inet_pton  # noqa: F401  (imported for its side effect, undone below)

# pysyncobj 0.3.17's win_inet_pton, which its transport imports, replaces socket.inet_ntop
# on every OS (a line meant for Windows only) with one that raises on Linux. pyroute2 takes
# inet_ntop from socket when it is imported: after pysyncobj, it decoded no address at all
# (an overlay's forwarding entries read as raw bytes, so a daemon could not correct them).
# Every import of pysyncobj in swarmpy passes through this package first: the C function is
# back before anything else can take the broken one.
socket.inet_ntop = _socket.inet_ntop
