"""runc as an asyncio adapter, the on-disk layout of a container, and cleaning up after one.

Layout of one container, under the daemon's container root:
``<root>/<id>/config.json`` (the bundle), ``<id>-json.log`` (the container's stdout and stderr,
Docker's json-file log, kept by ``swarmpy.engine.logshim``),
``runc.log`` (runc's own messages), ``record.json`` (start/finish times, exit code: runc forgets
them), the /etc files (resolv.conf, hosts, hostname), and whatever the rootfs mounter keeps
there (upper, work, rootfs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from swarmpy.engine.images import rootfs as image_rootfs
from swarmpy.engine.reaper import Reaper
from swarmpy.errors import NotFound, RuntimeFailure
from swarmpy.fsutil import write_atomic

log = logging.getLogger(__name__)

POLL_S = 0.2
KILL_WAIT_S = 10.0
# How long runc may take to hand a terminal's master over the console socket.
CONSOLE_TIMEOUT_S = 10.0
# An exit code we could not learn: the container ended while no daemon was its parent.
UNKNOWN_EXIT = 255
# The status of a process SIGKILL ended, as a shell (and Docker) reports it.
KILLED_EXIT = 128 + int(signal.SIGKILL)
# runc, and so every container, runs with the umask containers have always had (Docker's),
# not the daemon's own 077: runc makes mount points and devices in the rootfs under it, and
# it is the containers' processes' umask.
RUNC_UMASK = 0o022


class RootfsOps(Protocol):
    """Mounts an image's layers as a container's root (``swarmpy.engine.images.rootfs``)."""

    def mount_rootfs(self, layers: list[Path], container_dir: Path) -> Path: ...

    def unmount_rootfs(self, container_dir: Path) -> None: ...


class Runc:
    """``runc --root <root> ...``; one root per daemon so hosts on one machine do not collide."""

    def __init__(self, root: Path, binary: str = "runc") -> None:
        self.root = root
        self.binary = binary

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", str(self.root), *args]

    async def _run(self, *args: str) -> str:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv(*args),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                umask=RUNC_UMASK,
            )
        except FileNotFoundError as e:
            raise RuntimeFailure(f"runc not found: {self.binary}") from e
        out, err = await proc.communicate()
        if proc.returncode != 0:
            msg = err.decode(errors="replace").strip() or f"exit status {proc.returncode}"
            if "does not exist" in msg:
                raise NotFound(f"No such container: {args[-1]}")
            raise RuntimeFailure(f"runc {args[0]}: {msg.splitlines()[-1]}")
        return out.decode(errors="replace")

    def knows(self, cid: str) -> bool:
        """Whether runc has state for ``cid``: its state file, without running runc."""
        return (self.root / cid / "state.json").exists()

    async def run_detached_terminal(
        self, cid: str, bundle_dir: Path, runc_log: Path
    ) -> tuple[int, int]:
        """``run_detached`` for a container with a terminal (config.json's process.terminal):
        runc hands the terminal's master side over a console socket; returns the init's pid
        and the master, which the caller reads the container's output from (and closes)."""
        loop = asyncio.get_running_loop()
        with tempfile.TemporaryDirectory(prefix="swarmpy-console-") as tmp:
            path = os.path.join(tmp, "console.sock")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                listener.bind(path)
                listener.listen(1)
                listener.setblocking(False)
                accept = asyncio.ensure_future(loop.sock_accept(listener))
                try:
                    pid = await self.run_detached(
                        cid,
                        bundle_dir,
                        asyncio.subprocess.DEVNULL,
                        asyncio.subprocess.DEVNULL,
                        runc_log,
                        console_socket=path,
                    )
                    conn, _ = await asyncio.wait_for(accept, CONSOLE_TIMEOUT_S)
                finally:
                    accept.cancel()
            finally:
                listener.close()
            with conn:
                conn.setblocking(True)
                conn.settimeout(CONSOLE_TIMEOUT_S)
                _, fds, _, _ = await asyncio.to_thread(socket.recv_fds, conn, 4096, 1)
        if not fds:
            raise RuntimeFailure(f"runc run: no terminal came back for container {cid}")
        for extra in fds[1:]:
            os.close(extra)
        return pid, fds[0]

    async def run_detached(
        self,
        cid: str,
        bundle_dir: Path,
        stdout: int,
        stderr: int,
        runc_log: Path,
        console_socket: str = "",
        stdin: int = asyncio.subprocess.DEVNULL,
    ) -> int:
        """Create and start the container in one runc run (`runc run --detach`, one process
        where create + start take two); returns its init process's pid (from --pid-file,
        which saves a `runc state` per container). The container's stdout and stderr are
        those given; runc's own messages go to ``runc_log`` (via --log)."""
        pid_file = bundle_dir / "init.pid"
        proc = await asyncio.create_subprocess_exec(
            *self.argv("--log", str(runc_log), "--log-format", "json"),
            "run",
            "--detach",
            "--bundle",
            str(bundle_dir),
            "--pid-file",
            str(pid_file),
            *(["--console-socket", console_socket] if console_socket else []),
            cid,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            umask=RUNC_UMASK,
        )
        code = await proc.wait()
        if code != 0:
            raise RuntimeFailure(f"runc run: {last_error(runc_log) or f'exit status {code}'}")
        return int(pid_file.read_text().strip() or 0)

    async def start(self, cid: str) -> None:
        await self._run("start", cid)

    async def kill(self, cid: str, sig: int | str = "TERM", all_procs: bool = False) -> None:
        name = sig if isinstance(sig, str) else signal.Signals(sig).name
        await self._run("kill", *(["--all"] if all_procs else []), cid, name.removeprefix("SIG"))

    async def delete(self, cid: str, force: bool = False) -> None:
        await self._run("delete", *(["--force"] if force else []), cid)

    async def state(self, cid: str) -> dict[str, Any] | None:
        """runc's state of the container, or None when runc does not know it."""
        try:
            return cast(dict[str, Any], json.loads(await self._run("state", cid)))
        except NotFound:
            return None

    async def list_containers(self) -> list[dict[str, Any]]:
        if not self.root.exists():
            return []
        for attempt in range(3):
            try:
                text = await self._run("list", "--format", "json")
                break
            except RuntimeFailure as e:
                # runc fails the whole list when a container is deleted while it reads
                # the root; the list an instant later is the answer.
                if "no such file or directory" not in str(e) or attempt == 2:
                    raise
        # An empty root lists as `null`, not `[]`.
        listed = json.loads(text) or []
        return cast(list[dict[str, Any]], listed)

    async def pause(self, cid: str) -> None:
        await self._run("pause", cid)

    async def resume(self, cid: str) -> None:
        await self._run("resume", cid)

    async def ps(self, cid: str) -> str:
        return await self._run("ps", cid)

    async def stats(self, cid: str) -> dict[str, Any]:
        out = json.loads(await self._run("events", "--stats", cid))
        return cast(dict[str, Any], out.get("data", {}))


def last_error(runc_log: Path) -> str:
    """The last error runc wrote to its JSON log."""
    try:
        lines = runc_log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry.get("level") in ("error", "fatal"):
                return str(entry.get("msg", ""))
    return ""


# ---------------------------------------------------------------- on-disk container layout


@dataclass(frozen=True)
class ContainerDir:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def log_file(self) -> Path:
        return self.path / f"{self.id}-json.log"  # Docker's name

    @property
    def runc_log(self) -> Path:
        return self.path / "runc.log"

    @property
    def record_file(self) -> Path:
        return self.path / "record.json"

    def config(self) -> dict[str, Any]:
        try:
            return cast(dict[str, Any], json.loads(self.config_file.read_text()))
        except (OSError, ValueError):
            return {}

    def record(self) -> dict[str, Any]:
        try:
            return cast(dict[str, Any], json.loads(self.record_file.read_text()))
        except (OSError, ValueError):
            return {}

    def record_exit(self, code: int) -> None:
        """Keep the first exit status learnt (several waiters may report it)."""
        if self.path.exists() and "exit_code" not in self.record():
            self.update_record(exit_code=code, finished_at=time.time())

    def update_record(self, **fields: Any) -> None:
        # Durable: after a power cut the daemon still knows which containers it made, to
        # clean them up or restart them.
        write_atomic(self.record_file, json.dumps(self.record() | fields))


# ---------------------------------------------------------------- cleanup shared by rm and remove


def cgroup_mounts() -> list[Path]:
    """Every cgroup hierarchy's mount point (hybrid v1+v2 here: runc uses them all)."""
    found: list[Path] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        if post.split(" ", 1)[0] in ("cgroup", "cgroup2"):
            mnt = Path(pre.split()[4])
            if mnt not in found:
                found.append(mnt)
    return found


def remove_cgroup(cgroups_path: str) -> None:
    """runc deletes only the leaf: remove it and then its parents while they are empty."""
    rel = cgroups_path.strip("/")
    if not rel:
        return
    for mnt in cgroup_mounts():
        p = mnt / rel
        while p != mnt:
            try:
                p.rmdir()
            except FileNotFoundError:
                pass
            except OSError:  # busy or has children: another container still uses it
                break
            p = p.parent


def mounts_under(path: Path) -> list[Path]:
    prefix = str(path.resolve()) + "/"
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mnt = line.split()[4]
        if (mnt + "/").startswith(prefix):
            found.append(Path(mnt))
    return found


def default_rootfs_ops() -> RootfsOps:
    return cast(RootfsOps, image_rootfs)


async def remove_container(
    runc: Runc, cdir: ContainerDir, rootfs: RootfsOps, reaper: Reaper | None = None
) -> None:
    """Delete everything a container left behind; safe to repeat and after a crash half-way."""
    errors: list[str] = []
    state = await runc.state(cdir.id)
    if state is not None:
        try:
            await runc.delete(cdir.id, force=True)
        except NotFound:
            pass
        except RuntimeFailure as e:
            errors.append(str(e))
        if reaper is not None and state.get("pid"):
            reaper.forget(int(state["pid"]))
    if cdir.path.exists():
        try:
            await asyncio.to_thread(rootfs.unmount_rootfs, cdir.path)
        except (RuntimeFailure, OSError) as e:
            errors.append(f"unmount rootfs: {e}")
        cgroups_path = cdir.config().get("linux", {}).get("cgroupsPath", "")
        remove_cgroup(cgroups_path)
        if mounts_under(cdir.path):
            # Never rmtree through a live mount: it would delete a bind source's files.
            errors.append(f"still mounted: {', '.join(map(str, mounts_under(cdir.path)))}")
        if not errors:
            await asyncio.to_thread(shutil.rmtree, cdir.path, ignore_errors=True)
    if errors:
        raise RuntimeFailure(f"removing container {cdir.id}: {'; '.join(errors)}")


# The deadline is checked between polls (not asyncio.timeout): a runc call is never cancelled
# halfway, which could leave its process behind.
async def wait_stopped(runc: Runc, cid: str, timeout: float | None = None) -> bool:  # noqa: ASYNC109
    """Poll until runc says the container is gone or stopped; False on timeout."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while True:
        st = await runc.state(cid)
        if st is None or st.get("status") == "stopped":
            return True
        if deadline is not None and loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_S)


async def stop_container(
    runc: Runc,
    cid: str,
    grace_s: float,
    signal: str = "TERM",
    on_kill: Callable[[], None] | None = None,
) -> None:
    """Docker's stop: ``signal`` (SIGTERM unless the container has a stop signal of its
    own), SIGKILL after the grace period (``on_kill`` just before). A no-op when not
    running."""
    st = await runc.state(cid)
    if st is None or st.get("status") == "stopped":
        return
    if st.get("status") == "paused":
        # Signals are not delivered to a frozen cgroup.
        await runc.resume(cid)
    with contextlib.suppress(NotFound):
        await runc.kill(cid, signal or "TERM")
    if await wait_stopped(runc, cid, grace_s):
        return
    if on_kill is not None:
        on_kill()
    with contextlib.suppress(NotFound):
        await runc.kill(cid, "KILL", all_procs=True)
    if not await wait_stopped(runc, cid, KILL_WAIT_S):
        raise RuntimeFailure(f"container {cid} did not die after SIGKILL")
