import pytest

from swarmpy.errors import Conflict
from swarmpy.manager.controlapi import RaftMember, check_demotion
from swarmpy.model import ManagerStatus, Node, NodeRole


def manager(addr: str) -> Node:
    return Node(id="n-" + addr, hostname=addr, role=NodeRole.MANAGER,
                manager=ManagerStatus(raft_addr=addr))  # fmt: skip


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
    members = [RaftMember("a:1", True, True), RaftMember("b:1", False, True),
               RaftMember("c:1", False, True)]  # fmt: skip
    check_demotion(manager("a:1"), members)
