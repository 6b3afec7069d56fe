"""The control API's spec checks (swarmpy.manager.controlapi.validate): each with values it
must take and values it must refuse, and a whole spec refused for any one bad field."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from swarmpy.errors import InvalidArgument
from swarmpy.manager.controlapi import validate
from swarmpy.model import (
    ContainerSpec,
    Mount,
    MountType,
    ResourceRequirements,
    Resources,
    RestartPolicy,
    ServiceSpec,
    UpdateConfig,
)


def refused(check: Callable[..., None], *args: Any) -> str:
    with pytest.raises(InvalidArgument) as info:
        check(*args)
    message = str(info.value)
    assert message
    assert "\n" not in message
    return message


@pytest.mark.parametrize("name", ["web", "a", "my-app_2", "x" * 63])
def test_names_taken(name: str) -> None:
    validate.check_name(name)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "name must be provided"),
        ("x" * 64, "63 characters or fewer"),
        ("-web", "DNS name component"),
        ("web-", "DNS name component"),
        ("a.b", "DNS name component"),
        ("a b", "DNS name component"),
        ("é", "DNS name component"),
    ],
)
def test_names_refused(name: str, fragment: str) -> None:
    assert fragment in refused(validate.check_name, name)


def test_a_long_name_is_not_echoed_whole() -> None:
    assert len(refused(validate.check_name, "x" * 100_000)) < 200


@pytest.mark.parametrize("replicas", [0, 1, 3, validate.MAX_REPLICAS])
def test_replicas_taken(replicas: int) -> None:
    validate.check_replicas(replicas)


@pytest.mark.parametrize(
    ("replicas", "fragment"),
    [
        (-1, "must be >= 0"),
        (validate.MAX_REPLICAS + 1, "at most 100000 replicas"),
        (1_000_000_000_000, "invalid replicas value 1000000000000"),
    ],
)
def test_replicas_refused(replicas: int, fragment: str) -> None:
    assert fragment in refused(validate.check_replicas, replicas)


@pytest.mark.parametrize("nano", [0, 1_000_000, 500_000_000, 64_000_000_000, validate.MAX_INT64])
def test_cpus_taken(nano: int) -> None:
    validate.check_cpus(nano)


@pytest.mark.parametrize(
    ("nano", "message"),
    [
        (999_999, "invalid cpu value 0.000999999: Must be at least 0.001"),
        (1, "invalid cpu value 1e-09: Must be at least 0.001"),
        (-1_000_000_000, "invalid cpu value -1: Must be at least 0.001"),
    ],
)
def test_cpus_refused(nano: int, message: str) -> None:
    assert refused(validate.check_cpus, nano) == message


def test_cpus_beyond_int64_refused() -> None:
    assert "Must be at most" in refused(validate.check_cpus, validate.MAX_INT64 + 1)


@pytest.mark.parametrize("size", [0, 4 * 1024 * 1024, 1 << 40])
def test_memory_taken(size: int) -> None:
    validate.check_memory(size)


@pytest.mark.parametrize("size", [1, 4 * 1024 * 1024 - 1, -5])
def test_memory_refused(size: int) -> None:
    message = refused(validate.check_memory, size)
    assert message == f"invalid memory value {size}: Must be at least 4MiB"


def test_memory_beyond_int64_refused() -> None:
    assert "Must be at most" in refused(validate.check_memory, 2**64)


def test_resource_requirements_check_limits_and_reservations() -> None:
    small = Resources(nano_cpus=1)
    validate.check_resource_requirements(ResourceRequirements())
    refused(validate.check_resource_requirements, ResourceRequirements(limits=small))
    refused(validate.check_resource_requirements, ResourceRequirements(reservations=small))


@pytest.mark.parametrize("target", ["/data", "/a/b", "/var/lib/x_y", "/a.b"])
@pytest.mark.parametrize("kind", list(MountType))
def test_mount_targets_taken(target: str, kind: MountType) -> None:
    source = {MountType.BIND: "/srv", MountType.VOLUME: "vol1", MountType.TMPFS: ""}[kind]
    validate.check_mount(Mount(kind, target, source))


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("data", "mount path must be absolute"),
        ("", "mount path must be absolute"),
        ("/", "destination can't be '/'"),
        ("/a/../b", "must be normalised ('/b')"),
        ("/a/", "must be normalised ('/a')"),
        ("//a", "must be normalised"),
        ("/a//b", "must be normalised"),
        ("/a/./b", "must be normalised"),
        ("/a\0b", "NUL"),
    ],
)
def test_mount_targets_refused(target: str, fragment: str) -> None:
    message = refused(validate.check_mount, Mount(MountType.TMPFS, target))
    assert message.startswith('invalid mount config for type "tmpfs": ')
    assert fragment in message


@pytest.mark.parametrize(
    ("mount", "fragment"),
    [
        (Mount(MountType.BIND, "/a", ""), "Source must not be empty"),
        (Mount(MountType.BIND, "/a", "srv"), "'srv' mount path must be absolute"),
        (Mount(MountType.VOLUME, "/a", ""), "invalid characters for a local volume name"),
        (Mount(MountType.VOLUME, "/a", ".."), "invalid characters for a local volume name"),
        (Mount(MountType.VOLUME, "/a", "a/b"), "invalid characters for a local volume name"),
        (Mount(MountType.TMPFS, "/a", "x"), "Source must not be specified"),
    ],
)
def test_mount_sources_refused(mount: Mount, fragment: str) -> None:
    assert fragment in refused(validate.check_mount, mount)


def test_duplicate_mount_points_refused() -> None:
    mounts = (Mount(MountType.TMPFS, "/a"), Mount(MountType.VOLUME, "/a", "v1"))
    assert refused(validate.check_mounts, mounts) == "ContainerSpec: duplicate mount point: /a"


@pytest.mark.parametrize("entry", ["A=1", "A=", "PATH=/bin:/usr/bin", "A==b", "lower_case=x y"])
def test_env_taken(entry: str) -> None:
    validate.check_env([entry])


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [("A", "expected KEY=VALUE"), ("=1", "expected KEY=VALUE"), ("A=\0", "NUL")],
)
def test_env_refused(entry: str, fragment: str) -> None:
    assert fragment in refused(validate.check_env, [entry])


@pytest.mark.parametrize(
    "image",
    [
        "busybox",
        "busybox:1.36",
        "library/busybox:latest",
        "127.0.0.1:5000/app:v1",
        "localhost/app",
        "registry.example.com/team/app@sha256:" + "a" * 64,
    ],
)
def test_images_taken(image: str) -> None:
    validate.check_image(image)


@pytest.mark.parametrize(
    "image",
    ["Busybox", "busybox:", "a b", ":tag", "busybox@sha256:12", "-x", "a" * 300, "x" * 100_000],
)
def test_images_refused(image: str) -> None:
    message = refused(validate.check_image, image)
    assert message.startswith("ContainerSpec: ")
    assert "is not a valid repository/tag" in message
    assert len(message) < 300


def test_empty_image_refused() -> None:
    assert refused(validate.check_image, "") == "ContainerSpec: image reference must be provided"


@pytest.mark.parametrize(
    "hostname", ["web", "web-1", "a.b.c", "x" * 63, ".".join(["x" * 63] * 3) + ".xx", "1host"]
)
def test_hostnames_taken(hostname: str) -> None:
    validate.check_hostname(hostname)


@pytest.mark.parametrize(
    "hostname",
    ["-web", "web-", "a..b", "a_b", "x" * 64, ".".join(["x" * 63] * 4), "a b", "web.", "é"],
)
def test_hostnames_refused(hostname: str) -> None:
    assert "RFC 1123" in refused(validate.check_hostname, hostname)


@pytest.mark.parametrize(
    ("key", "value"), [("a", ""), ("com.example.x", "v"), ("k" * 1024, "v" * 4096)]
)
def test_labels_taken(key: str, value: str) -> None:
    validate.check_labels([(key, value)])


@pytest.mark.parametrize(
    ("key", "value"),
    [("", "v"), ("a b", "v"), ("k" * 1025, "v"), ("k", "v" * 4097), ("k\0", "v"), ("k", "\0")],
)
def test_labels_refused(key: str, value: str) -> None:
    message = refused(validate.check_labels, [(key, value)])
    assert len(message) < 200


@pytest.mark.parametrize("seconds", [0.0, 0.001, 5.0, validate.MAX_DURATION_S])
def test_durations_taken(seconds: float) -> None:
    validate.check_duration(seconds, "update-delay")


@pytest.mark.parametrize(
    ("seconds", "fragment"),
    [
        (-0.5, "TaskSpec: update-delay cannot be negative"),
        (float("nan"), "must be a number"),
        (float("inf"), "cannot be longer than"),
        (1e300, "cannot be longer than"),
    ],
)
def test_durations_refused(seconds: float, fragment: str) -> None:
    assert fragment in refused(validate.check_duration, seconds, "update-delay")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(-1, "cannot be negative"), (2**63, "too large")],
)
def test_counts_refused(value: int, fragment: str) -> None:
    validate.check_count(0, "restart-max-attempts")
    validate.check_count(validate.MAX_INT64, "restart-max-attempts")
    assert fragment in refused(validate.check_count, value, "restart-max-attempts")


@pytest.mark.parametrize("ratio", [-0.1, 1.5, float("nan")])
def test_failure_ratio_refused(ratio: float) -> None:
    message = refused(validate.check_update, UpdateConfig(max_failure_ratio=ratio), "rollback")
    assert message == "TaskSpec: rollback-maxfailureratio cannot be less than 0 or bigger than 1"


# ---------------------------------------------------------------- a whole spec

GOOD = ServiceSpec(
    name="web",
    container=ContainerSpec(
        image="busybox:latest",
        args=("sleep", "1d"),
        env=("A=1",),
        labels=(("tier", "front"),),
        hostname="web-1",
        workdir="/srv",
        mounts=(Mount(MountType.VOLUME, "/data", "data"),),
        cap_add=("NET_ADMIN",),
    ),
    labels=(("team", "a"),),
    replicas=3,
    resources=ResourceRequirements(limits=Resources(nano_cpus=500_000_000, memory_bytes=64 << 20)),
)


def test_a_good_spec_passes() -> None:
    validate.check_service_spec(GOOD)


def _container(**changes: Any) -> ServiceSpec:
    return dataclasses.replace(GOOD, container=dataclasses.replace(GOOD.container, **changes))


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (dataclasses.replace(GOOD, name="no way"), "DNS name component"),
        (dataclasses.replace(GOOD, replicas=1_000_000_000_000), "at most 100000 replicas"),
        (dataclasses.replace(GOOD, labels=(("", "x"),)), "invalid label"),
        (
            dataclasses.replace(GOOD, restart=RestartPolicy(delay_s=-1)),
            "restart-delay cannot be negative",
        ),
        (
            dataclasses.replace(GOOD, restart=RestartPolicy(max_attempts=-1)),
            "restart-max-attempts cannot be negative",
        ),
        (
            dataclasses.replace(GOOD, update=UpdateConfig(parallelism=-1)),
            "update-parallelism cannot be negative",
        ),
        (
            dataclasses.replace(GOOD, rollback=UpdateConfig(monitor_s=float("inf"))),
            "rollback-monitor cannot be longer",
        ),
        (
            dataclasses.replace(
                GOOD, resources=ResourceRequirements(reservations=Resources(memory_bytes=1))
            ),
            "Must be at least 4MiB",
        ),
        (dataclasses.replace(GOOD, constraints=("node.role==\0",)), "NUL"),
        (_container(image="UPPER"), "not a valid repository/tag"),
        (_container(env=("NOEQUALS",)), "expected KEY=VALUE"),
        (_container(labels=(("a b", ""),)), "invalid container label"),
        (_container(hostname="under_score"), "RFC 1123"),
        (_container(workdir="srv"), "needs to be an absolute path"),
        (_container(args=("a\0b",)), "NUL"),
        (_container(user="root\0"), "NUL"),
        (_container(cap_add=("NET ADMIN",)), "invalid capability"),
        (_container(mounts=(Mount(MountType.BIND, "/", "/srv"),)), "can't be '/'"),
        (_container(stop_grace_s=float("nan")), "stop-grace-period must be a number"),
    ],
)
def test_a_spec_with_one_bad_field_is_refused(spec: ServiceSpec, fragment: str) -> None:
    assert fragment in refused(validate.check_service_spec, spec)


# ---------------------------------------------------------------- the cluster's settings


@pytest.mark.parametrize("seconds", [0.1, 1.0, 5.0, 24 * 3600.0])
def test_heartbeat_periods_taken(seconds: float) -> None:
    validate.check_heartbeat_period(seconds)


@pytest.mark.parametrize(
    ("seconds", "fragment"),
    [
        (1e-6, "between 100ms and 24h"),
        (24 * 3600.0 + 1, "between 100ms and 24h"),
        (0.0, "must be positive"),
        (-1.0, "must be positive"),
        (float("nan"), "must be positive"),
        (float("inf"), "must be positive"),
    ],
)
def test_heartbeat_periods_refused(seconds: float, fragment: str) -> None:
    message = refused(validate.check_heartbeat_period, seconds)
    assert message.startswith("invalid dispatcher heartbeat period")
    assert fragment in message


@pytest.mark.parametrize("limit", [-1, 0, 5, validate.MAX_TASK_HISTORY_LIMIT])
def test_history_limits_taken(limit: int) -> None:
    validate.check_history_limit(limit)


@pytest.mark.parametrize("limit", [-2, validate.MAX_TASK_HISTORY_LIMIT + 1, 2**70])
def test_history_limits_refused(limit: int) -> None:
    assert "-1 keeps all history" in refused(validate.check_history_limit, limit)
