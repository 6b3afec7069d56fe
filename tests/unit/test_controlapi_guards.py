"""What the control API and the join endpoint refuse before anything reaches the store: specs
the managers could not serve, a manager's removal, reads without a leader, joins with a bad
CSR; and the orchestrator's bound on a spec stored before those checks."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from swarmpy.api import dispatcher_pb2
from swarmpy.ca import certificates as ca
from swarmpy.errors import Conflict, InvalidArgument, NoLeader, NotFound
from swarmpy.manager.controlapi.common import RaftMember
from swarmpy.manager.controlapi.controlapi import ControlAPI
from swarmpy.manager.controlapi.validate import MAX_REPLICAS
from swarmpy.manager.nodeca import NodeCAServicer
from swarmpy.manager.orchestrator.replicated import reconcile_replicated
from swarmpy.manager.state.store import CLUSTERS, NODES, LocalLog, Store, Tx
from swarmpy.model import (
    Cluster,
    ContainerSpec,
    ManagerStatus,
    Node,
    NodeRole,
    NodeState,
    ServiceSpec,
)
from tests.support.builders import service

T = TypeVar("T")
RAFT_ADDR = "127.0.0.1:2378"
LEADER = [RaftMember(RAFT_ADDR, leader=True, reachable=True)]
SPEC = ServiceSpec("web", ContainerSpec("busybox"))


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def test_a_trillion_replicas_is_refused_and_nothing_is_stored() -> None:
    async def scenario() -> None:
        api = ControlAPI(Store(LocalLog()), lambda: LEADER)
        huge = dataclasses.replace(SPEC, replicas=1_000_000_000_000)
        with pytest.raises(InvalidArgument, match="at most 100000 replicas"):
            await api.services.create(huge)
        assert api.services.list() == []

        created = await api.services.create(SPEC)
        with pytest.raises(InvalidArgument, match="at most 100000 replicas"):
            await api.services.update(created.id, huge, rollback=False)
        bad_image = dataclasses.replace(
            SPEC, container=dataclasses.replace(SPEC.container, image="Not/Valid")
        )
        with pytest.raises(InvalidArgument, match="not a valid repository/tag"):
            await api.services.update(created.id, bad_image, rollback=False)
        assert api.services.get(created.id).spec == SPEC

    run(scenario())


def test_bad_labels_are_refused_on_networks_and_nodes() -> None:
    async def scenario() -> None:
        store = Store(LocalLog())
        await store.update(lambda tx: tx.create(NODES, Node(id="n1", hostname="h1")))
        api = ControlAPI(store, lambda: LEADER)
        with pytest.raises(InvalidArgument, match="invalid network label"):
            await api.networks.create("net", "overlay", "", "", False, {"a b": "x"})
        assert api.networks.list() == []
        with pytest.raises(InvalidArgument, match="invalid node label"):
            await api.nodes.update("n1", label_add={"k": "v" * 5000})
        assert api.nodes.get("n1").labels == ()

    run(scenario())


def _manager_node(state: NodeState) -> Node:
    return Node(
        id="m2",
        hostname="m2",
        role=NodeRole.MANAGER,
        state=state,
        manager=ManagerStatus(raft_addr="127.0.0.2:2378", api_addr="127.0.0.2:2377"),
    )


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("state", [NodeState.READY, NodeState.DOWN])
def test_a_raft_member_is_never_removed_even_with_force(force: bool, state: NodeState) -> None:
    members = [*LEADER, RaftMember("127.0.0.2:2378", leader=False, reachable=False)]

    async def scenario() -> None:
        store = Store(LocalLog())
        await store.update(lambda tx: tx.create(NODES, _manager_node(state)))
        api = ControlAPI(store, lambda: members)
        with pytest.raises(Conflict) as info:
            await api.nodes.remove("m2", force=force)
        assert str(info.value) == (
            "node m2 is a cluster manager and is a member of the raft cluster. "
            "It must be demoted to worker before removal"
        )
        assert api.nodes.get("m2").id == "m2"

    run(scenario())


def test_a_manager_that_left_raft_may_be_removed_once_down() -> None:
    async def scenario() -> None:
        store = Store(LocalLog())
        await store.update(lambda tx: tx.create(NODES, _manager_node(NodeState.DOWN)))
        api = ControlAPI(store, lambda: LEADER)
        await api.nodes.remove("m2", force=False)
        assert api.nodes.list() == []

    run(scenario())


def test_reads_without_a_leader_are_refused_in_dockers_words() -> None:
    members = [RaftMember(RAFT_ADDR, leader=False, reachable=True)]
    api = ControlAPI(Store(LocalLog()), lambda: members)
    with pytest.raises(NoLeader) as info:
        api.check_leader()
    assert str(info.value) == (
        "The swarm does not have a leader. It's possible that too few managers are online. "
        "Make sure more than half of the managers are online."
    )
    members[0] = RaftMember(RAFT_ADDR, leader=True, reachable=True)
    api.check_leader()


def test_a_stored_trillion_replicas_plans_at_most_the_bound() -> None:
    """A spec stored before the control API checked it: the orchestrator plans the tasks it
    can run, at once, instead of building a slot per replica."""
    svc = service(replicas=1_000_000_000_000)
    started = time.monotonic()
    plan = reconcile_replicated(svc, [], [], now=1.0)
    assert len(plan.create) == MAX_REPLICAS
    assert time.monotonic() - started < 30


# ---------------------------------------------------------------- joins


def _join_endpoint() -> tuple[NodeCAServicer, Store, Cluster]:
    root = ca.create_root_ca()
    cluster = Cluster(
        id="c1",
        root_ca_cert=root.cert_pem,
        root_ca_key=root.key_pem,
        tokens=ca.generate_join_tokens(root.cert_pem),
    )
    store = Store(LocalLog())

    async def no_raft(_addr: str) -> None:
        return None

    return NodeCAServicer(store, no_raft, lambda: [RAFT_ADDR]), store, cluster


def _join(servicer: NodeCAServicer, **fields: str) -> Any:
    request = dispatcher_pb2.IssueNodeCertificateRequest(**fields)
    # The undecorated method: the error itself, not a gRPC abort.
    method = NodeCAServicer.IssueNodeCertificate.__wrapped__  # type: ignore[attr-defined]
    return method(servicer, request, None)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"csr_pem": "not a CSR"}, "invalid certificate signing request"),
        ({"hostname": ""}, "invalid hostname"),
        ({"hostname": "h\nx"}, "invalid hostname"),
        ({"addr": "not-an-ip"}, "invalid advertise address"),
        ({"raft_addr": "127.0.0.3:99999"}, "invalid manager address"),
    ],
)
def test_a_join_leaves_no_node_record_unless_it_is_valid(
    changes: dict[str, str], error: str
) -> None:
    servicer, store, cluster = _join_endpoint()

    async def scenario() -> None:
        def create_cluster(tx: Tx) -> None:
            tx.create(CLUSTERS, cluster)

        await store.update(create_cluster)
        fields = {
            "token": cluster.tokens.manager,
            "csr_pem": ca.create_csr(ca.generate_key()),
            "hostname": "h3",
            "addr": "127.0.0.3",
            "raft_addr": "127.0.0.3:2378",
            "api_addr": "127.0.0.3:2377",
        }
        with pytest.raises(InvalidArgument, match=error):
            await _join(servicer, **{**fields, **changes})
        assert store.view().all(NODES) == []
        # The same join, valid, makes the record.
        reply = await _join(servicer, **fields)
        assert [n.id for n in store.view().all(NODES)] == [reply.node_id]

    run(scenario())


def test_a_spec_naming_no_mode_is_the_clients_error_not_an_internal_one() -> None:
    from swarmpy.dockerjson.service import service_spec

    body = {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}}
    with pytest.raises(InvalidArgument, match=r"unknown field Mode\.Bogus"):
        service_spec({**body, "Mode": {"Bogus": {}}})


def test_a_missing_ref_or_previous_spec_is_worded_as_dockerd() -> None:
    """daemon/cluster/helpers.go's words, which docker's CLI 23+ prints after "Error response
    from daemon: " (`docker node inspect nope` -> "node nope not found")."""

    async def scenario() -> None:
        store = Store(LocalLog())

        def two_nodes(tx: Tx) -> None:
            for node_id in ("abc1", "abc2"):
                tx.create(NODES, Node(id=node_id, hostname=node_id, state=NodeState.READY))

        await store.update(two_nodes)
        api = ControlAPI(store, lambda: LEADER)
        with pytest.raises(NotFound) as missing:
            api.nodes.get("nope")
        assert str(missing.value) == "node nope not found"
        with pytest.raises(InvalidArgument) as ambiguous:
            api.nodes.get("abc")
        assert str(ambiguous.value) == "node abc is ambiguous (2 matches found)"
        with pytest.raises(NotFound) as no_service:
            await api.services.update("web", SPEC, rollback=False)
        assert str(no_service.value) == "service web not found"
        await api.services.create(SPEC)
        with pytest.raises(Conflict) as no_previous:
            await api.services.update("web", None, rollback=True)
        assert str(no_previous.value) == "service does not have a previous spec"
        with pytest.raises(Conflict) as up:  # `docker node rm` of a node that is up
            await api.nodes.remove("abc1", force=False)
        assert str(up.value) == "node abc1 is not down and can't be removed"

    run(scenario())
