"""Published ports in Docker's service JSON (Spec.EndpointSpec.Ports, Endpoint.Ports) and the
ingress network in its network JSON."""

from __future__ import annotations

import dataclasses

from swarmpy.dockerjson.service import service_json, service_spec, service_spec_json
from swarmpy.manager.allocator.network import ingress_network
from swarmpy.model import PortConfig, PortProtocol, PublishMode
from swarmpy.server.convert.network import network_create, network_json
from tests.support.builders import service

CLI_CREATE = {
    "Name": "web",
    "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}},
    # What `docker service create -p 8080:80 -p 53/udp -p published=9090,target=90,mode=host`
    # sends.
    "EndpointSpec": {
        "Mode": "vip",
        "Ports": [
            {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": ""},
            {"Protocol": "udp", "TargetPort": 53, "PublishMode": "ingress"},
            {"Protocol": "tcp", "TargetPort": 90, "PublishedPort": 9090, "PublishMode": "host"},
        ],
    },
}


def test_docker_cli_ports_are_read_and_shown_back_with_dockers_keys() -> None:
    spec = service_spec(CLI_CREATE)
    assert spec.ports == (
        PortConfig(80, 8080),
        PortConfig(53, 0, PortProtocol.UDP),
        PortConfig(90, 9090, publish_mode=PublishMode.HOST),
    )
    assert service_spec_json(spec)["EndpointSpec"]["Ports"][0] == {
        "Protocol": "tcp",
        "TargetPort": 80,
        "PublishedPort": 8080,
        "PublishMode": "ingress",
    }
    assert service_spec(service_spec_json(spec)) == spec
    allocated = (*spec.ports[:1], PortConfig(53, 30000, PortProtocol.UDP), *spec.ports[2:])
    svc = dataclasses.replace(service("web"), spec=spec, endpoint_ports=allocated)
    out = service_json(svc, 3)
    assert out["Endpoint"]["Spec"] == service_spec_json(spec)["EndpointSpec"]
    assert [p["PublishedPort"] for p in out["Endpoint"]["Ports"]] == [8080, 30000, 9090]


def test_a_spec_without_ports_shows_none() -> None:
    out = service_json(service("web"), 1)
    assert out["Spec"]["EndpointSpec"] == {"Mode": "vip"}
    assert "Ports" not in out["Endpoint"]


def test_the_ingress_network_in_network_json_and_create() -> None:
    ingress = ingress_network()
    assert network_json(ingress)["Ingress"] is True
    assert network_create({"Name": "mesh", "Ingress": True}).ingress is True
    assert network_create({"Name": "plain"}).ingress is False
