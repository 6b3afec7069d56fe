"""The CLI tags a service's image as Docker's API client does (imageWithTagString), so that a
service made by one client and updated by another keeps an equal spec."""

from __future__ import annotations

from typing import Any, cast

import pytest

from swarmpy.cli.engine import EngineClient
from swarmpy.cli.service.common import tagged, update_service
from swarmpy.model import ContainerSpec, ServiceSpec


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("busybox", "busybox:latest"),
        ("docker.io/library/busybox", "busybox:latest"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"),
        ("localhost/team/app", "localhost/team/app:latest"),
        ("busybox:1.36", "busybox:1.36"),
        ("127.0.0.1:5000/app:v2", "127.0.0.1:5000/app:v2"),
        ("busybox@sha256:" + "a" * 64, "busybox@sha256:" + "a" * 64),
        # Left for the daemon to refuse, with its own message.
        ("Not/A:Ref!", "Not/A:Ref!"),
    ],
)
def test_an_image_without_a_tag_gets_latest(given: str, sent: str) -> None:
    assert tagged(given) == sent


class RecordingEngine:
    def __init__(self) -> None:
        self.bodies: list[Any] = []

    def call(self, method: str, path: str, query: Any, body: Any, headers: Any) -> Any:
        self.bodies.append(body)
        return {}


def test_an_update_sends_the_tagged_image() -> None:
    # `service scale` through the docker CLI sends "busybox:latest"; were ours to send
    # "busybox", every task of a service scaled by both would be replaced.
    engine = RecordingEngine()
    doc = {"ID": "s1", "Version": {"Index": 3}, "Spec": {}}
    spec = ServiceSpec(name="web", container=ContainerSpec(image="busybox"))
    update_service(cast(EngineClient, engine), doc, spec)
    (body,) = engine.bodies
    assert body["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:latest"
