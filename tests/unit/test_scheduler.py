from __future__ import annotations

import time

import pytest

from swarmpy.errors import InvalidArgument
from swarmpy.manager import constraint
from swarmpy.manager.scheduler.filters import NodeLoad, ReadyFilter
from swarmpy.manager.scheduler.scheduler import schedule
from swarmpy.model import NodeAvailability, NodeRole, NodeState, Resources, TaskState
from tests.support.builders import node, nodes, reserving, service, task


@pytest.mark.parametrize(
    "expr",
    ["node.hostname", "node.hostname=a", "node.color==red", "node.labels.==x", "node.role==boss"],
)
def test_bad_constraints_are_rejected(expr: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid constraint"):
        constraint.parse(expr)


def test_constraints_match_id_hostname_role_labels() -> None:
    n = node("a", role=NodeRole.MANAGER, labels=(("zone", "East"),))

    def match(*exprs: str) -> bool:
        return constraint.node_matches(constraint.parse_all(exprs), n)

    assert match("node.hostname==a", "node.role==manager", "node.labels.zone==east")
    assert match(f"node.id=={n.id}", "node.hostname!=b", "node.labels.rack!=1")
    assert not match("node.role==worker")
    assert not match("node.labels.zone!=east")
    assert not match("node.labels.rack==1")


def test_a_stored_bad_constraint_matches_no_node() -> None:
    """One that slipped past the control API places nothing instead of failing a tick."""
    bad = constraint.parse_stored(["node.color==red"])
    assert not constraint.node_matches(bad, node("a"))
    assert constraint.parse_stored([]) == ()


def test_ready_filter_rejects_down_drained_paused() -> None:
    svc = service()
    f = ReadyFilter()
    for n in (
        node("a", state=NodeState.DOWN),
        node("b", availability=NodeAvailability.DRAIN),
        node("c", availability=NodeAvailability.PAUSE),
    ):
        assert not f.check(n, task(svc), NodeLoad(n))
    assert f.explain(1) == "1 node not available for new tasks"
    assert f.explain(2) == "2 nodes not available for new tasks"


def test_spread_prefers_fewest_service_tasks_then_fewest_tasks() -> None:
    web, db = service("web"), service("db")
    a, b, c = node("a"), node("b"), node("c")
    running = [
        task(web, state=TaskState.RUNNING, node_id=a.id),
        task(db, state=TaskState.RUNNING, node_id=b.id),
        task(db, state=TaskState.RUNNING, node_id=b.id),
    ]
    pending = [task(web, slot=i) for i in (2, 3, 4)]
    placed = schedule(pending, [a, b, c], running + pending).assignments
    # c is empty, b has no web task; then all have one web task and a, c one task overall.
    assert [placed[t.id] for t in pending] == [c.id, b.id, a.id]


def test_terminal_tasks_do_not_count() -> None:
    web = service()
    a, b = node("a"), node("b")
    ended = [task(web, state=TaskState.FAILED, node_id=b.id) for _ in range(3)]
    pending = task(web)
    assert schedule([pending], [a, b], [*ended, pending]).assignments[pending.id] == a.id


def test_unschedulable_reason_reads_like_docker() -> None:
    svc = service(constraints=("node.labels.gpu==yes",))
    ns = [
        node("down", state=NodeState.DOWN),
        node("drained", availability=NodeAvailability.DRAIN),
        node("plain"),
    ]
    t = task(svc)
    result = schedule([t], ns, [t])
    assert result.unschedulable[t.id] == (
        "no suitable node (2 nodes not available for new tasks; "
        "scheduling constraints not satisfied on 1 node)"
    )
    assert schedule([t], [], [t]).unschedulable[t.id] == "no suitable node"


def test_reservations_fill_nodes_then_report_insufficient_resources() -> None:
    svc = service(**reserving(cpus=1))
    ns = [node(n, resources=Resources(nano_cpus=2 * 10**9)) for n in ("a", "b")]
    pending = [task(svc, slot=i) for i in range(1, 6)]
    result = schedule(pending, ns, pending)
    assert len(result.assignments) == 4
    assert sorted(result.assignments.values()).count(ns[0].id) == 2
    (reason,) = result.unschedulable.values()
    assert reason == "no suitable node (insufficient resources on 2 nodes)"


def test_preassigned_global_task_only_checks_its_node() -> None:
    svc = service()
    down = node("a", state=NodeState.DOWN)
    ok = node("b")
    t1, t2 = task(svc, 0, node_id=down.id), task(svc, 0, node_id=ok.id)
    result = schedule([t1, t2], [down, ok], [t1, t2])
    assert result.assignments == {t2.id: ok.id}
    assert result.unschedulable[t1.id] == "no suitable node (1 node not available for new tasks)"


def test_10k_tasks_on_1k_nodes_fast_and_even() -> None:
    svc = service(constraints=("node.role==worker",))
    ns = nodes(1000)
    pending = [task(svc, slot=i) for i in range(1, 10_001)]
    started = time.perf_counter()
    result = schedule(pending, ns, pending)
    elapsed = time.perf_counter() - started
    assert len(result.assignments) == 10_000
    per_node: dict[str, int] = {}
    for node_id in result.assignments.values():
        per_node[node_id] = per_node.get(node_id, 0) + 1
    assert set(per_node.values()) == {10}
    assert elapsed < 0.5, f"{10_000 / elapsed:.0f} tasks/s"
