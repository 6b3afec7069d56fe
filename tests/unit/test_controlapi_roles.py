from __future__ import annotations

import asyncio

import pytest

from swarmpy.errors import Conflict, Unavailable
from swarmpy.manager.controlapi.common import RaftMember
from swarmpy.manager.controlapi.nodes import NodeAPI, check_demotion
from swarmpy.manager.state.store import NODES, LocalLog, Store, Tx
from swarmpy.model import ManagerStatus, Node, NodeRole, UpdateState


def manager(addr: str) -> Node:
    return Node(id="n-" + addr, hostname=addr, role=NodeRole.MANAGER,
                manager=ManagerStatus(raft_addr=addr))  # fmt: skip


def three_managers(tx: Tx) -> None:
    for addr in ("a:1", "b:1", "c:1"):
        tx.create(NODES, manager(addr))


def test_the_last_manager_cannot_be_demoted() -> None:
    with pytest.raises(Conflict, match="last manager"):
        check_demotion(manager("a:1"), [RaftMember("a:1", True, True)])


def test_demotion_that_would_lose_quorum_is_refused() -> None:
    members = [RaftMember("a:1", True, True), RaftMember("b:1", False, False),
               RaftMember("c:1", False, True)]  # fmt: skip
    # Without a, b (down) and c remain: one reachable of two is no majority.
    with pytest.raises(Conflict, match="loss of quorum"):
        check_demotion(manager("a:1"), members)


def test_demotion_keeping_a_majority_is_allowed() -> None:
    # b leads; demoting a leaves b and c, both reachable: a majority of what remains.
    members = [RaftMember("a:1", False, True), RaftMember("b:1", True, True),
               RaftMember("c:1", False, True)]  # fmt: skip
    removed: list[str] = []

    async def remove_raft_member(addr: str) -> None:
        removed.append(addr)
        members[:] = [m for m in members if m.addr != addr]

    async def scenario() -> None:
        store = Store(LocalLog())
        await store.update(three_managers)
        api = NodeAPI(store, lambda: members, remove_raft_member)

        demoted = await api.set_role("a:1", "worker")

        assert demoted.role == NodeRole.WORKER
        assert demoted.manager is None
        assert api.get("a:1").role == NodeRole.WORKER
        assert removed == ["a:1"]
        remaining = {n.hostname: n.manager for n in api.list() if n.manager is not None}
        assert sorted(remaining) == ["b:1", "c:1"]
        assert [addr for addr, status in remaining.items() if status.leader] == ["b:1"]
        assert all(status.reachable for status in remaining.values())

    asyncio.run(scenario())


def test_an_update_or_rollback_status_belongs_to_the_new_spec_version() -> None:
    """The orchestrator's updater only takes over a status of the current spec version."""
    from swarmpy.manager.controlapi.controlapi import ControlAPI
    from swarmpy.model import ContainerSpec, ServiceSpec

    async def scenario() -> None:
        api = ControlAPI(Store(LocalLog()), lambda: []).services
        service = await api.create(ServiceSpec("web", ContainerSpec("busybox")))
        spec = ServiceSpec("web", ContainerSpec("busybox", env=("A=1",)))
        updated = await api.update(service.id, spec, rollback=False)
        assert updated.update_status is not None
        assert updated.update_status.state == UpdateState.UPDATING
        assert updated.update_status.spec_version == updated.spec_version == 2
        back = await api.update(service.id, None, rollback=True)
        assert back.update_status is not None
        assert back.update_status.state == UpdateState.ROLLBACK_STARTED
        assert back.update_status.spec_version == back.spec_version == 3
        assert back.spec.container.env == ()

    asyncio.run(scenario())


def test_a_leader_demoting_itself_answers_after_its_raft_log_stopped() -> None:
    """Removing itself from Raft makes the leader a worker, and its membership stops its
    Raft log, sometimes before the call answers: the answer (the node, now a worker) needs
    nothing from Raft."""
    members = [RaftMember("a:1", True, True), RaftMember("b:1", False, True),
               RaftMember("c:1", False, True)]  # fmt: skip
    stopped = False

    def raft_members() -> list[RaftMember]:
        if stopped:
            raise Unavailable("the raft log of this manager is not running")
        return members

    async def remove_raft_member(addr: str) -> None:
        nonlocal stopped
        stopped = True  # this manager removed itself: its Raft log stops under the call

    async def scenario() -> Node:
        store = Store(LocalLog())
        await store.update(three_managers)
        api = NodeAPI(store, raft_members, remove_raft_member)
        return await api.set_role("a:1", "worker")

    demoted = asyncio.run(scenario())
    assert (demoted.role, demoted.manager) == (NodeRole.WORKER, None)
