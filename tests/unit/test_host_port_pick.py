"""A host-mode port without a published number: the node's pick, kept and shown."""

from __future__ import annotations

import socket

from swarmpy.dockerjson.service import port_json
from swarmpy.model import (
    ContainerSpec,
    PortConfig,
    PortProtocol,
    PublishMode,
    ServiceSpec,
    Task,
    TaskState,
    TaskStatus,
)
from swarmpy.overlay.provider import chosen_port, free_port
from swarmpy.server.convert.task import task_json

HOST_80 = PortConfig(80, 0, PortProtocol.TCP, PublishMode.HOST)


def test_a_port_reported_before_is_kept() -> None:
    reported = (PortConfig(80, 41000, PortProtocol.TCP, PublishMode.HOST),)
    assert chosen_port(HOST_80, reported) == 41000
    assert chosen_port(PortConfig(80, 0, PortProtocol.UDP, PublishMode.HOST), reported) == 0
    assert chosen_port(HOST_80, ()) == 0


def test_a_free_port_is_not_one_given_already() -> None:
    port = free_port("tcp", set())
    with socket.socket() as probe:  # free now: it binds
        probe.bind(("0.0.0.0", port))
    assert free_port("tcp", {("tcp", port)}) != port


def test_port_status_shows_the_node_pick_and_the_spec_omits_zero() -> None:
    spec = ServiceSpec(name="web", container=ContainerSpec(image="busybox"), ports=(HOST_80,))
    picked = PortConfig(80, 41000, PortProtocol.TCP, PublishMode.HOST)
    task = Task(
        id="t1",
        service_id="s1",
        service_name="web",
        slot=1,
        node_id="n1",
        spec=spec,
        desired_state=TaskState.RUNNING,
        status=TaskStatus(state=TaskState.RUNNING, port_status=(picked,)),
    )
    shown = task_json(task, 1, {})["Status"]["PortStatus"]["Ports"]
    assert shown == [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 41000, "PublishMode": "host"}
    ]
    assert port_json(HOST_80) == {"Protocol": "tcp", "TargetPort": 80, "PublishMode": "host"}
