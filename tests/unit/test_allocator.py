from __future__ import annotations

import dataclasses

import pytest

from swarmpy.errors import AlreadyExists, InvalidArgument
from swarmpy.manager.allocator import network as network_allocator
from swarmpy.manager.allocator.network import (
    FIRST_VNI,
    MAX_VNI,
    allocate_network,
    next_vni,
    plan_allocation,
)
from swarmpy.model import EndpointMode, Network, TaskState, VirtualIP, mac_for_ip
from tests.support.builders import service, task


def net(name: str, existing: list[Network], subnet: str = "", gateway: str = "") -> Network:
    """A network made as `network create` makes it: after the VNI handed out last."""
    last_vni = max((n.vni for n in existing), default=0)
    created = allocate_network(name, "overlay", subnet, gateway, existing, last_vni=last_vni)
    existing.append(created)
    return created


def test_default_pool_vnis_and_gateways() -> None:
    existing: list[Network] = []
    a, b = net("a", existing), net("b", existing)
    assert (a.subnet, a.gateway, a.vni) == ("10.0.0.0/24", "10.0.0.1", 4096)
    assert (b.subnet, b.gateway, b.vni) == ("10.0.1.0/24", "10.0.1.1", 4097)
    c = net("c", existing, "10.0.2.0/23", "10.0.3.254")
    assert (c.gateway, net("d", existing).subnet) == ("10.0.3.254", "10.0.4.0/24")
    existing.remove(a)
    e = net("e", existing)  # a freed subnet is reused, a freed VNI is not
    assert (e.subnet, e.vni) == ("10.0.0.0/24", 4100)


def test_a_removed_networks_vni_is_not_the_next_networks() -> None:
    # Its nodes may still be tearing its devices down, which are named after its VNI.
    ingress = allocate_network("ingress", "overlay", "", "", [])
    old = allocate_network("old", "overlay", "", "", [ingress], last_vni=ingress.vni)
    new = allocate_network("new", "overlay", "", "", [ingress], last_vni=old.vni)
    assert (ingress.vni, old.vni, new.vni) == (4096, 4097, 4098)


def test_vnis_wrap_around_skipping_the_ones_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    assert next_vni({4096, 4097}, 0) == 4098
    assert next_vni({4096}, MAX_VNI) == 4097
    assert next_vni({4096, MAX_VNI}, MAX_VNI - 1) == 4097
    assert next_vni(set(), 5000) == 5001
    monkeypatch.setattr(network_allocator, "MAX_VNI", FIRST_VNI + 2)  # a range one can fill
    with pytest.raises(InvalidArgument, match="no free VXLAN id"):
        next_vni({FIRST_VNI, FIRST_VNI + 1, FIRST_VNI + 2}, FIRST_VNI)


def test_network_errors() -> None:
    existing: list[Network] = []
    net("a", existing, "10.1.0.0/16")
    with pytest.raises(AlreadyExists, match="network with name a already exists"):
        net("a", existing)
    with pytest.raises(InvalidArgument, match="Pool overlaps with other one"):
        net("b", existing, "10.1.2.0/24")
    with pytest.raises(InvalidArgument, match="not supported"):
        allocate_network("c", "bridge", "", "", existing)
    with pytest.raises(InvalidArgument, match="no matching subnet for gateway"):
        net("d", existing, "10.2.0.0/24", "10.3.0.1")
    with pytest.raises(InvalidArgument, match="invalid subnet"):
        net("e", existing, "10.4.0.1/24")


def test_task_addresses_vips_and_reuse() -> None:
    network = net("overnet", [])
    svc = service(networks=(network.id,))
    t1, t2 = task(svc, 1, TaskState.NEW), task(svc, 2, TaskState.NEW)
    plan = plan_allocation([network], [svc], [t1, t2])
    assert plan.vips == {svc.id: (VirtualIP(network.id, "10.0.0.2/24"),)}
    (a1,), (a2,) = plan.tasks[t1.id], plan.tasks[t2.id]
    assert (a1.addresses, a1.mac) == (("10.0.0.3/24",), mac_for_ip("10.0.0.3"))
    assert a2.addresses == ("10.0.0.4/24",)

    # t1 is deleted, t2 kept: t1's address is the lowest free one again.
    svc = dataclasses.replace(svc, virtual_ips=plan.vips[svc.id])
    t2 = dataclasses.replace(
        t2, networks=(a2,), status=dataclasses.replace(t2.status, state=TaskState.RUNNING)
    )
    t3 = task(svc, 1, TaskState.NEW)
    again = plan_allocation([network], [svc], [t2, t3])
    assert again.vips == {}
    assert again.tasks[t3.id][0].addresses == ("10.0.0.3/24",)


def test_dnsrr_has_no_vip_and_tasks_without_networks_pass() -> None:
    network = net("overnet", [])
    svc = service(networks=(network.id,), endpoint_mode=EndpointMode.DNSRR)
    plain = task(service("plain"), 1, TaskState.NEW)
    plan = plan_allocation([network], [svc], [plain])
    assert plan.vips == {}
    assert plan.tasks == {plain.id: ()}


def test_full_subnet_and_missing_network_fail_the_task() -> None:
    network = net("tiny", [], "10.9.0.0/30")  # one host address left after the gateway
    svc = service(networks=(network.id,), endpoint_mode=EndpointMode.DNSRR)
    t1, t2 = task(svc, 1, TaskState.NEW), task(svc, 2, TaskState.NEW)
    lost = task(service("x", networks=("nope",)), 1, TaskState.NEW)
    plan = plan_allocation([network], [svc], [t1, t2, lost])
    assert plan.tasks[t1.id][0].addresses == ("10.9.0.2/30",)
    assert plan.failed == {
        t2.id: "no free address left on network tiny",
        lost.id: "network nope not found",
    }
