"""--limit-pids: the spec's limit, its validation, the CLI flags and the container's cgroup."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmpy.agent import container
from swarmpy.cli.main import app
from swarmpy.engine import bundle
from swarmpy.engine.images.records import ImageConfig
from swarmpy.errors import InvalidArgument
from swarmpy.manager.controlapi import validate
from swarmpy.model import ResourceRequirements, Resources, Task
from swarmpy.overlay.sandbox import SandboxInfo
from tests.support.builders import service, task

SANDBOX = SandboxInfo("/run/netns/x1", "nameserver 127.0.0.11\n", "127.0.0.1 localhost\n", "abc")
IMAGE = ImageConfig(image_id="sha256:abc", cmd=("sh",))


def limited(pids: int) -> Task:
    return task(service(resources=ResourceRequirements(limits=Resources(pids=pids))))


def oci_resources(t: Task) -> dict[str, object]:
    paths = bundle.BundlePaths(Path("/c/ctr"), Path("/c/ctr/rootfs"), Path("/c/volumes"))
    config = bundle.build_config(
        IMAGE, container.container_config(t, SANDBOX, "node1"), paths, cgroups_path="/sp/x"
    )
    resources: dict[str, object] = config["linux"]["resources"]
    return resources


def test_the_limit_reaches_the_containers_pids_cgroup() -> None:
    assert oci_resources(limited(64))["pids"] == {"limit": 64}


def test_zero_is_unlimited() -> None:
    assert "pids" not in oci_resources(limited(0))


@pytest.mark.parametrize("pids", [0, 1, 100, 2**63 - 1])
def test_limits_taken(pids: int) -> None:
    validate.check_resource_requirements(ResourceRequirements(limits=Resources(pids=pids)))


@pytest.mark.parametrize(
    ("requirements", "fragment"),
    [
        (ResourceRequirements(limits=Resources(pids=-1)), "invalid pids limit -1: must be >= 0"),
        (ResourceRequirements(limits=Resources(pids=-(2**80))), "below zero"),
        (ResourceRequirements(limits=Resources(pids=2**63)), "must be at most"),
        (ResourceRequirements(reservations=Resources(pids=5)), "only be limited, not reserved"),
    ],
)
def test_limits_refused(requirements: ResourceRequirements, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate.check_resource_requirements(requirements)
    assert fragment in str(info.value)


def test_a_spec_with_a_negative_limit_is_refused_whole() -> None:
    spec = service(resources=ResourceRequirements(limits=Resources(pids=-3))).spec
    with pytest.raises(InvalidArgument, match="pids"):
        validate.check_service_spec(spec)
    validate.check_service_spec(dataclasses.replace(spec, resources=ResourceRequirements()))


@pytest.mark.parametrize("command", [["service", "create"], ["service", "update"]])
def test_the_cli_refuses_a_negative_limit_before_asking_a_daemon(command: list[str]) -> None:
    # A socket that does not exist: had the CLI called the daemon, it would say so instead.
    env = {"SWARMPY_HOST": "unix:///nonexistent/swarmpy-test.sock"}
    result = CliRunner().invoke(app, [*command, "--limit-pids", "-1", "busybox"], env=env)
    assert isinstance(result.exception, InvalidArgument)
    assert "invalid pids limit -1" in str(result.exception)
