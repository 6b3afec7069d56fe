"""Published ports: spec checks, conflicts between services, dynamic ports, the ingress
network's addresses for tasks, VIPs and nodes' ingress sandboxes."""

from __future__ import annotations

import dataclasses

import pytest

from swarmpy.errors import InvalidArgument
from swarmpy.manager.allocator.network import (
    allocate_network,
    ingress_network,
    plan_allocation,
)
from swarmpy.manager.allocator.ports import (
    DYNAMIC_PORT_START,
    check_ports,
    plan_ports,
    port_conflict,
)
from swarmpy.model import (
    EndpointMode,
    PortConfig,
    PortProtocol,
    PublishMode,
    Service,
    TaskState,
)
from tests.support.builders import node, service, task

UDP = PortProtocol.UDP
HOST = PublishMode.HOST


def published(svc: Service, *ports: PortConfig) -> Service:
    return dataclasses.replace(svc, spec=dataclasses.replace(svc.spec, ports=ports))


def test_spec_checks_in_swarmkits_words() -> None:
    web = service()
    check_ports(published(web, PortConfig(80, 8080), PortConfig(80, 8080, UDP)).spec)
    with pytest.raises(InvalidArgument, match="duplicate published ports provided"):
        check_ports(published(web, PortConfig(80, 8080), PortConfig(81, 8080)).spec)
    dnsrr = service(endpoint_mode=EndpointMode.DNSRR, ports=(PortConfig(80, 8080),))
    with pytest.raises(InvalidArgument, match="can't be used with dnsrr mode"):
        check_ports(dnsrr.spec)
    check_ports(dataclasses.replace(dnsrr.spec, ports=(PortConfig(80, 8080, publish_mode=HOST),)))
    with pytest.raises(InvalidArgument, match="invalid target port 0"):
        check_ports(published(web, PortConfig(0, 8080)).spec)
    with pytest.raises(InvalidArgument, match="invalid published port 70000"):
        check_ports(published(web, PortConfig(80, 70000)).spec)


def test_conflicts_per_protocol_with_dockers_message() -> None:
    web = published(service("web", "id-web"), PortConfig(80, 8080))
    other = published(service("other"), PortConfig(80, 8080)).spec
    assert port_conflict(other, "", [web]) == (
        "port '8080' is already in use by service 'web' (id-web) as an ingress port"
    )
    assert port_conflict(published(service("o"), PortConfig(80, 8080, UDP)).spec, "", [web]) is None
    # An update of the service itself does not conflict with its own port.
    assert port_conflict(web.spec, web.id, [web]) is None
    host = published(service("h", "id-h"), PortConfig(80, 9090, publish_mode=HOST))
    ingress_on_host_port = published(service("o"), PortConfig(80, 9090)).spec
    assert port_conflict(ingress_on_host_port, "", [host]) == (
        "port '9090' is already in use by service 'h' (id-h) as a host-published port"
    )
    # Two host-mode services may share a port: the scheduler keeps their tasks apart.
    host_too = published(service("o"), PortConfig(80, 9090, publish_mode=HOST)).spec
    assert port_conflict(host_too, "", [host]) is None
    # A dynamic port another service was given is taken too.
    dyn = dataclasses.replace(
        published(service("d", "id-d"), PortConfig(80)), endpoint_ports=(PortConfig(80, 30000),)
    )
    assert "by service 'd'" in (
        port_conflict(published(web, PortConfig(1, 30000)).spec, "", [dyn]) or ""
    )


def test_dynamic_ports_are_lowest_free_kept_and_freed() -> None:
    a = dataclasses.replace(published(service("a", "sa"), PortConfig(80)), created_at=1)
    b = dataclasses.replace(
        published(service("b", "sb"), PortConfig(80), PortConfig(53, protocol=UDP)), created_at=2
    )
    plan = plan_ports([a, b])
    assert [p.published for p in plan["sa"]] == [DYNAMIC_PORT_START]
    assert [p.published for p in plan["sb"]] == [DYNAMIC_PORT_START + 1, DYNAMIC_PORT_START]
    a = dataclasses.replace(a, endpoint_ports=plan["sa"])
    b = dataclasses.replace(b, endpoint_ports=plan["sb"])
    assert plan_ports([a, b]) == {}  # kept as they are
    # b drops its TCP port: the port is freed and a new service gets it.
    b = published(b, PortConfig(53, protocol=UDP))
    c = dataclasses.replace(published(service("c", "sc"), PortConfig(80)), created_at=3)
    plan = plan_ports([a, b, c])
    assert plan["sb"] == (PortConfig(53, DYNAMIC_PORT_START, UDP),)
    # b's old port is held until b's new ports are written, then free for others.
    assert plan["sc"][0].published == DYNAMIC_PORT_START + 2
    b = dataclasses.replace(b, endpoint_ports=plan["sb"])
    assert plan_ports([a, b, published(c, PortConfig(81))])["sc"][0].published == (
        DYNAMIC_PORT_START + 1
    )
    # Explicit and host-mode ports are shown as given.
    d = published(service("d", "sd"), PortConfig(80, 8080), PortConfig(81, 9000, publish_mode=HOST))
    assert plan_ports([d])["sd"] == d.spec.ports


def test_ingress_network_for_tasks_vips_and_nodes() -> None:
    ingress = ingress_network()
    assert (ingress.name, ingress.subnet, ingress.ingress) == ("ingress", "10.0.0.0/24", True)
    overnet = allocate_network("overnet", "overlay", "", "", [ingress])
    assert overnet.subnet == "10.0.1.0/24"  # the ingress subnet is out of the pool
    web = published(service("web", networks=(overnet.id,)), PortConfig(80, 8080))
    plain = service("plain", networks=(overnet.id,))
    t1, t2 = task(web, 1, TaskState.NEW), task(plain, 1, TaskState.NEW)
    n1, n2 = node("n1"), node("n2", ingress_addr="10.0.0.2/24")
    plan = plan_allocation([ingress, overnet], [web, plain], [t1, t2], [n1, n2])
    # The ingress network comes last, so eth0 stays the spec's first network.
    assert [a.network_id for a in plan.tasks[t1.id]] == [overnet.id, ingress.id]
    assert [a.network_id for a in plan.tasks[t2.id]] == [overnet.id]
    assert [v.network_id for v in plan.vips[web.id]] == [overnet.id, ingress.id]
    given = [
        plan.tasks[t1.id][1].addresses[0],
        plan.vips[web.id][1].addr,
        *plan.ingress_addrs.values(),
    ]
    assert list(plan.ingress_addrs) == [n1.id]  # n2 keeps its address
    assert len({*given, "10.0.0.2/24"}) == 4
    assert all(a.startswith("10.0.0.") for a in given)
    # Without an ingress network a routing-mesh task cannot be allocated; nodes lose theirs.
    plan = plan_allocation([overnet], [web], [t1], [n2])
    assert plan.failed[t1.id] == "service needs ingress network, but no ingress network is present"
    assert plan.ingress_addrs == {n2.id: ""}
