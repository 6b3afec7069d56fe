"""`network inspect --verbose` of a swarm network: Peers and Services as dockerd's."""

from __future__ import annotations

import dataclasses

from swarmpy.model import Network, NetworkAttachment, PortConfig, Task, TaskState, VirtualIP
from swarmpy.overlay.attachment import Attachment
from swarmpy.server.convert.netverbose import endpoint_id, verbose_json
from tests.support.builders import node, service, task

NET = Network(id="net1", name="overnet", subnet="10.0.1.0/24", gateway="10.0.1.1")


def _on(svc_task: Task, address: str) -> Task:
    return dataclasses.replace(
        svc_task,
        networks=(NetworkAttachment("net1", (address,)), NetworkAttachment("other", ("x/24",))),
    )


def test_services_show_their_vip_and_their_running_tasks_endpoints() -> None:
    n1 = node("h1", addr="198.51.100.1")
    n2 = node("h2", addr="198.51.100.2")
    web = dataclasses.replace(
        service("web"), virtual_ips=(VirtualIP("net1", "10.0.1.2/24"), VirtualIP("x", "1/2"))
    )
    running = [
        _on(task(web, 1, TaskState.RUNNING, n1.id), "10.0.1.3/24"),
        _on(task(web, 2, TaskState.RUNNING, n2.id), "10.0.1.4/24"),
    ]
    stopped = _on(task(web, 3, TaskState.FAILED, n2.id, desired=TaskState.SHUTDOWN), "10.0.1.9/24")
    elsewhere = service("db")  # not on the network: not listed
    doc = verbose_json(NET, [web, elsewhere], [*running, stopped], {n1.id: n1, n2.id: n2})
    assert doc["Peers"] == [
        {"Name": f"h1-{n1.id[:12]}", "IP": "198.51.100.1"},
        {"Name": f"h2-{n2.id[:12]}", "IP": "198.51.100.2"},
    ]
    assert list(doc["Services"]) == ["web"]
    entry = doc["Services"]["web"]
    assert entry["VIP"] == "10.0.1.2"
    assert entry["Ports"] == []
    assert [(t["Name"], t["EndpointIP"], t["Info"]) for t in entry["Tasks"]] == [
        (running[0].name, "10.0.1.3", {"Host IP": "198.51.100.1"}),
        (running[1].name, "10.0.1.4", {"Host IP": "198.51.100.2"}),
    ]
    first = running[0]
    assert entry["Tasks"][0]["EndpointID"] == endpoint_id(first.id, "net1")


def test_the_endpoint_id_is_the_one_the_nodes_attachment_shows() -> None:
    att = Attachment("t1", "web.1.t1", "net1", "sb", "eth0", "veth0", "10.0.1.3/24", "02:42")
    assert endpoint_id("t1", "net1") == att.endpoint_id


def test_ingress_lists_published_ports_and_a_dnsrr_service_has_no_vip() -> None:
    ingress = dataclasses.replace(NET, ingress=True)
    web = dataclasses.replace(
        service("web"),
        virtual_ips=(VirtualIP("net1", "10.0.1.2/24"),),
        endpoint_ports=(PortConfig(80, 8080),),
    )
    member = _on(task(web, 1, TaskState.RUNNING, "gone"), "10.0.1.6/24")
    assert verbose_json(ingress, [web], [member], {})["Services"]["web"]["Ports"] == [
        "Target: 80, Publish: 8080"
    ]
    assert verbose_json(ingress, [web], [], {})["Services"] == {}  # no task: no binding
    dnsrr = service("dns")
    member = _on(task(dnsrr, 1, TaskState.RUNNING, "gone"), "10.0.1.7/24")
    entry = verbose_json(NET, [dnsrr], [member], {})["Services"]["dns"]
    assert entry["VIP"] == ""
    assert entry["Tasks"][0]["Info"] == {"Host IP": ""}
