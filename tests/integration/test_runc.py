"""The task controller over the engine, and the node-local container commands, against real
runc containers.

Each test gets its own runc root, container root and cgroup parent (unique prefix), a
one-layer busybox image made from the host's static busybox, and a minimal network provider
(a fresh netns with only ``lo`` up). Everything is removed afterwards, also on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pyroute2 import IPRoute, netns

from swarmpy.agent.container import ANN_SERVICE_ID, ANN_SLOT, ANN_TASK_ID, SWARM_LABELS
from swarmpy.agent.controller import RuncController
from swarmpy.agent.runner import TaskRunner
from swarmpy.engine.containers import Containers
from swarmpy.engine.execs import ExecConfig, Execs
from swarmpy.engine.images import rootfs
from swarmpy.engine.images.records import ImageConfig
from swarmpy.engine.jsonlog import LogRecord, LogWindow
from swarmpy.engine.lifecycle import Engine
from swarmpy.engine.reaper import Reaper, zombie_children
from swarmpy.engine.runc import Runc, cgroup_mounts, mounts_under, remove_cgroup
from swarmpy.errors import Conflict
from swarmpy.model import (
    ContainerSpec,
    PortConfig,
    ServiceSpec,
    Task,
    TaskState,
    TaskStatus,
    new_id,
)
from swarmpy.overlay.sandbox import SandboxInfo
from tests.support.poll import wait_for_async

pytestmark = pytest.mark.root

BUSYBOX = "/bin/busybox"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(scope="module")
def busybox_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An unpacked single-layer image: busybox plus a symlink per applet."""
    layer = tmp_path_factory.mktemp("busybox-layer")
    (layer / "bin").mkdir()
    shutil.copy(BUSYBOX, layer / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True)
    for applet in applets.stdout.split():
        if applet != "busybox":
            (layer / "bin" / applet).symlink_to("busybox")
    (layer / "etc").mkdir()
    (layer / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (layer / "etc" / "group").write_text("root:x:0:\n")
    (layer / "tmp").mkdir(mode=0o1777)
    return layer


class LayerImages:
    """ImageSource over one prepared layer dir: every ref is busybox."""

    def __init__(self, layer: Path) -> None:
        self.layer = layer

    async def ensure(
        self, ref: str, progress: Callable[[str], None] | None, registry_auth: str = ""
    ) -> None:
        pass

    def layer_dirs(self, ref: str) -> list[Path]:
        return [self.layer]

    def config(self, ref: str) -> ImageConfig:
        return ImageConfig(image_id="sha256:busybox", cmd=("sh",), env=(PATH_ENV,))


class LoopbackNetwork:
    """NetworkProvider: a fresh netns per task with only ``lo`` up."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def name(self, task: Task) -> str:
        return f"{self.prefix}{task.id[:6]}"

    async def setup(self, task: Task) -> SandboxInfo:
        name = self.name(task)
        await asyncio.to_thread(_create_netns_with_lo, name)
        return SandboxInfo(f"/run/netns/{name}", "", "127.0.0.1\tlocalhost\n", task.id[:12])

    def published_ports(self, task_id: str) -> tuple[PortConfig, ...]:
        return ()  # no host-mode ports here

    async def teardown(self, task: Task) -> None:
        with contextlib.suppress(FileNotFoundError, OSError):
            await asyncio.to_thread(netns.remove, self.name(task))


def _create_netns_with_lo(name: str) -> None:
    netns.create(name)
    with IPRoute(netns=name) as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")


@dataclass
class Harness:
    base: Path
    prefix: str
    images: LayerImages
    reaper: Reaper = field(default_factory=Reaper)

    def __post_init__(self) -> None:
        self.runc = Runc(self.base / "runc")
        self.container_root = self.base / "containers"
        self.cgroup_parent = f"swpt-{self.prefix}"
        self.network = LoopbackNetwork(self.prefix)
        self.containers = Containers(
            self.runc, self.container_root, rootfs=rootfs, annotation_labels=SWARM_LABELS
        )

    def task(self, *command: str, grace: float = 10.0) -> Task:
        spec = ServiceSpec(
            name="web",
            container=ContainerSpec(image="busybox", command=command, stop_grace_s=grace),
        )
        return Task(
            id=new_id(), service_id="svc1", service_name="web", spec=spec, slot=1, node_id="n1"
        )

    def engine(self, *, reaper: bool = True) -> Engine:
        return Engine(
            self.runc,
            self.container_root,
            self.base / "volumes",
            self.cgroup_parent,
            rootfs=rootfs,
            reaper=self.reaper if reaper else None,
        )

    def controller(self, task: Task, *, reaper: bool = True) -> RuncController:
        return RuncController(task, self.engine(reaper=reaper), self.images, self.network, "n1")

    async def running(self, *command: str, grace: float = 10.0) -> RuncController:
        ctl = self.controller(self.task(*command, grace=grace))
        await ctl.prepare()
        await ctl.start()
        return ctl

    async def cleanup(self) -> None:
        """Whatever a test left behind, whatever state it is in."""
        with contextlib.suppress(Exception):
            leftovers = [state["id"] for state in await self.runc.list_containers()]
            # return_exceptions: a container that will not go must not keep the rest.
            await asyncio.gather(
                *(self.runc.delete(cid, force=True) for cid in leftovers), return_exceptions=True
            )
        for cdir in self.container_root.glob("*"):
            rootfs.unmount_rootfs(cdir)
            remove_cgroup(f"/{self.cgroup_parent}/{cdir.name}")
        remove_cgroup(f"/{self.cgroup_parent}/x")
        for name in netns.listnetns():
            if name.startswith(self.prefix):
                netns.remove(name)
        await self.reaper.stop()
        if not mounts_under(self.base):
            shutil.rmtree(self.base, ignore_errors=True)

    def assert_gone(self, cid: str) -> None:
        assert not (self.container_root / cid).exists()
        assert not mounts_under(self.container_root)
        assert subprocess.run(self.runc.argv("state", cid), capture_output=True).returncode != 0
        for mnt in cgroup_mounts():
            assert not (mnt / self.cgroup_parent).exists(), mnt
        assert not any(n.startswith(self.prefix) for n in netns.listnetns())


Scenario = Callable[[Harness], Awaitable[None]]


@pytest.fixture
def run(busybox_layer: Path, tmp_path: Path) -> Callable[[Scenario], None]:
    """``run(scenario)``: the scenario gets a fresh Harness inside an event loop."""
    prefix = "t" + secrets.token_hex(3)

    def runner(scenario: Scenario) -> None:
        async def main() -> None:
            h = Harness(Path(f"/tmp/swpt-{prefix}"), prefix, LayerImages(busybox_layer))
            h.reaper.start()
            try:
                await asyncio.wait_for(scenario(h), 60)
            finally:
                await h.cleanup()

        asyncio.run(main())

    return runner


async def read_logs(h: Harness, ref: str) -> bytes:
    return b"".join([r.line async for r in h.containers.logs(ref, LogWindow())])


def test_stdout_goes_to_the_log_and_exec_runs_in_the_container(run: Callable[..., None]) -> None:
    async def scenario(h: Harness) -> None:
        ctl = await h.running("sh", "-c", "echo hello from busybox; hostname; exec sleep 100")

        async def logged() -> bool:
            return b"hello from busybox\n" in await read_logs(h, ctl.task.name)

        await wait_for_async("the greeting in the log", logged)
        assert ctl.task.id[:12].encode() in await read_logs(h, ctl.id[:12])

        execs = Execs()
        made = await execs.create(h.containers, ctl.id[:12], ExecConfig(cmd=("echo", "hi")))
        proc = await execs.start(h.containers, made.id, detach=False)
        out = b"".join([chunk async for _, chunk in proc.output()])
        assert await execs.finish(made.id, proc) == 0
        assert out == b"hi\n"
        await execs.close()

        [info] = await h.containers.list()
        assert info.short_id == ctl.id[:12]
        assert info.name == ctl.task.name
        assert info.status.startswith("Up ")
        assert info.command.startswith("sh -c")
        titles, rows = await h.containers.top(ctl.id)
        assert "PID" in titles
        assert any("sleep 100" in row[-1] for row in rows)
        stats = await h.containers.stats(ctl.id, interval_s=0.1)
        assert stats.pids == 1
        assert stats.mem_usage > 0
        assert stats.mem_limit > 0
        inspect = await h.containers.inspect(ctl.task.name)
        assert inspect["State"]["Running"]
        assert inspect["State"]["Pid"] > 0
        assert inspect["Config"]["Labels"]["com.docker.swarm.task.id"] == ctl.id

        with pytest.raises(Conflict, match="You cannot remove a running container"):
            await h.containers.rm(ctl.id)
        await h.containers.rm(ctl.id, force=True)
        await ctl.remove()  # the network half, and a second removal is harmless
        h.assert_gone(ctl.id)

    run(scenario)


def test_exit_code_reaches_the_task_status(run: Callable[..., None]) -> None:
    async def scenario(h: Harness) -> None:
        task = h.task("sh", "-c", "exit 3")
        ctl = h.controller(task)
        reports: list[TaskStatus] = []
        status = await TaskRunner(task, ctl, lambda _id, s: reports.append(s)).run()
        assert status.state is TaskState.FAILED
        assert status.err == "task: non-zero exit (3)"
        assert status.exit_code == 3
        assert await ctl.wait() == 3  # remembered after the process is gone
        [info] = await h.containers.list(all=True)
        assert info.status.startswith("Exited (3) ")
        assert await h.containers.list() == []
        await ctl.remove()
        h.assert_gone(task.id)

    run(scenario)


def test_stop_honours_the_grace_period(run: Callable[..., None]) -> None:
    async def scenario(h: Harness) -> None:
        polite = await h.running("sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done")
        # As PID 1, a shell without a trap ignores SIGTERM: only SIGKILL ends it.
        stubborn = await h.running("sleep", "100")
        await asyncio.sleep(0.3)  # let the shell install its trap

        t0 = time.monotonic()
        await polite.shutdown(5)
        assert time.monotonic() - t0 < 3
        assert await polite.wait() == 0

        t0 = time.monotonic()
        await stubborn.shutdown(1)
        assert time.monotonic() - t0 >= 1
        assert await stubborn.wait() == 137
        for ctl in (polite, stubborn):
            await ctl.remove()
            await ctl.remove()
        h.assert_gone(polite.id)

    run(scenario)


def test_adopt_finds_running_containers_after_restart(run: Callable[..., None]) -> None:
    async def scenario(h: Harness) -> None:
        ctl = await h.running("sleep", "100")
        task = ctl.task
        del ctl  # the daemon "restarts": only the runc root and container dirs remain

        fresh = Containers(Runc(h.runc.root), h.container_root, rootfs=rootfs)
        [adopted] = await fresh.adopt()
        ann = dict(adopted.annotations)
        assert (ann[ANN_TASK_ID], ann[ANN_SERVICE_ID], ann[ANN_SLOT]) == (task.id, "svc1", "1")
        assert adopted.name == task.name
        assert adopted.state == "running"
        assert adopted.pid > 0

        # A controller made for the adopted task can stop and remove it.
        again = h.controller(task, reaper=False)
        await again.shutdown(0)
        await again.remove()
        h.assert_gone(task.id)

    run(scenario)


def test_the_log_keeps_streams_apart_and_follow_ends_with_the_container(
    run: Callable[..., None],
) -> None:
    async def scenario(h: Harness) -> None:
        # Waits for the follower below to be reading before it writes, then exits.
        ctl = await h.running(
            "sh",
            "-c",
            "while [ ! -e /tmp/go ]; do sleep 0.1; done; echo out; echo err >&2; printf last",
        )
        follower = asyncio.ensure_future(
            _collect(h.containers.logs(ctl.id, LogWindow(follow=True)))
        )
        pid = await h.engine().pid(ctl.id)
        await asyncio.to_thread(Path(f"/proc/{pid}/root/tmp/go").touch)
        # The keeper ends when the container does, and so does the follow, with every line.
        records = await asyncio.wait_for(follower, 30)
        assert sorted((r.stream, r.line) for r in records) == [
            ("stderr", b"err\n"),
            ("stdout", b"last"),
            ("stdout", b"out\n"),
        ]
        assert all(r.time_ns > 0 for r in records)
        await ctl.remove()

    run(scenario)


async def _collect(records: AsyncIterator[LogRecord]) -> list[LogRecord]:
    return [r async for r in records]


def test_reaper_leaves_our_subprocesses_alone_and_reaps_orphans(
    run: Callable[..., None],
) -> None:
    async def scenario(h: Harness) -> None:
        # The shell exits at once; its background sleep is orphaned to us (the subreaper).
        proc = await asyncio.create_subprocess_exec("sh", "-c", "sleep 0.3 & exit 7")
        for _ in range(4):
            h.reaper.sweep()  # as if SIGCHLD arrived while asyncio still waits for `sh`
            await asyncio.sleep(0.05)
        assert await proc.wait() == 7  # its status was not stolen

        await wait_for_async("the orphan to be a zombie", lambda: bool(zombie_children()))
        await wait_for_async("no zombies", lambda: not zombie_children())

    run(scenario)
