"""A container's life by id: create, start, wait, stop, remove (Docker's engine API, as the
agent's controller uses it).

Every method derives what it needs from the container dir and runc's state, so an engine made
after a daemon restart can wait for, stop and remove a container it did not start.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from swarmpy.dockerjson.health import health_json, image_health
from swarmpy.dockerjson.logdriver import LogSettings
from swarmpy.engine import bundle, health, jsonlog, modes, seccomp, volumes
from swarmpy.engine.events import ContainerEvents, signal_number
from swarmpy.engine.execs import run_captured
from swarmpy.engine.images.records import ImageConfig
from swarmpy.engine.reaper import Reaper
from swarmpy.engine.runc import (
    KILL_WAIT_S,
    KILLED_EXIT,
    UNKNOWN_EXIT,
    ContainerDir,
    RootfsOps,
    Runc,
    default_rootfs_ops,
    remove_container,
    stop_container,
    wait_stopped,
)
from swarmpy.engine.spec import ContainerConfig, Mount
from swarmpy.errors import Conflict, NotFound, RuntimeFailure
from swarmpy.fsutil import write_atomic
from swarmpy.model import HealthState

log = logging.getLogger(__name__)


class Engine:
    """The containers of one daemon: one runc root, one container dir root, one cgroup parent."""

    def __init__(
        self,
        runc: Runc,
        container_root: Path,
        volumes_root: Path,
        cgroup_parent: str,
        *,
        rootfs: RootfsOps | None = None,
        reaper: Reaper | None = None,
        seccomp_profile: seccomp.Profile | None = None,
        events: ContainerEvents | None = None,
    ) -> None:
        self.events = events or ContainerEvents()
        self.runc = runc
        self.container_root = container_root
        self.volumes_root = volumes_root
        self.volumes = volumes.VolumeStore(volumes_root)
        self.cgroup_parent = cgroup_parent.strip("/")
        self.rootfs = rootfs or default_rootfs_ops()
        self.reaper = reaper
        # Read once, here: a missing profile stops the engine before any container runs
        # unconfined. Every container and every exec in it gets it.
        self.seccomp = seccomp_profile or seccomp.load_profile()
        self._monitors: dict[str, health.HealthMonitor] = {}
        # Runs started here and not ended, by volume: one starting is not running yet.
        self._volume_runs: Counter[str] = Counter()

    def container_dir(self, cid: str) -> ContainerDir:
        return ContainerDir(self.container_root / cid)

    def check_mounts(self, mounts: tuple[Mount, ...]) -> None:
        """Fail on a missing bind source, a bad target or a bad volume name."""
        bundle.check_mount_sources(mounts)

    async def create(
        self, container: ContainerConfig, image: ImageConfig, layers: list[Path]
    ) -> None:
        """Mount the rootfs and write the bundle; runc itself runs the container at start.

        A container left by an earlier, interrupted create is removed first.
        """
        self.check_mounts(container.mounts)
        cdir = self.container_dir(container.id)
        if self.runc.knows(container.id):
            await remove_container(self.runc, cdir, self.rootfs, self.reaper)
        cdir.path.mkdir(parents=True, exist_ok=True)
        rootfs = await asyncio.to_thread(self.rootfs.mount_rootfs, layers, cdir.path)
        # Named volumes made on first use, anonymous ones for the image's VOLUMEs, each
        # filled from the image while empty (swarmpy.engine.volumes).
        mounts = await asyncio.to_thread(
            volumes.prepare_mounts, self.volumes, container.mounts, image.volumes, rootfs
        )
        container = dataclasses.replace(container, mounts=mounts)
        passwd, group = bundle.read_passwd(rootfs)
        paths = bundle.BundlePaths(cdir.path, rootfs, self.volumes_root)
        config = bundle.build_config(
            image,
            container,
            paths,
            cgroups_path=f"/{self.cgroup_parent}/{container.id}",
            passwd=passwd,
            group=group,
            seccomp_profile=self.seccomp,
        )
        for name, text in bundle.etc_files(container).items():
            modes.write_file(cdir.path / name, text)
        cdir.config_file.write_text(json.dumps(config, indent=1))
        # Mounted to be filled from the image; its runs mount it again.
        await asyncio.to_thread(self._release_volumes, volume_names(config))
        check = health.merge(container.healthcheck, image.healthcheck)
        cdir.update_record(
            image_id=image.image_id,
            created_at=time.time(),
            healthcheck=None if check is None else health_json(check),
            log=dataclasses.asdict(container.log),
            # Config.User and Config.WorkingDir as dockerd shows them: the run's, else the
            # image's, as given ("" when neither says), not what they resolved to.
            user=container.user or image.user,
            workdir=container.workdir or image.workdir,
        )
        self.events.emit("create", container.id, config.get("annotations") or {})

    async def start(
        self,
        cid: str,
        stdin: int | None = None,
        on_terminal: Callable[[int], None] | None = None,
    ) -> None:
        """Run a created container; a no-op for one already started. ``stdin``: the read
        end of a pipe for its standard input (Docker's -i; else /dev/null), which the
        container holds once this returns. ``on_terminal`` is handed a copy of the master
        side of a container's terminal (its input, its size), the caller's to close."""
        # runc creates the container here, not in create: that is where Docker's runtime
        # creates it too (so runtime errors surface at start), and one runc run is cheaper
        # than a create and a start.
        if self.runc.knows(cid):
            # A start that a daemon restart cut short: the container may be up already.
            st = await self.runc.state(cid)
            if st is not None and st.get("status") == "created":
                await self.runc.start(cid)
            return
        cdir = self.container_dir(cid)
        started = time.time()
        mounted = volume_mounts(cdir.config())
        names = [name for name, _, _ in mounted]
        self._volume_runs.update(names)
        try:
            await asyncio.to_thread(self._run_volumes, names)
        except BaseException:
            self._end_volume_runs(names)
            raise
        for name, destination, rw in mounted:
            # Docker's volume events: each volume mounted for the run, unmounted at its end.
            self.volumes.events.tell(
                "mount",
                name,
                {
                    "container": cid,
                    "destination": destination,
                    "driver": volumes.DRIVER,
                    "propagation": "",
                    "read/write": "true" if rw else "false",
                },
            )
        if _has_terminal(cdir.config_file):
            pid, master = await self.runc.run_detached_terminal(cid, cdir.path, cdir.runc_log)
            try:
                if on_terminal is not None:
                    on_terminal(os.dup(master))
                jsonlog.start_terminal_keeper(cdir.path, cdir.log_file, master, log_settings(cdir))
            finally:
                # The keeper holds the terminal now; the daemon must not (a daemon restart
                # would otherwise hang the container up).
                os.close(master)
        else:
            out, err = jsonlog.start_keeper(cdir.path, cdir.log_file, log_settings(cdir))
            try:
                pid = await self.runc.run_detached(
                    cid,
                    cdir.path,
                    out,
                    err,
                    cdir.runc_log,
                    stdin=asyncio.subprocess.DEVNULL if stdin is None else stdin,
                )
            finally:
                # The container holds them now: its end is the keeper's end of input.
                os.close(out)
                os.close(err)
        cdir.update_record(pid=pid, started_at=started)
        annotations = _annotations(cdir)
        self.events.emit("start", cid, annotations)
        if self.reaper is not None and pid:

            def exited(code: int) -> None:
                cdir.record_exit(code)
                self.events.emit("die", cid, annotations, exitCode=str(code))
                for name, _, _ in mounted:
                    self.volumes.events.tell(
                        "unmount", name, {"container": cid, "driver": volumes.DRIVER}
                    )
                self._end_volume_runs(names)

            self.reaper.watch(pid, exited)
        self._monitor(cid)

    async def rerun(
        self,
        cid: str,
        stdin: int | None = None,
        on_terminal: Callable[[int], None] | None = None,
    ) -> None:
        """Run a container again after it ended (Docker's start of a stopped container,
        ``restart``): runc forgets the old run, the rootfs, bundle and log stay."""
        cdir = self.container_dir(cid)
        if not cdir.path.exists():
            raise NotFound(f"No such container: {cid}")
        if self.runc.knows(cid):
            st = await self.runc.state(cid)
            if st is not None and st.get("status") != "stopped":
                return await self.start(cid, stdin, on_terminal)
            pid = cdir.record().get("pid")
            await self.runc.delete(cid, force=True)
            if self.reaper is not None and pid:
                self.reaper.forget(int(pid))
        await self._stop_monitor(cid)
        rec = cdir.record()
        for run_only in ("exit_code", "pid", "killed"):
            rec.pop(run_only, None)
        write_atomic(cdir.record_file, json.dumps(rec))
        await self.start(cid, stdin, on_terminal)

    def rename(self, cid: str, name: str) -> None:
        """The container's name, kept in its bundle's annotations (where ps and inspect read
        it), changed; runc reads the bundle only when it runs the container."""
        cdir = self.container_dir(cid)
        config = cdir.config()
        if not config:
            raise NotFound(f"No such container: {cid}")
        old = _annotations(cdir)
        config.setdefault("annotations", {})[bundle.ANN_NAME] = name
        cdir.config_file.write_text(json.dumps(config, indent=1))
        self.events.emit(
            "rename", cid, config["annotations"], oldName="/" + old.get(bundle.ANN_NAME, "")
        )

    def set_netns(self, cid: str, path: str) -> None:
        """The network namespace the container's next run joins (Docker's
        ``container:<ref>`` mode: another container's, named by its process, which changes
        with each of its runs); runc reads the bundle only when it runs the container."""
        cdir = self.container_dir(cid)
        config = cdir.config()
        if not config:
            raise NotFound(f"No such container: {cid}")
        for ns in config["linux"]["namespaces"]:
            if ns.get("type") == "network":
                ns["path"] = path
        cdir.config_file.write_text(json.dumps(config, indent=1))

    async def pid(self, cid: str) -> int:
        recorded = self.container_dir(cid).record().get("pid")
        if recorded:
            return int(recorded)
        st = await self.runc.state(cid)
        if st is None:
            raise NotFound(f"No such container: {cid}")
        return int(st.get("pid", 0))

    async def wait(self, cid: str) -> int:
        """Block until the container exits; its exit code, also for one that exited before."""
        cdir = self.container_dir(cid)
        rec = cdir.record()
        if "exit_code" in rec:
            return int(rec["exit_code"])
        pid = await self.pid(cid)
        if self.reaper is not None and pid and self.reaper.is_child(pid):
            code = await self.reaper.wait(pid)
        else:
            # Not our child (adopted after a restart): all we can see is that it ended, and
            # whether it was our SIGKILL that ended it.
            await wait_stopped(self.runc, cid)
            rec = cdir.record()
            code = int(rec.get("exit_code", KILLED_EXIT if rec.get("killed") else UNKNOWN_EXIT))
        cdir.record_exit(code)
        await self._stop_monitor(cid)
        return code

    def _monitor(self, cid: str) -> health.HealthMonitor | None:
        """The container's health monitor, started on first use (also for a container
        adopted after a restart, whose checks start over); None without a healthcheck."""
        found = self._monitors.get(cid)
        if found is not None:
            return found
        cdir = self.container_dir(cid)
        rec = cdir.record()
        probe = health.probe_for(image_health(rec.get("healthcheck")))
        if probe is None or "exit_code" in rec:
            return None

        annotations = _annotations(cdir)

        async def run_probe(cmd: tuple[str, ...], timeout_s: float) -> tuple[int, str] | None:
            # Each check is an exec, with Docker's exec events.
            exec_id = {"execID": secrets.token_hex(32)}
            self.events.emit(f"exec_create: {' '.join(cmd)}", cid, annotations, **exec_id)
            self.events.emit(f"exec_start: {' '.join(cmd)}", cid, annotations, **exec_id)
            done = await run_captured(self.runc, cdir, cmd, timeout_s, health.MAX_OUTPUT_LEN)
            code = -1 if done is None else done[0]
            self.events.emit("exec_die", cid, annotations, exitCode=str(code), **exec_id)
            return None if done is None else (done[0], health.truncated_output(done[1]))

        def changed(status: HealthState) -> None:
            self.events.emit(f"health_status: {status.value}", cid, annotations)

        path = cdir.path / health.HEALTH_FILE
        # A container adopted after a restart goes on from the health it last had.
        monitor = health.HealthMonitor(
            probe,
            float(rec.get("started_at", time.time())),
            run_probe,
            path,
            health.load(path),
            on_change=changed,
        )
        self._monitors[cid] = monitor
        monitor.start()
        return monitor

    async def _stop_monitor(self, cid: str) -> None:
        monitor = self._monitors.pop(cid, None)
        if monitor is not None:
            await monitor.stop()

    async def health_change(self, cid: str, current: HealthState) -> HealthState:
        """Wait until the container's health is no longer ``current``; the new one
        (NONE at once for a container without a healthcheck, UNHEALTHY once it ended)."""
        monitor = self._monitor(cid)
        if monitor is None:
            rec = self.container_dir(cid).record()
            has_check = health.probe_for(image_health(rec.get("healthcheck"))) is not None
            return HealthState.UNHEALTHY if has_check else HealthState.NONE
        return await monitor.change_from(current)

    async def stop(self, cid: str, grace_s: float, signal: str = "TERM") -> None:
        """``signal`` (SIGTERM), SIGKILL after ``grace_s``; a no-op when it is not running."""
        cdir = self.container_dir(cid)
        state = await self.runc.state(cid) if self.runc.knows(cid) else None
        running = state is not None and state.get("status") in ("running", "paused")
        if running:
            self.events.emit("kill", cid, _annotations(cdir), signal=signal_number(signal))
        # Marked before the SIGKILL: whoever learns first that it ended (this stop, or a
        # waiter of a container adopted after a restart) reports Docker's 137, not 255.
        await stop_container(
            self.runc, cid, grace_s, signal, on_kill=lambda: cdir.update_record(killed=True)
        )
        if running:
            self.events.emit("stop", cid, _annotations(cdir))
        if cdir.path.exists() and "exit_code" not in cdir.record():
            # Collect the status now so `ps -a` shows it even if nobody else waits.
            with contextlib.suppress(NotFound, TimeoutError):
                await asyncio.wait_for(self.wait(cid), KILL_WAIT_S)

    async def remove(self, cid: str, remove_volumes: bool = False) -> None:
        """Delete the container and everything it left; safe to repeat. ``remove_volumes``
        (Docker's ``rm -v``, and what SwarmKit asks for a task's container) also removes
        its anonymous volumes that no other container uses."""
        await self._stop_monitor(cid)
        cdir = self.container_dir(cid)
        existed = cdir.path.exists()
        annotations = _annotations(cdir)
        own = volume_names(cdir.config()) if remove_volumes and existed else []
        await remove_container(self.runc, cdir, self.rootfs, self.reaper)
        if existed:
            self.events.emit("destroy", cid, annotations)
        if own:
            await self.remove_anonymous_volumes(own)

    async def remove_anonymous_volumes(self, names: list[str]) -> None:
        """Of a removed container's volumes ``names`` (``volume_names`` of its config, read
        before it went), the anonymous ones no other container uses: Docker's ``rm -v`` and
        ``run --rm``."""
        users = await asyncio.to_thread(self.volume_users)
        for name in volumes.anonymous_volumes(self.volumes, names):
            if not users.get(name):
                with contextlib.suppress(NotFound, Conflict):
                    await asyncio.to_thread(self.volumes.remove, name)

    def _run_volumes(self, names: list[str]) -> None:
        """The volumes of a run mounted (those whose options make them mounts)."""
        for name in names:
            self.volumes.mount(name)

    def _end_volume_runs(self, names: list[str]) -> None:
        self._volume_runs.subtract(names)
        self._release_volumes(names)

    def _release_volumes(self, names: list[str]) -> None:
        """Of ``names``, the mounted volumes no run uses any more, unmounted (Docker's
        local driver, at its last user's end): a tmpfs volume's content goes with them.
        A run this daemon did not start (one adopted after a restart) counts by its
        record."""
        mounted = [
            n
            for n in names
            if self._volume_runs[n] <= 0 and os.path.ismount(self.volumes.data_dir(n))
        ]
        if not mounted:
            return
        running = self._running_volume_users()
        for name in mounted:
            if name in running:
                continue
            try:
                self.volumes.release(name)
            except RuntimeFailure as exc:  # still busy: its next user's end tries again
                log.warning("%s", exc)

    def _running_volume_users(self) -> set[str]:
        names: set[str] = set()
        if self.container_root.is_dir():
            for path in self.container_root.iterdir():
                cdir = self.container_dir(path.name)
                rec = cdir.record()
                if rec.get("pid") and "exit_code" not in rec:
                    names.update(volume_names(cdir.config()))
        return names

    def volume_users(self) -> dict[str, list[str]]:
        """Volume name -> ids of the containers (any state) that mount it."""
        by_container = {}
        if self.container_root.is_dir():
            for path in self.container_root.iterdir():
                names = volume_names(self.container_dir(path.name).config())
                if names:
                    by_container[path.name] = names
        return volumes.volume_users(by_container)


def volume_mounts(config: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """The volumes a container's config.json mounts (bind sources <volumes>/<name>/_data):
    (name, destination, read-write)."""
    found = []
    for m in bundle.user_mounts(config):
        src = Path(str(m.get("source", "")))
        if src.name == volumes.DATA and src.parent.parent.name == "volumes":
            rw = "ro" not in (m.get("options") or [])
            found.append((src.parent.name, str(m.get("destination", "")), rw))
    return found


def volume_names(config: dict[str, Any]) -> list[str]:
    """The names of the volumes a container's config.json mounts."""
    return [name for name, _, _ in volume_mounts(config)]


def log_settings(cdir: ContainerDir) -> LogSettings:
    """What create recorded of the container's log driver."""
    return jsonlog.settings_of(cdir.record())


def _annotations(cdir: ContainerDir) -> dict[str, str]:
    """The annotations the bundle keeps: what an event says of its container."""
    return dict(cdir.config().get("annotations") or {})


def _has_terminal(config_file: Path) -> bool:
    """Whether the container's config.json gives its process a terminal (Docker's Tty)."""
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError):
        return False
    return bool(config.get("process", {}).get("terminal", False))
