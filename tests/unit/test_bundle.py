"""config.json construction: Docker's semantics for command, env, user, caps, mounts, limits,
from a task mapped to the engine's container description by the agent's adapter."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from swarmpy.agent import container
from swarmpy.engine import bundle
from swarmpy.engine import spec as engine
from swarmpy.engine.images.records import ImageConfig
from swarmpy.errors import InvalidArgument
from swarmpy.model import (
    ContainerSpec,
    Mount,
    MountType,
    ResourceRequirements,
    Resources,
    ServiceSpec,
    Task,
)
from swarmpy.overlay.sandbox import SandboxInfo

IMAGE = ImageConfig(
    image_id="sha256:abc",
    entrypoint=("/entry.sh",),
    cmd=("serve", "--port", "80"),
    env=("PATH=/bin", "MODE=prod", "KEEP=1"),
    workdir="/app",
)
SANDBOX = SandboxInfo("/run/netns/x1", "nameserver 127.0.0.11\n", "127.0.0.1 localhost\n", "abc")
PASSWD = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:44:www:/var/www:/bin/sh\n"
GROUP = "root:x:0:\nstaff:x:50:\n"


def make_task(**container: Any) -> Task:
    spec = ServiceSpec(name="web", container=ContainerSpec(image="busybox:latest", **container))
    return Task(id="t" * 25, service_id="s1", service_name="web", spec=spec, slot=2)


def build(task: Task, image: ImageConfig = IMAGE, tmp: Path = Path("/c")) -> dict[str, Any]:
    paths = bundle.BundlePaths(tmp / "ctr", tmp / "ctr" / "rootfs", tmp / "volumes")
    return bundle.build_config(
        image,
        container.container_config(task, SANDBOX, "node1"),
        paths,
        cgroups_path="/swarmpy-n1/" + task.id,
        passwd=PASSWD,
        group=GROUP,
    )


@pytest.mark.parametrize(
    ("command", "args", "argv"),
    [
        ((), (), ["/entry.sh", "serve", "--port", "80"]),
        ((), ("debug",), ["/entry.sh", "debug"]),
        (("sh", "-c"), (), ["sh", "-c"]),  # a new entrypoint drops the image's Cmd
        (("sh", "-c"), ("echo hi",), ["sh", "-c", "echo hi"]),
    ],
)
def test_command_replaces_entrypoint_args_replace_cmd(
    command: tuple[str, ...], args: tuple[str, ...], argv: list[str]
) -> None:
    assert build(make_task(command=command, args=args))["process"]["args"] == argv


def test_no_command_at_all_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match="no command"):
        build(make_task(), image=ImageConfig(image_id="x"))


def test_env_is_image_env_overlaid_by_spec() -> None:
    env = build(make_task(env=("MODE=dev", "NEW=2")))["process"]["env"]
    assert env == ["PATH=/bin", "MODE=dev", "KEEP=1", "NEW=2"]


def test_default_path_when_image_sets_none() -> None:
    env = build(make_task(), image=ImageConfig(image_id="x", cmd=("sh",)))["process"]["env"]
    assert env == [f"PATH={bundle.DEFAULT_PATH}"]


def test_workdir_spec_over_image() -> None:
    assert build(make_task())["process"]["cwd"] == "/app"
    assert build(make_task(workdir="/srv"))["process"]["cwd"] == "/srv"


@pytest.mark.parametrize(
    ("user", "ids"),
    [("", (0, 0)), ("1000", (1000, 0)), ("1000:2000", (1000, 2000)), ("www", (33, 44)),
     ("www:staff", (33, 50)), ("33", (33, 44))],
)  # fmt: skip
def test_user(user: str, ids: tuple[int, int]) -> None:
    u = build(make_task(user=user))["process"]["user"]
    assert (u["uid"], u["gid"]) == ids


def test_unknown_user_name_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match="unable to find user nobody"):
        build(make_task(user="nobody"))


def test_default_caps_include_net_raw() -> None:
    caps = build(make_task())["process"]["capabilities"]
    assert set(caps["bounding"]) == set(bundle.DEFAULT_CAPS)
    assert "CAP_NET_RAW" in caps["effective"]
    assert "CAP_NET_ADMIN" not in caps["permitted"]


def test_cap_add_and_drop_accept_both_spellings() -> None:
    caps = bundle.capabilities(("NET_ADMIN", "cap_sys_time"), ("CAP_NET_RAW", "mknod"))
    assert {"CAP_NET_ADMIN", "CAP_SYS_TIME"} <= set(caps)
    assert "CAP_NET_RAW" not in caps
    assert "CAP_MKNOD" not in caps


def test_cap_all() -> None:
    assert set(bundle.capabilities(("ALL",), ())) == set(bundle.ALL_CAPS)
    assert bundle.capabilities((), ("ALL",)) == []
    assert bundle.capabilities(("NET_BIND_SERVICE",), ("ALL",)) == ["CAP_NET_BIND_SERVICE"]


def test_unknown_cap_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match="unknown capability"):
        bundle.capabilities(("FLY",), ())


def test_limits_memory_and_cpu_quota() -> None:
    task = make_task()
    limits = ResourceRequirements(limits=Resources(nano_cpus=500_000_000, memory_bytes=64 << 20))
    task = dataclasses.replace(task, spec=dataclasses.replace(task.spec, resources=limits))
    res = build(task)["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20}
    assert res["cpu"] == {"quota": 50_000, "period": 100_000}


def test_no_limits_means_no_cgroup_limits() -> None:
    res = build(make_task())["linux"]["resources"]
    assert "memory" not in res
    assert "cpu" not in res


def test_sandbox_namespace_hostname_cgroup_and_flags() -> None:
    cfg = build(make_task())
    assert {"type": "network", "path": "/run/netns/x1"} in cfg["linux"]["namespaces"]
    assert cfg["hostname"] == "abc"
    assert build(make_task(hostname="web-2"))["hostname"] == "web-2"
    assert cfg["linux"]["cgroupsPath"] == "/swarmpy-n1/" + "t" * 25
    assert cfg["process"]["terminal"] is False
    assert cfg["root"]["readonly"] is False
    assert cfg["root"]["path"] == "/c/ctr/rootfs"
    assert "/proc/kcore" in cfg["linux"]["maskedPaths"]


def test_mounts() -> None:
    mounts = (
        Mount(MountType.BIND, "/data", "/srv/data", readonly=True),
        Mount(MountType.VOLUME, "/var/lib/db", "dbdata"),
        Mount(MountType.TMPFS, "/scratch"),
    )
    by_dest = {m["destination"]: m for m in build(make_task(mounts=mounts))["mounts"]}
    assert by_dest["/data"]["source"] == "/srv/data"
    assert "ro" in by_dest["/data"]["options"]
    assert by_dest["/var/lib/db"]["source"] == "/c/volumes/dbdata/_data"
    assert by_dest["/scratch"]["type"] == "tmpfs"
    assert by_dest["/etc/resolv.conf"]["source"] == "/c/ctr/resolv.conf"
    assert {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"} <= by_dest.keys()


def test_mount_sources_checked(tmp_path: Path) -> None:
    missing = (engine.Mount(engine.MountKind.BIND, "/data", str(tmp_path / "nope")),)
    with pytest.raises(InvalidArgument, match="bind source path does not exist"):
        bundle.check_mount_sources(missing)
    bad = (engine.Mount(engine.MountKind.VOLUME, "/d", "a/b"),)
    with pytest.raises(InvalidArgument, match="invalid characters for a local volume name"):
        bundle.check_mount_sources(bad)
    bundle.check_mount_sources((engine.Mount(engine.MountKind.VOLUME, "/d", "v1"),))


def test_annotations_identify_the_task() -> None:
    task = make_task(labels=(("tier", "front"),))
    ann = build(task)["annotations"]
    assert ann[container.ANN_TASK_ID] == task.id
    assert ann[container.ANN_SERVICE_NAME] == "web"
    assert ann[container.ANN_SLOT] == "2"
    assert ann[container.ANN_NODE_ID] == "node1"
    assert ann[bundle.ANN_IMAGE] == "busybox:latest"
    assert ann[bundle.ANN_NAME] == f"web.2.{task.id}"
    assert ann[bundle.ANN_LABEL_PREFIX + "tier"] == "front"
    # The task's keys first, then the engine's: the order config.json has always had.
    assert list(ann)[:5] == [k for k, _ in container.task_annotations(task, "node1")]


def test_every_task_mount_kind_maps_to_the_engine() -> None:
    spec = ContainerSpec(
        image="busybox",
        mounts=tuple(Mount(t, "/m", "src", readonly=True) for t in MountType),
    )
    assert [m.kind.value for m in container.mounts(spec)] == [t.value for t in MountType]
