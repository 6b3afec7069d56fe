"""The replicated log under the store: Raft, on pysyncobj 0.3.17 (docs/raft.md).

- ``log``: ``RaftLog``, the ``Log`` the store proposes to, and the settings it runs with;
- ``machine``: the state machine pysyncobj replicates and snapshots;
- ``patches``: what swarmpy changes in pysyncobj, in one place;
- ``recovery``: reading and writing a manager's files offline (force new cluster);
- ``storage``: the files themselves (journal, meta, dump): formats, checksums, syncing;
- ``atrest``: journal records and dumps sealed under the manager's data keys.
"""
