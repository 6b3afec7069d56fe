"""Host-mode published ports: at most one task publishing a port per node."""

from __future__ import annotations

from swarmpy.manager.scheduler.scheduler import schedule
from swarmpy.model import PortConfig, PortProtocol, PublishMode, TaskState
from tests.support.builders import node, service, task

HOST = PublishMode.HOST


def test_two_tasks_publishing_one_host_port_go_to_different_nodes() -> None:
    web = service("web", ports=(PortConfig(80, 8080, publish_mode=HOST),))
    a, b = node("a"), node("b")
    t1, t2 = task(web, 1), task(web, 2)
    placed = schedule([t1, t2], [a, b], [t1, t2]).assignments
    assert sorted(placed.values()) == [a.id, b.id]


def test_a_second_task_on_a_one_node_swarm_stays_pending_with_dockers_reason() -> None:
    web = service("web", ports=(PortConfig(80, 8080, publish_mode=HOST),))
    a = node("a")
    running = task(web, 1, TaskState.RUNNING, node_id=a.id)
    pending = task(web, 2)
    result = schedule([pending], [a], [running, pending])
    assert result.unschedulable == {
        pending.id: "no suitable node (host-mode port already in use on 1 node)"
    }
    # Another protocol, another port, or an ingress-mode port on the same number: no clash.
    for ports in (
        (PortConfig(80, 8080, PortProtocol.UDP, HOST),),
        (PortConfig(80, 8081, publish_mode=HOST),),
        (PortConfig(80, 8080),),
    ):
        other = task(service("other", ports=ports), 1)
        assert schedule([other], [a], [running, other]).assignments == {other.id: a.id}
    # An ended task frees its node's port.
    ended = task(web, 1, TaskState.SHUTDOWN, node_id=a.id)
    assert schedule([pending], [a], [ended, pending]).assignments == {pending.id: a.id}
