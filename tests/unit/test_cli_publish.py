"""--publish, --publish-add/--publish-rm and the PORTS columns, as docker/cli's."""

from __future__ import annotations

import dataclasses

import pytest

from swarmpy.cli.service.ls import ports_column
from swarmpy.cli.service.options import CreateOptions, UpdateOptions, create_spec, update_spec
from swarmpy.cli.service.publish import parse_publish
from swarmpy.cli.task import ports_text
from swarmpy.errors import InvalidArgument
from swarmpy.model import PortConfig, PortProtocol, PublishMode, TaskState
from swarmpy.server.convert.task import task_json
from tests.support.builders import service, task

UDP, SCTP, HOST = PortProtocol.UDP, PortProtocol.SCTP, PublishMode.HOST


@pytest.mark.parametrize(
    ("text", "ports"),
    [
        ("80", (PortConfig(80),)),
        ("8080:80", (PortConfig(80, 8080),)),
        ("8080:80/udp", (PortConfig(80, 8080, UDP),)),
        ("53/udp", (PortConfig(53, 0, UDP),)),
        ("8080-8081:80-81", (PortConfig(80, 8080), PortConfig(81, 8081))),
        ("8080-8081:80", (PortConfig(80, 8080), PortConfig(80, 8081))),
        ("published=8080,target=80,protocol=udp,mode=host", (PortConfig(80, 8080, UDP, HOST),)),
        ("target=80,protocol=sctp", (PortConfig(80, 0, SCTP),)),
        ("mode=host,target=80,published=9090", (PortConfig(80, 9090, publish_mode=HOST),)),
    ],
)
def test_publish_forms(text: str, ports: tuple[PortConfig, ...]) -> None:
    assert parse_publish(text) == ports


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("published=8080", "missing mandatory field 'target'"),
        ("target=80,protocol=icmp", "invalid protocol value 'icmp'"),
        ("target=80,mode=bridge", "invalid publish mode value (bridge)"),
        ("target=80,colour=red", "invalid field key: colour"),
        ("target=99999", "invalid target port (99999)"),
        ("1.2.3.4:8080:80", "hostip is not supported"),
        ("abc", "Invalid containerPort: abc"),
        ("8080:80/icmp", "Invalid proto: icmp"),
        ("8080-8082:80-81", "Invalid ranges specified"),
    ],
)
def test_bad_publish_values_are_refused_in_docker_words(text: str, why: str) -> None:
    with pytest.raises(
        InvalidArgument, match=f'invalid argument "{text}" for "-p, --publish" flag'
    ):
        parse_publish(text)
    with pytest.raises(InvalidArgument) as caught:
        parse_publish(text)
    assert why in str(caught.value)


def test_create_and_update_ports() -> None:
    spec = create_spec(CreateOptions(image="busybox", publish=("8080:80", "53/udp")))
    assert spec.ports == (PortConfig(80, 8080), PortConfig(53, 0, UDP))
    # --publish-rm by target port (and protocol and mode); --publish-add what is new; sorted.
    updated = update_spec(
        spec,
        UpdateOptions(publish_rm=("80",), publish_add=("9090:90", "53/udp")),
        lambda name: name,
    )
    assert updated.ports == (PortConfig(53, 0, UDP), PortConfig(90, 9090))
    unchanged = update_spec(spec, UpdateOptions(), lambda name: name)
    assert unchanged.ports == spec.ports
    # A removal names a port of another protocol: nothing goes.
    udp_rm = update_spec(spec, UpdateOptions(publish_rm=("80/udp",)), lambda name: name)
    assert udp_rm.ports == tuple(sorted(spec.ports, key=lambda p: f"{p.published}:{p.target}"))


def test_service_ls_ports_column_groups_ranges_as_docker() -> None:
    def port(
        published: int, target: int, protocol: str = "tcp", mode: str = "ingress"
    ) -> dict[str, object]:
        return {
            "Protocol": protocol,
            "TargetPort": target,
            "PublishedPort": published,
            "PublishMode": mode,
        }

    assert ports_column([port(8080, 80)]) == "*:8080->80/tcp"
    assert (
        ports_column([port(81, 81), port(80, 80), port(82, 80)])
        == "*:80-81->80-81/tcp, *:82->80/tcp"
    )
    assert ports_column([port(80, 80), port(81, 80)]) == "*:80-81->80/tcp"
    assert ports_column([port(53, 53, "udp"), port(9090, 90, mode="host")]) == "*:53->53/udp"
    assert ports_column([]) == ""


def test_service_ps_ports_of_a_running_host_mode_task() -> None:
    svc = service("web", ports=(PortConfig(80, 9090, publish_mode=HOST), PortConfig(81, 8081)))
    running = task(svc, 1, TaskState.RUNNING, node_id="n1")
    assert ports_text(task_json(running, 1, {})) == "*:9090->80/tcp"
    pending = dataclasses.replace(
        running, status=dataclasses.replace(running.status, state=TaskState.PENDING)
    )
    assert ports_text(task_json(pending, 1, {})) == ""
