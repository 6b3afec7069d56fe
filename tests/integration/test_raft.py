"""Three (then four) managers' RaftLogs, each in its own process, on 127.0.0.1.

Each process runs this file as a small driver that answers JSON lines on stdin/stdout, so
a leader can be killed with SIGKILL like a crashed manager.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.jsonlines import JsonLinesProcess, serve
from tests.support.poll import wait_for
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "test-cluster-secret"
# A manager between leaders answers with an error: that is "not yet" to a wait, not a failure.
RAFT_NOT_YET = (AssertionError, RuntimeError)


# ---------------------------------------------------------------- driver (child process)


def _serve(argv: list[str]) -> None:
    from swarmpy.errors import SwarmpyError
    from swarmpy.manager.state.raft.log import RaftLog
    from swarmpy.manager.state.store import NODES, Store, Tx
    from swarmpy.model import Node

    addr, data_dir, partners = argv[0], Path(argv[1]), [p for p in argv[2].split(",") if p]
    force = len(argv) > 3 and argv[3] == "force"

    async def main() -> None:
        if force:
            raft = RaftLog.force_new_cluster(addr, data_dir, PASSWORD)
        else:
            raft = RaftLog(addr, partners, data_dir, PASSWORD)
        store = Store(raft)
        raft.start()

        async def handle(cmd: dict[str, Any]) -> dict[str, Any]:
            op = cmd["op"]
            if op == "put":

                def create(tx: Tx) -> None:
                    tx.create(NODES, Node(cmd["id"], cmd["id"]))

                await store.update(create)
                return {}
            if op == "ids":
                return {"ids": sorted(n.id for n in store.view().all(NODES))}
            if op == "status":
                return {
                    "leader": raft.leader(),
                    "is_leader": raft.is_leader(),
                    "members": [[m.addr, m.is_leader, m.reachable] for m in raft.members()],
                }
            if op == "add":
                await raft.add_member(cmd["addr"])
                return {}
            if op == "remove":
                await raft.remove_member(cmd["addr"])
                return {}
            if op == "quorum_without":
                return {"quorum": raft.has_quorum_without(cmd["addr"])}
            raise ValueError(op)

        await serve(handle, (SwarmpyError,), ready={"ready": True})
        await raft.stop()

    asyncio.run(main())


# ---------------------------------------------------------------- test side


class Manager(JsonLinesProcess):
    """One driver process; ``call`` sends a command and waits for its answer."""

    def __init__(self, addr: str, data_dir: Path, partners: list[str], force: bool = False):
        self.addr = addr
        args = [sys.executable, __file__, addr, str(data_dir), ",".join(partners)]
        if force:
            args.append("force")
        super().__init__(f"manager {addr}", args, {**os.environ, "PYTHONPATH": str(REPO)})
        assert self.read()["ready"]


def leader_of(managers: list[Manager]) -> Manager | None:
    for m in managers:
        if m.proc.poll() is None and m.call("status")["is_leader"]:
            return m
    return None


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    started: list[Manager] = []

    def start(addr: str, name: str, partners: list[str], force: bool = False) -> Manager:
        m = Manager(addr, tmp_path / name, partners, force)
        started.append(m)
        return m

    try:
        yield {"start": start, "dir": tmp_path}
    finally:
        for m in started:
            m.stop()


def test_three_managers_replicate_fail_over_and_recover(cluster: dict[str, Any]) -> None:
    start = cluster["start"]
    addrs = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    ms = [start(a, f"m{i}", addrs) for i, a in enumerate(addrs)]

    leader = wait_for("a leader", lambda: leader_of(ms), not_yet=RAFT_NOT_YET)
    followers = [m for m in ms if m is not leader]
    wait_for(
        "all to know the leader",
        lambda: all(m.call("status")["leader"] == leader.addr for m in ms),
        not_yet=RAFT_NOT_YET,
    )

    # Writes on the leader and on a follower (forwarded) reach every manager.
    leader.call("put", id="on-leader")
    followers[0].call("put", id="on-follower")
    wait_for(
        "replication",
        lambda: all(len(m.call("ids")["ids"]) == 2 for m in ms),
        not_yet=RAFT_NOT_YET,
    )

    for i in range(20):
        leader.call("put", id=f"obj-{i}")
    committed = sorted(["on-leader", "on-follower"] + [f"obj-{i}" for i in range(20)])

    assert leader.call("quorum_without", addr=followers[0].addr)["quorum"]

    # kill -9 the leader: a new one within a few seconds, nothing committed lost.
    killed_at = time.monotonic()
    leader.kill()
    new_leader = wait_for(
        "a new leader", lambda: leader_of(followers), timeout=8, not_yet=RAFT_NOT_YET
    )
    print(f"failover after kill -9: {time.monotonic() - killed_at:.2f} s")
    assert new_leader.call("ids")["ids"] == committed
    other = next(m for m in followers if m is not new_leader)
    assert not new_leader.call("quorum_without", addr=other.addr)["quorum"]
    new_leader.call("put", id="after-failover")
    committed = sorted([*committed, "after-failover"])
    wait_for(
        "replication",
        lambda: all(m.call("ids")["ids"] == committed for m in followers),
        not_yet=RAFT_NOT_YET,
    )

    # The killed manager restarts from its data dir and catches up.
    old = leader
    i = ms.index(old)
    restarted = start(old.addr, f"m{i}", addrs)
    ms[i] = restarted
    wait_for("catch-up", lambda: restarted.call("ids")["ids"] == committed, not_yet=RAFT_NOT_YET)
    wait_for(
        "reachable",
        lambda: all(r for _, _, r in new_leader.call("status")["members"]),
        not_yet=RAFT_NOT_YET,
    )

    # A fourth manager joins at runtime (added first, then started), then leaves.
    addr4 = f"127.0.0.1:{free_port()}"
    restarted.call("add", addr=addr4)  # from a follower: pysyncobj forwards it
    m4 = start(addr4, "m4", addrs)
    wait_for("m4 catch-up", lambda: m4.call("ids")["ids"] == committed, not_yet=RAFT_NOT_YET)
    m4.call("put", id="from-m4")
    committed = sorted([*committed, "from-m4"])
    members = {a for a, _, _ in new_leader.call("status")["members"]}
    assert members == {*addrs, addr4}
    new_leader.call("remove", addr=addr4)
    members = {a for a, _, _ in new_leader.call("status")["members"]}
    assert members == set(addrs)
    m4.stop()
    new_leader.call("put", id="after-remove")
    committed = sorted([*committed, "after-remove"])

    # Lose two managers for good; the survivor forces a new cluster and keeps the data.
    survivor = ms[0]
    wait_for(
        "survivor caught up", lambda: survivor.call("ids")["ids"] == committed, not_yet=RAFT_NOT_YET
    )
    for m in ms:
        m.kill()
    lone = start(f"127.0.0.1:{free_port()}", "m0", [], force=True)
    wait_for("forced leader", lambda: lone.call("status")["is_leader"], not_yet=RAFT_NOT_YET)
    assert lone.call("ids")["ids"] == committed
    assert [a for a, _, _ in lone.call("status")["members"]] == [lone.addr]
    lone.call("put", id="after-force")
    assert "after-force" in lone.call("ids")["ids"]


if __name__ == "__main__":
    _serve(sys.argv[1:])
