"""A service's container options as the agent makes the container: DNS and hosts in the /etc
files, hostname templates, read-only root, init, sysctls, ulimits and mount options in
runc's config.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from swarmpy.agent import container
from swarmpy.engine import bundle
from swarmpy.engine.images.records import ImageConfig
from swarmpy.errors import RuntimeFailure
from swarmpy.model import ContainerSpec, Mount, MountType, ServiceSpec, Task, Ulimit
from swarmpy.overlay.sandbox import SandboxInfo

IMAGE = ImageConfig(image_id="sha256:abc", cmd=("sh",))
SANDBOX = SandboxInfo(
    "/run/netns/x1",
    "nameserver 127.0.0.11\noptions ndots:0\n",
    "127.0.0.1\tlocalhost\n10.0.0.5\tabc\n",
    "abc",
)


def make_task(**fields: Any) -> Task:
    spec = ServiceSpec(name="web", container=ContainerSpec(image="busybox", **fields))
    return Task(id="t" * 25, service_id="s1", service_name="web", spec=spec, slot=2)


def build(task: Task, init_path: str = "") -> tuple[dict[str, Any], dict[str, str]]:
    made = container.container_config(task, SANDBOX, "node1", "host-a", init_path)
    paths = bundle.BundlePaths(Path("/c/ctr"), Path("/c/ctr/rootfs"), Path("/c/volumes"))
    config = bundle.build_config(IMAGE, made, paths, cgroups_path="/x/" + task.id)
    return config, bundle.etc_files(made)


def test_without_options_the_container_is_as_before() -> None:
    config, etc = build(make_task())
    assert config["root"]["readonly"] is False
    assert "rlimits" not in config["process"]
    assert "sysctl" not in config["linux"]
    assert config["process"]["args"] == ["sh"]
    assert etc["resolv.conf"] == SANDBOX.resolv_conf
    assert etc["hosts"] == SANDBOX.hosts


def test_dns_search_and_options_are_written_the_servers_are_the_embedded_dns_upstreams() -> None:
    task = make_task(
        dns_nameservers=("10.9.9.9",), dns_search=("corp.example",), dns_options=("ndots:3",)
    )
    _, etc = build(task)
    # As Docker: 127.0.0.11 stays the resolver; it forwards to 10.9.9.9 (see swarmpy.dns).
    assert etc["resolv.conf"] == ("nameserver 127.0.0.11\nsearch corp.example\noptions ndots:3\n")
    _, etc = build(make_task(dns_nameservers=("10.9.9.9",)))
    assert etc["resolv.conf"] == SANDBOX.resolv_conf


def test_extra_hosts_are_appended() -> None:
    _, etc = build(make_task(hosts=("10.1.2.3 db db.local",)))
    assert etc["hosts"].endswith("10.0.0.5\tabc\n10.1.2.3\tdb db.local\n")


def test_hostname_templates_are_filled_in_on_the_node() -> None:
    config, etc = build(make_task(hostname="{{.Node.Hostname}}-{{.Service.Name}}-{{.Task.Slot}}"))
    assert config["hostname"] == "host-a-web-2"
    assert etc["hostname"] == "host-a-web-2\n"
    # The container's own address answers to its name in /etc/hosts.
    assert etc["hosts"] == "127.0.0.1\tlocalhost\n10.0.0.5\thost-a-web-2\n"


def test_read_only_root_sysctls_and_ulimits_reach_runc() -> None:
    task = make_task(
        read_only=True,
        sysctls=(("net.core.somaxconn", "1024"),),
        ulimits=(Ulimit("nofile", 1024, 2048), Ulimit("core", -1, -1)),
    )
    config, _ = build(task)
    assert config["root"]["readonly"] is True
    assert config["linux"]["sysctl"] == {"net.core.somaxconn": "1024"}
    assert config["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048},
        {"type": "RLIMIT_CORE", "soft": 2**64 - 1, "hard": 2**64 - 1},
    ]


def test_init_runs_in_front_of_the_command() -> None:
    config, _ = build(make_task(init=True), init_path="/usr/bin/docker-init")
    assert config["process"]["args"] == ["/sbin/docker-init", "--", "sh"]
    mount = next(m for m in config["mounts"] if m["destination"] == "/sbin/docker-init")
    assert mount["source"] == "/usr/bin/docker-init"
    assert "ro" in mount["options"]
    # Without init asked for, a found binary changes nothing.
    config, _ = build(make_task(), init_path="/usr/bin/docker-init")
    assert config["process"]["args"] == ["sh"]


def test_a_node_without_an_init_binary_fails_the_task_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(RuntimeFailure, match="no init binary"):
        container.find_init()


def test_mount_options_reach_runc() -> None:
    task = make_task(
        mounts=(
            Mount(MountType.TMPFS, "/scratch", tmpfs_size=1 << 20, tmpfs_mode=0o700),
            Mount(MountType.BIND, "/data", "/srv", bind_propagation="rslave"),
        )
    )
    config, _ = build(task)
    by_target = {m["destination"]: m for m in config["mounts"]}
    assert by_target["/scratch"]["options"] == ["nosuid", "nodev", "mode=700", "rw", "size=1048576"]
    assert by_target["/data"]["options"] == ["rbind", "rw", "rslave"]


def test_env_and_mount_templates_are_filled_in_too(tmp_path: Path) -> None:
    task = make_task(
        env=("WHERE={{.Node.Hostname}}/{{.Task.Slot}}", 'JSON={"a":{"b":1}}'),
        mounts=(Mount(MountType.BIND, "/data/{{.Task.Slot}}", "/srv/{{.Service.Name}}"),),
    )
    config, _ = build(task)
    assert "WHERE=host-a/2" in config["process"]["env"]
    assert 'JSON={"a":{"b":1}}' in config["process"]["env"]
    bind = next(m for m in config["mounts"] if m["destination"] == "/data/2")
    assert bind["source"] == "/srv/web"


def test_templates_are_checked_by_the_control_api() -> None:
    from swarmpy.errors import InvalidArgument
    from swarmpy.manager.controlapi import validate

    good = make_task(
        env=("A={{.Task.Slot}}",), mounts=(Mount(MountType.BIND, "/d/{{.Task.Slot}}", "/s"),)
    )
    validate.check_service_spec(good.spec)
    for fields in (
        {"env": ("A={{.Task.Nope}}",)},
        {"mounts": (Mount(MountType.BIND, "/d", "/s/{{.Node.Nope}}"),)},
        {"hostname": "{{ bad"},
    ):
        with pytest.raises(InvalidArgument, match="template"):
            validate.check_service_spec(make_task(**fields).spec)


def test_supplementary_groups_by_name_or_gid() -> None:
    from swarmpy.errors import InvalidArgument

    task = make_task(groups=("staff", "1001"))
    made = container.container_config(task, SANDBOX, "node1")
    paths = bundle.BundlePaths(Path("/c/ctr"), Path("/c/ctr/rootfs"), Path("/c/volumes"))
    group_file = "root:x:0:\nstaff:x:50:\n"
    config = bundle.build_config(IMAGE, made, paths, cgroups_path="/x", group=group_file)
    assert config["process"]["user"]["additionalGids"] == [50, 1001]
    with pytest.raises(InvalidArgument, match="unable to find group nope"):
        bundle.build_config(
            IMAGE,
            container.container_config(make_task(groups=("nope",)), SANDBOX, "node1"),
            paths,
            cgroups_path="/x",
            group=group_file,
        )


def test_a_stop_sends_the_specs_stop_signal() -> None:
    import asyncio
    from typing import cast

    from swarmpy.agent.controller import RuncController
    from swarmpy.agent.exec import ImageSource, NetworkProvider
    from swarmpy.engine.lifecycle import Engine
    from swarmpy.errors import NotFound

    class FakeEngine:
        def __init__(self) -> None:
            self.stops: list[tuple[str, float, str]] = []

        async def stop(self, cid: str, grace_s: float, signal: str = "TERM") -> None:
            self.stops.append((cid, grace_s, signal))

    class FakeImages:
        def __init__(self, signal: str) -> None:
            self.signal = signal

        def config(self, ref: str) -> ImageConfig:
            if self.signal == "gone":
                raise NotFound(f"No such image: {ref}")
            return ImageConfig(image_id="sha256:a", stop_signal=self.signal)

    def stopped_with(image_signal: str = "", **fields: Any) -> tuple[str, float, str]:
        engine = FakeEngine()
        ctl = RuncController(
            make_task(**fields),
            cast(Engine, engine),
            cast(ImageSource, FakeImages(image_signal)),
            cast(NetworkProvider, None),
            "node1",
        )
        asyncio.run(ctl.shutdown(3.0))
        (stop,) = engine.stops
        return stop

    assert stopped_with(stop_signal="SIGINT")[1:] == (3.0, "INT")
    assert stopped_with(stop_signal="10")[2] == "10"
    assert stopped_with()[2] == "TERM"
    # Without one in the spec, the image's STOPSIGNAL, as Docker.
    assert stopped_with(image_signal="SIGQUIT")[2] == "QUIT"
    assert stopped_with(image_signal="SIGQUIT", stop_signal="SIGINT")[2] == "INT"
    assert stopped_with(image_signal="gone")[2] == "TERM"
