"""The daemon's standalone containers (``run``, ``create``, ``start``, ...): their records,
networks, published ports, restart policies and waiters, over the node's engine.

The engine runs any container; what makes one standalone is its record here,
``<data root>/standalone/<id>.json`` (the create request as the client sent it, the ports it
got, its restart count, whether it was stopped by hand), which survives a daemon restart:
``recover`` takes running containers back and starts the ones their policy says should run.
A task's container has no record, so nothing here touches it.

Every change of one container is serialised by a lock of its own. A monitor task per
running container waits for its end (through whichever engine the node has now: ``swarm
init`` and ``leave`` replace it) and applies the restart policy, auto-removal and the
waiters of ``/containers/{id}/wait``.

Plug-in points for other kinds of network and mount: ``_attach_network`` /
``_detach_network`` (a network mode other than bridge, host and none ends up there) and
``swarmpy.standalone.mounts.resolve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import secrets
import socket
import struct
import termios
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from swarmpy.engine import modes
from swarmpy.engine.containers import Containers
from swarmpy.engine.images.reference import parse_reference
from swarmpy.engine.images.store import ImageStore
from swarmpy.engine.lifecycle import Engine, volume_names
from swarmpy.engine.spec import ContainerConfig
from swarmpy.errors import Conflict, InvalidArgument, NotFound, RuntimeFailure, SwarmpyError
from swarmpy.fsutil import write_atomic
from swarmpy.netns import netns_path
from swarmpy.overlay.attachment import Attachment
from swarmpy.overlay.bridges import BridgeNetworks
from swarmpy.overlay.containerports import Forward
from swarmpy.overlay.sandbox import RESOLV_CONF, extra_hosts_text, hosts_file
from swarmpy.standalone import mounts, names, ports, restart
from swarmpy.standalone.spec import (
    HOST_GATEWAY,
    CreateSpec,
    check_name,
    merge_command,
    parse_create,
)

log = logging.getLogger(__name__)

# Where a container in the host's network namespace "joins" it: runc opens this path in its
# own process, which is in the daemon's namespace (also after a daemon restart).
HOST_NETNS = "/proc/self/ns/net"
DEFAULT_STOP_S = 10.0
STATE_POLL_S = 0.05
# How long an auto-removal waits for attached clients to read the container's last output.
ATTACH_DRAIN_S = 10.0


class NetworkProvider(Protocol):
    """swarmpy.overlay.provider.OverlayNetworkProvider, as standalone containers use it."""

    async def attach_local(self, container_id: str, name: str) -> Attachment: ...

    async def adopt_local(self, container_id: str, name: str) -> Attachment | None: ...

    async def detach_local(self, container_id: str, release: bool = True) -> None: ...

    async def publish_container_ports(self, forwards: list[Forward]) -> None: ...

    def sandbox_name(self, container_id: str) -> str: ...

    @property
    def local_gateway(self) -> str: ...

    @property
    def local_subnet(self) -> str: ...


class Runtime(Protocol):
    """swarmpy.agent.runtime.NodeRuntime: the node's engine, images and networks."""

    @property
    def engine(self) -> Engine: ...

    @property
    def containers(self) -> Containers: ...

    @property
    def images(self) -> ImageStore: ...

    @property
    def network(self) -> NetworkProvider: ...

    @property
    def bridges(self) -> BridgeNetworks: ...

    @property
    def in_swarm(self) -> bool: ...

    async def attach_overlay(
        self,
        network: str,
        container_id: str,
        name: str,
        aliases: Sequence[str] = (),
        ip: str = "",
    ) -> tuple[str, Attachment]: ...

    async def detach_overlay(self, container_id: str, attachment_id: str) -> None: ...

    async def readopt_overlay(self, container_id: str, attachment_id: str) -> None: ...


@dataclass
class Waiters:
    """Who waits for one container's next exit, or its removal."""

    exits: list[asyncio.Future[int]] = field(default_factory=list)
    removed: list[asyncio.Future[int]] = field(default_factory=list)


def port_is_free(protocol: str, port: int) -> bool:
    """Whether no socket on the host holds ``port``: a DNAT there would hide its server."""
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def with_dns(
    text: str, servers: Sequence[str], search: Sequence[str], options: Sequence[str]
) -> str:
    """A resolv.conf with --dns, --dns-search and --dns-option: each, when given, replaces
    the lines of its kind, as libnetwork rebuilds it (the rest kept)."""
    if not (servers or search or options):
        return text
    kept_servers, kept_search, kept_options, rest = [], [], [], []
    for line in text.splitlines():
        word, _, value = line.partition(" ")
        if word == "nameserver":
            kept_servers.append(value.strip())
        elif word in ("search", "domain"):
            kept_search += value.split()
        elif word == "options":
            kept_options += value.split()
        else:
            rest.append(line)
    lines = [line for line in rest if line.strip() and not line.startswith("#")]
    lines += [f"nameserver {s}" for s in (servers or kept_servers)]
    if search or kept_search:
        lines.append("search " + " ".join(search or kept_search))
    if options or kept_options:
        lines.append("options " + " ".join(options or kept_options))
    return "\n".join(lines) + "\n"


def host_resolv_conf(text: str) -> str:
    """Docker's default bridge: the host's resolv.conf without its loopback nameservers,
    which a container cannot reach. (Docker adds Google's resolvers when none is left;
    swarmpy does not send a container's lookups off the machine unasked.)"""
    kept = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver" and words[1].startswith("127."):
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


class StandaloneContainers:
    def __init__(
        self,
        runtime: Callable[[], Runtime],
        data_root: Path,
        hostname: str,
        resolv_conf: Path,
    ) -> None:
        self._runtime = runtime
        self._dir = data_root / "standalone"
        self._hostname = hostname
        self._resolv_conf = resolv_conf
        self._locks: dict[str, asyncio.Lock] = {}
        self._monitors: dict[str, asyncio.Task[None]] = {}
        self._waiters: dict[str, Waiters] = {}
        self._removing: set[str] = set()
        self._restarting: dict[str, int] = {}  # id -> the exit code it is restarting after
        self._delays: dict[str, float] = {}
        self._stdin: dict[str, int] = {}  # id -> the write end of its stdin pipe (-i)
        self._terminals: dict[str, int] = {}  # id -> a copy of its terminal's master (-t)
        self._attached: dict[str, int] = {}  # id -> attach streams reading its output
        self._detached = asyncio.Event()
        self._swapped = asyncio.Event()
        self._names_lock = asyncio.Lock()
        self._readopts: set[asyncio.Task[None]] = set()  # referenced so they are not collected

    # ------------------------------------------------------------------ records

    def _path(self, cid: str) -> Path:
        return self._dir / f"{cid}.json"

    def record(self, cid: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = json.loads(self._path(cid).read_text())
        except (OSError, ValueError):
            return None
        return found

    def is_standalone(self, cid: str) -> bool:
        return self._path(cid).exists()

    def _save(self, rec: dict[str, Any]) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self._path(rec["id"]), json.dumps(rec))

    def _update(self, cid: str, **fields: Any) -> dict[str, Any]:
        rec = self.record(cid)
        if rec is None:
            raise NotFound(f"No such container: {cid}")
        rec.update(fields)
        self._save(rec)
        return rec

    def _ids(self) -> list[str]:
        try:
            return sorted(p.stem for p in self._dir.glob("*.json"))
        except OSError:
            return []

    def _lock(self, cid: str) -> asyncio.Lock:
        return self._locks.setdefault(cid, asyncio.Lock())

    def spec_of(self, rec: dict[str, Any]) -> CreateSpec:
        return parse_create(rec["request"])

    def user_networks(self, rec: dict[str, Any]) -> dict[str, str]:
        """The user bridges the container is on whenever it runs, name -> id: its own
        network's and those `network connect` added (inspect shows them while it is
        stopped too, as Docker keeps their endpoints' settings)."""
        bridges = self._runtime().bridges
        spec = self.spec_of(rec)
        refs = [spec.network] if spec.user_network else []
        refs += [str(e["network"]) for e in rec.get("connected") or []]
        found = (bridges.find(ref) for ref in refs)
        return {net.name: net.id for net in found if net is not None and not net.builtin}

    def restarting(self, cid: str) -> int | None:
        """The exit code a container waiting to be restarted ended with (Docker's
        "Restarting"), or None."""
        return self._restarting.get(cid)

    # ------------------------------------------------------------------ the node's engine

    def runtime_changed(self) -> None:
        """The node's engine was replaced (swarm init, leave): monitors wait on the new one."""
        old, self._swapped = self._swapped, asyncio.Event()
        old.set()

    async def _resolve(self, ref: str) -> str:
        return str((await self._runtime().containers.resolve(ref))["id"])

    async def status(self, cid: str) -> str:
        """runc's status of the container: created, running, paused, stopped."""
        return await self._state(cid)

    async def settled_status(self, cid: str) -> str:
        """``status`` once no start (or stop, or restart) of the container is under way. A
        container that ends before its start has returned reads "stopped" with that start
        not yet in its record, just like one that ran long ago: `run --rm busybox echo hi`
        under load printed nothing, its attach taking it for one that would not run."""
        async with self._lock(cid):
            return await self._state(cid)

    def accepts_stdin(self, cid: str) -> bool:
        """Whether the container was made with an open stdin (-i)."""
        rec = self.record(cid)
        return rec is not None and self.spec_of(rec).open_stdin

    async def _state(self, cid: str) -> str:
        """runc's status of the container: created, running, paused, stopped."""
        rt = self._runtime()
        if not rt.engine.runc.knows(cid):
            return "created"
        st = await rt.engine.runc.state(cid)
        return "created" if st is None else str(st.get("status", "created"))

    # ------------------------------------------------------------------ create

    async def create(self, body: Any, name: str) -> str:
        spec = parse_create(body)
        rt = self._runtime()
        try:
            image = rt.images.get(spec.image)
        except NotFound:
            raise NotFound(f"No such image: {_familiar(spec.image)}") from None
        config = rt.images.config(image.id)
        engine_mounts = mounts.resolve(spec)
        joined = ""  # the id of the container whose network namespace this one joins
        if spec.joins:
            # As moby's adaptSharedNamespaceContainer: the mode names the container by id (a
            # rename keeps the link); one not found yet is left to start to refuse.
            with contextlib.suppress(NotFound):
                joined = await self._resolve(spec.joins)
                body = _with_network_mode(body, f"container:{joined}")
        elif spec.user_network:
            # A user bridge (swarmpy.overlay.bridges), else Docker's words; on a swarm node
            # a name the managers may know (an attachable overlay) is theirs to answer at
            # start, as moby's findAndAttachNetwork.
            user = rt.bridges.find(spec.network)
            if (user is None and not rt.in_swarm) or (user is not None and user.builtin):
                raise NotFound(f"network {spec.network} not found")
        elif spec.network_aliases:
            raise InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
            )
        elif spec.ip:
            raise InvalidArgument(
                "user specified IP address is supported on user defined networks only"
            )
        entrypoint, cmd = merge_command(spec.entrypoint, spec.cmd, config.entrypoint, config.cmd)
        async with self._names_lock:
            taken = {c.name: c.id for c in await rt.containers.list(all=True)}
            if name:
                name = check_name(name)
                if name in taken:
                    raise Conflict(
                        f'Conflict. The container name "/{name}" is already in use by '
                        f'container "{taken[name]}". You have to remove (or rename) that '
                        "container to be able to reuse that name."
                    )
            else:
                name = names.generate(set(taken))
            cid = secrets.token_hex(32)
            hostname = spec.hostname or cid[:12]
            if spec.network == "host":
                hostname = spec.hostname or self._hostname
            elif joined:
                # moby's initializeNetworking: the joined container's name for the host.
                hostname = rt.engine.container_dir(joined).config().get("hostname") or hostname
            container = ContainerConfig(
                id=cid,
                name=name,
                image=spec.image,
                netns_path=self._netns_path(cid, spec),
                hostname=hostname,
                resolv_conf=self._resolv_text(spec),
                hosts=self._hosts_text(spec, hostname, ""),
                # The merged process whole: the engine reads an empty command as "the
                # image's Entrypoint", which a cleared one is not.
                command=entrypoint + cmd,
                env=spec.env,
                workdir=spec.workdir,
                user=spec.user,
                cap_add=spec.cap_add,
                cap_drop=spec.cap_drop,
                mounts=engine_mounts,
                memory_bytes=spec.memory,
                nano_cpus=spec.nano_cpus,
                pids_limit=spec.pids_limit,
                labels=spec.labels,
                read_only=spec.read_only,
                tty=spec.tty,
                healthcheck=spec.healthcheck,
                log=spec.log,
            )
            # The record first: a container whose record is missing would be taken for a
            # task's by a daemon that restarts half-way.
            self._save(
                {
                    "id": cid,
                    "request": body,
                    "created": time.time(),
                    "ports": [],
                    "restart_count": 0,
                    "manually_stopped": False,
                    "exposed": sorted(set(spec.exposed) | set(_image_exposed(rt, image.id))),
                    # Docker's Config.Entrypoint and Config.Cmd once merged with the image's.
                    "entrypoint": list(entrypoint),
                    "cmd": list(cmd),
                }
            )
            try:
                # The engine checks them: -v's missing directories are made first.
                await asyncio.to_thread(mounts.make_bind_sources, spec)
                await rt.engine.create(container, config, rt.images.layer_dirs(image.id))
            except BaseException:
                with contextlib.suppress(SwarmpyError, OSError):
                    await rt.engine.remove(cid)
                self._path(cid).unlink(missing_ok=True)
                raise
        return cid

    def _netns_path(self, cid: str, spec: CreateSpec) -> str:
        if spec.network == "host":
            return HOST_NETNS
        if spec.network == "none" or spec.joins:
            # runc makes a namespace of its own, with only lo; a joining container's is
            # named at each start (_join), the other's process changing with each of its runs.
            return ""
        return netns_path(self._runtime().network.sandbox_name(cid))

    def _resolv_text(self, spec: CreateSpec) -> str:
        try:
            text = self._resolv_conf.read_text()
        except OSError:
            text = ""
        if spec.network == "none" or spec.joins:
            return ""  # a joining container's is the other's, copied at each start
        if spec.network == "host":
            base = text
        elif spec.network != "bridge":
            # A user bridge: names through the embedded DNS, as Docker's.
            base = RESOLV_CONF
        else:
            base = host_resolv_conf(text)
        return with_dns(base, spec.dns, spec.dns_search, spec.dns_options)

    def _hosts_text(self, spec: CreateSpec, hostname: str, ip: str) -> str:
        gateway = self._runtime().network.local_gateway
        extra = [
            (name, gateway if address == HOST_GATEWAY else address)
            for name, address in spec.extra_hosts
        ]
        if spec.network == "host":
            try:
                text = Path("/etc/hosts").read_text()
            except OSError:
                return hosts_file(hostname, None, extra)
            return text + extra_hosts_text(extra)
        return hosts_file(hostname, ip or None, extra)

    # ------------------------------------------------------------------ start, stop

    async def start(self, ref: str) -> bool:
        """Start a created or stopped container; False when it was running already."""
        cid = await self._resolve(ref)
        if not self.is_standalone(cid):
            raise Conflict(f"container {cid} belongs to a swarm task: its agent starts it")
        async with self._lock(cid):
            if await self._state(cid) in ("running", "paused"):
                return False
            try:
                await self._start_locked(cid, by_policy=False)
            except SwarmpyError as exc:
                failed: SwarmpyError | None = exc
            else:
                failed = None
            # State.Error: why the last start failed, cleared by one that did not (dockerd's
            # SetError and SetRunning).
            rec = self.record(cid)
            error = "" if failed is None else failed.message
            if rec is not None and rec.get("start_error", "") != error:
                self._update(cid, start_error=error)
        if failed is not None:
            rec = self.record(cid)
            if rec is not None and self.spec_of(rec).auto_remove:
                # As dockerd: a --rm container that cannot start goes (docker run waits
                # for its removal before it reports the error).
                with contextlib.suppress(SwarmpyError):
                    await self.remove(cid, force=True)
            raise failed
        return True

    async def _start_locked(self, cid: str, by_policy: bool) -> None:
        """Start it; a start other than its restart policy's (``start``, ``restart``, the
        daemon's own after a daemon restart) begins afresh, as moby's with
        resetRestartManager: no restart counted, its manual stop forgotten (so ``always``
        holds again and ``on-failure:N`` has its N tries again), the back-off from the first
        step."""
        rt = self._runtime()
        rec = self.record(cid)
        if rec is None:
            raise NotFound(f"No such container: {cid}")
        spec = self.spec_of(rec)
        cdir = rt.engine.container_dir(cid)
        await asyncio.to_thread(mounts.make_bind_sources, spec)
        await self._attach_network(cid, spec, rec)
        try:
            await self._publish(cid, spec, rec)
            stdin = None
            self._close_stdin(cid)
            if spec.open_stdin and not spec.tty:
                read_end, write_end = os.pipe2(os.O_CLOEXEC)
                self._stdin[cid] = write_end
                stdin = read_end

            def terminal(master: int) -> None:
                # Behind a TTY the terminal's master is both its input (-i) and its size.
                self._terminals[cid] = master

            try:
                if "started_at" in cdir.record() or rt.engine.runc.knows(cid):
                    await rt.engine.rerun(cid, stdin=stdin, on_terminal=terminal)
                else:
                    await rt.engine.start(cid, stdin=stdin, on_terminal=terminal)
            finally:
                if stdin is not None:
                    os.close(stdin)
        except BaseException:
            self._close_stdin(cid)
            with contextlib.suppress(SwarmpyError, OSError):
                await self._apply_ports()
            raise
        if not by_policy:
            self._update(cid, restart_count=0, manually_stopped=False)
            self._delays.pop(cid, None)
        self._watch(cid)

    async def stop(self, ref: str, grace_s: float | None = None, signal: str = "") -> bool:
        """Docker's stop: False when the container was not running. A stopped container
        stays stopped: no restart policy brings it back (but a daemon restart does for
        ``always``)."""
        cid = await self._resolve(ref)
        rec = self.record(cid)
        if rec is None:
            return await self._stop_other(cid, grace_s)
        spec = self.spec_of(rec)
        self._update(cid, manually_stopped=True)
        waiting = self._restarting.pop(cid, None) is not None
        state = await self._state(cid)
        if state not in ("running", "paused"):
            return waiting
        grace = grace_s
        if grace is None:
            grace = float(spec.stop_timeout) if spec.stop_timeout is not None else DEFAULT_STOP_S
        rt = self._runtime()
        await rt.engine.stop(cid, grace, signal or spec.stop_signal or "TERM")
        await self._settled(cid)
        return True

    async def _stop_other(self, cid: str, grace_s: float | None) -> bool:
        rt = self._runtime()
        if await self._state(cid) not in ("running", "paused"):
            return False
        await rt.containers.stop(cid, DEFAULT_STOP_S if grace_s is None else grace_s)
        return True

    async def kill(self, ref: str, signal: str) -> str:
        """Docker's kill: the container's restart policy no longer applies to this end."""
        cid = await self._resolve(ref)
        if self.is_standalone(cid):
            self._update(cid, manually_stopped=True)
        return await self._runtime().containers.kill(cid, signal)

    async def restart(self, ref: str, grace_s: float | None = None) -> None:
        cid = await self._resolve(ref)
        if not self.is_standalone(cid):
            raise Conflict(f"container {cid} belongs to a swarm task: its agent restarts it")
        await self.stop(cid, grace_s)
        async with self._lock(cid):
            if await self._state(cid) not in ("running", "paused"):
                await self._start_locked(cid, by_policy=False)

    async def _settled(self, cid: str) -> None:
        """Until the container's monitor has seen it end (so ``ps`` and ``wait`` agree)."""
        task = self._monitors.get(cid)
        if task is not None and not task.done():
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), DEFAULT_STOP_S)

    # ------------------------------------------------------------------ remove, rename

    async def remove(self, ref: str, force: bool, volumes: bool = False) -> str:
        """``volumes``: its anonymous volumes go too (Docker's ``rm -v``)."""
        rt = self._runtime()
        cid = await self._resolve(ref)
        if not self.is_standalone(cid):
            return await rt.containers.rm(cid, force)
        async with self._lock(cid):
            state = await self._state(cid)
            if state in ("running", "paused") and not force:
                raise Conflict(
                    f"You cannot remove a running container {cid}. Stop the container "
                    "before attempting removal or force remove"
                )
            self._removing.add(cid)
            try:
                self._restarting.pop(cid, None)
                await self._rm(cid, volumes)
            finally:
                self._removing.discard(cid)
        return cid

    async def _rm(self, cid: str, volumes: bool) -> None:
        """The container gone, with what it leaves here; with ``volumes`` its anonymous
        volumes too."""
        rt = self._runtime()
        own = volume_names(rt.engine.container_dir(cid).config()) if volumes else []
        code = self._exit_code(cid)  # for the waiters: its record goes with it
        await rt.containers.rm(cid, force=True)
        await self._forget(cid, code)
        if own:
            await rt.engine.remove_anonymous_volumes(own)

    async def _forget(self, cid: str, code: int = 0) -> None:
        """What a removed container leaves here: its network, ports, record, waiters (told
        ``code``, its last exit code)."""
        self._close_stdin(cid)
        rec = self.record(cid)
        if rec is not None:
            await self._detach_network(cid, self.spec_of(rec))
        self._path(cid).unlink(missing_ok=True)
        await self._apply_ports()
        monitor = self._monitors.pop(cid, None)
        if monitor is not None and monitor is not asyncio.current_task():
            monitor.cancel()
        waiters = self._waiters.pop(cid, Waiters())
        for fut in waiters.exits + waiters.removed:
            if not fut.done():
                fut.set_result(code)
        self._locks.pop(cid, None)
        self._delays.pop(cid, None)

    async def forget_removed(self, cids: list[str]) -> None:
        """Containers removed by another path (``container prune``): their leftovers here."""
        for cid in cids:
            if self.is_standalone(cid):
                await self._forget(cid)

    async def rename(self, ref: str, new_name: str) -> None:
        rt = self._runtime()
        cid = await self._resolve(ref)
        new_name = check_name(new_name)
        if not self.is_standalone(cid):
            raise Conflict(f"container {cid} belongs to a swarm task: its name is the task's")
        async with self._names_lock:
            for c in await rt.containers.list(all=True):
                if c.name == new_name:
                    if c.id == cid:
                        raise InvalidArgument(
                            "Renaming a container with the same name as its current name"
                        )
                    raise Conflict(
                        f'Conflict. The container name "/{new_name}" is already in use by '
                        f'container "{c.id}". You have to remove (or rename) that container '
                        "to be able to reuse that name."
                    )
            rt.engine.rename(cid, new_name)

    # ------------------------------------------------------------------ wait

    def _exit_code(self, cid: str) -> int:
        rec = self._runtime().engine.container_dir(cid).record()
        return int(rec.get("exit_code", 0))

    async def wait(self, ref: str, condition: str) -> asyncio.Future[int]:
        """A future of the container's exit code under Docker's ``condition``
        (not-running, next-exit, removed), registered before this returns: the caller
        answers the client's headers only then, and may start the container after."""
        if condition not in ("", "not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: {condition!r}")
        cid = await self._resolve(ref)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        running = await self._state(cid) in ("running", "paused") or cid in self._restarting
        if not self.is_standalone(cid):
            if condition == "removed":
                raise InvalidArgument("waiting for the removal of a task's container")
            if condition in ("", "not-running") and not running:
                fut.set_result(self._exit_code(cid))
                return fut
            engine = self._runtime().engine
            task = asyncio.ensure_future(engine.wait(cid))
            task.add_done_callback(lambda t: _relay(t, fut))
            return fut
        waiters = self._waiters.setdefault(cid, Waiters())
        if condition == "removed":
            waiters.removed.append(fut)
        elif condition == "next-exit" or running:
            waiters.exits.append(fut)
        else:
            fut.set_result(self._exit_code(cid))
        return fut

    # ------------------------------------------------------------------ monitoring

    def _watch(self, cid: str) -> None:
        old = self._monitors.get(cid)
        if old is not None and not old.done():
            return
        self._monitors[cid] = asyncio.create_task(self._monitor(cid), name=f"monitor-{cid[:12]}")

    async def _wait_exit(self, cid: str) -> int:
        """The container's exit code, through whichever engine the node has when it ends."""
        while True:
            swapped = self._swapped
            waiting = asyncio.ensure_future(self._runtime().engine.wait(cid))
            changed = asyncio.ensure_future(swapped.wait())
            try:
                await asyncio.wait({waiting, changed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
                if not waiting.done():
                    waiting.cancel()
            if waiting.done() and not waiting.cancelled():
                return waiting.result()

    async def _monitor(self, cid: str) -> None:
        try:
            await self._monitor_loop(cid)
        except asyncio.CancelledError:
            raise
        except Exception:  # one container's monitor must not take the daemon down
            log.exception("container %s: monitor failed", cid[:12])
        finally:
            if self._monitors.get(cid) is asyncio.current_task():
                del self._monitors[cid]

    async def _monitor_loop(self, cid: str) -> None:
        while True:
            code = await self._wait_exit(cid)
            if cid in self._removing or self.record(cid) is None:
                return
            rt = self._runtime()
            self._close_stdin(cid)
            waiters = self._waiters.get(cid)
            if waiters is not None:
                exits, waiters.exits = waiters.exits, []
                for fut in exits:
                    if not fut.done():
                        fut.set_result(code)
            rec = self.record(cid)
            if rec is None:
                return
            spec = self.spec_of(rec)
            # As moby's Cleanup: an ended container leaves its networks (its address back in
            # the pool, its names out of the DNS, `network inspect` no longer lists it); its
            # next start joins them again. Not under a start that came first.
            async with self._lock(cid):
                if await self._state(cid) not in ("running", "paused"):
                    await self._detach_network(cid, spec)
            cdir_rec = rt.engine.container_dir(cid).record()
            ran_for = float(cdir_rec.get("finished_at", time.time())) - float(
                cdir_rec.get("started_at", 0.0)
            )
            again = restart.should_restart(
                spec.restart_policy, code, int(rec["restart_count"]), bool(rec["manually_stopped"])
            )
            if not again:
                await self._apply_ports()
                if spec.auto_remove:
                    await self._attach_drained(cid)
                    async with self._lock(cid):
                        self._removing.add(cid)
                        try:
                            # As Docker's --rm: its anonymous volumes go with it.
                            await self._rm(cid, volumes=True)
                        finally:
                            self._removing.discard(cid)
                return
            delay = restart.next_delay(self._delays.get(cid, 0.0), ran_for)
            self._delays[cid] = delay
            self._restarting[cid] = code
            # Counted when decided, as dockerd's monitor: inspect shows it while restarting.
            now = self.record(cid)
            if now is None:
                return  # removed meanwhile
            self._update(cid, restart_count=int(now["restart_count"]) + 1)
            await asyncio.sleep(delay)
            async with self._lock(cid):
                if self._restarting.pop(cid, None) is None or self.record(cid) is None:
                    return  # stopped or removed meanwhile
                try:
                    await self._start_locked(cid, by_policy=True)
                except SwarmpyError as exc:
                    log.warning("container %s: restart failed: %s", cid[:12], exc)
                    await self._apply_ports()
                    return
            # _start_locked found this monitor running: it goes on waiting.

    # ------------------------------------------------------------------ attach

    @contextlib.asynccontextmanager
    async def attached(self, cid: str) -> AsyncIterator[None]:
        """While an attach stream reads the container's output: its auto-removal waits,
        or the stream would lose the end of the output with the log file."""
        self._attached[cid] = self._attached.get(cid, 0) + 1
        try:
            yield
        finally:
            self._attached[cid] -= 1
            if not self._attached[cid]:
                del self._attached[cid]
            old, self._detached = self._detached, asyncio.Event()
            old.set()

    async def _attach_drained(self, cid: str) -> None:
        deadline = time.monotonic() + ATTACH_DRAIN_S
        while cid in self._attached and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._detached.wait(), deadline - time.monotonic())

    # ------------------------------------------------------------------ stdin

    def _close_stdin(self, cid: str) -> None:
        for fds in (self._stdin, self._terminals):
            fd = fds.pop(cid, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _input(self, cid: str) -> int | None:
        """Where the container's input goes: its stdin pipe, or its terminal with -it."""
        fd = self._stdin.get(cid)
        if fd is None and cid in self._terminals and self.accepts_stdin(cid):
            fd = self._terminals[cid]
        return fd

    def resize(self, cid: str, height: int, width: int) -> None:
        """The container's terminal's size (Docker's /resize); refused without one."""
        fd = self._terminals.get(cid)
        if fd is None:
            raise Conflict(f"Container {cid} has no terminal to resize (it runs without -t)")
        with contextlib.suppress(OSError):
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def write_stdin(self, cid: str, data: bytes) -> bool:
        """Bytes for the container's stdin (``-i``); False when it has none (any more)."""
        fd = self._input(cid)
        if fd is None:
            return False
        try:
            await asyncio.to_thread(_write_all, fd, data)
        except OSError:
            self._close_stdin(cid)
            return False
        return True

    def end_stdin(self, cid: str) -> None:
        """The attached client's input ended: with StdinOnce, so does the container's."""
        rec = self.record(cid)
        if rec is not None and self.spec_of(rec).stdin_once:
            fd = self._stdin.pop(cid, None)  # a terminal stays: its keeper reads it
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

    # ------------------------------------------------------------------ networks and ports

    async def _attach_network(self, cid: str, spec: CreateSpec, rec: dict[str, Any]) -> None:
        """Before the container runs: its namespace wired to its network, /etc/hosts
        naming its address. A user network's driver plugs in here."""
        if spec.network in ("host", "none"):
            return
        if spec.joins:
            await self._join(cid, spec.joins)
            return
        rt = self._runtime()
        cdir = rt.engine.container_dir(cid)
        name = _name_of(cdir.config())
        if spec.network == "bridge":
            att = await rt.network.adopt_local(cid, name)
            if att is None:
                att = await rt.network.attach_local(cid, name)
            ip, cidr, mac, gateway = att.ip, att.cidr, att.mac, rt.network.local_gateway
        elif rt.bridges.find(spec.network) is None:
            # A swarm overlay: the managers place the container on it at each start (the
            # attachment goes when the container stops), as a task with its address.
            attachment_id, att = await rt.attach_overlay(
                spec.network, cid, name, spec.network_aliases, spec.ip
            )
            # The network's id stays for inspect once the container ends.
            self._update(cid, attachment=attachment_id, overlay_network=att.network_id)
            ip, cidr, mac, gateway = att.ip, att.cidr, att.mac, ""
        else:
            # A user bridge: a leg on each start (the legs go when the container stops);
            # the address, name and aliases serve the embedded DNS.
            net = rt.bridges.get(spec.network)
            await rt.bridges.detach_all(cid)
            ep = await rt.bridges.attach(cid, name, net.id, spec.network_aliases, spec.ip)
            ip, cidr, mac, gateway = ep.ip, ep.cidr, ep.mac, net.gateway
        await self._attach_connected(cid, name, rec)
        hostname = cdir.config().get("hostname", "") or cid[:12]
        modes.write_file(cdir.path / "hosts", self._hosts_text(spec, hostname, ip))
        self._update(
            cid,
            network={
                "ip": ip,
                "prefix": int(cidr.split("/")[1]),
                "gateway": gateway,
                "mac": mac,
            },
        )
        rec.update(self.record(cid) or {})

    async def _join(self, cid: str, ref: str) -> None:
        """``--network container:<ref>``: the container's next run in the network namespace
        of ``ref``'s running process, with its /etc/hosts, resolv.conf and hostname (moby's
        getNetworkedContainer and initializeNetworkingPaths, in their words)."""
        rt = self._runtime()
        other = await self._resolve(ref)
        if other == cid:
            raise InvalidArgument("cannot join own network")
        netns, files = await self._joined(other)
        rt.engine.set_netns(cid, netns)
        cdir = rt.engine.container_dir(cid)
        for name, text in files.items():
            modes.write_file(cdir.path / name, text)

    async def _joined(self, other: str) -> tuple[str, dict[str, str]]:
        """The network namespace of container ``other``'s running process and its files
        (hosts, resolv.conf, hostname) a container joining it takes; Docker's words for one
        that does not run."""
        odir = self._runtime().engine.container_dir(other)
        if other in self._restarting:
            raise Conflict(f"Container {other} is restarting, wait until the container is running")
        state = await self._state(other)
        pid = odir.record().get("pid")
        if state not in ("running", "paused") or not pid:
            shown = "exited" if state == "stopped" else state
            raise Conflict(
                "cannot join network namespace of a non running container: "
                f"container {_name_of(odir.config())} is {shown}"
            )
        files = {}
        for name in ("hosts", "resolv.conf", "hostname"):
            with contextlib.suppress(FileNotFoundError):
                files[name] = (odir.path / name).read_text()
        return f"/proc/{int(pid)}/ns/net", files

    async def join_build(self, ref: str) -> tuple[str, str, str, str]:
        """``build --network container:<ref>``: RUN in the network namespace of ``ref``'s
        running process (moby's NetworkMode of the step's container), with its resolv.conf,
        hosts and host name; (netns path, resolv.conf, hosts, hostname)."""
        netns, files = await self._joined(await self._resolve(ref))
        hostname = files.get("hostname", "").strip()
        return netns, files.get("resolv.conf", ""), files.get("hosts", ""), hostname

    async def attach_build(self, cid: str, network: str) -> str:
        """A build step's sandbox on ``network`` (docker build's RUN network, moby's
        NetworkMode of the step's container): the default bridge, or a user bridge by
        name or id; the path of its network namespace."""
        rt = self._runtime()
        name = f"build-{cid[:12]}"
        if not _build_user_network(network):
            await rt.network.attach_local(cid, name)
            return netns_path(rt.network.sandbox_name(cid))
        net = rt.bridges.find(network)
        if net is None or net.builtin:
            raise NotFound(f"network {network} not found")
        try:
            await rt.bridges.attach(cid, name, net.id)
        except BaseException:
            await self.detach_build(cid, network)
            raise
        return netns_path(rt.network.sandbox_name(cid))

    async def detach_build(self, cid: str, network: str) -> None:
        rt = self._runtime()
        if not _build_user_network(network):
            await rt.network.detach_local(cid)
            return
        # As a user bridge container's: the legs, then the sandbox the bridges made.
        await rt.bridges.detach_all(cid)
        await rt.network.detach_local(cid, release=False)

    def build_resolv_conf(self, network: str) -> str:
        """A build step's resolv.conf: a container's on the same network."""
        mode = network if _build_user_network(network) else "default"
        return self._resolv_text(CreateSpec(image="", network_mode=mode))

    async def _attach_connected(self, cid: str, name: str, rec: dict[str, Any]) -> None:
        """The user bridges `network connect` added, joined again at each start; one
        removed meanwhile is left out, as its endpoint cannot be made."""
        rt = self._runtime()
        for entry in rec.get("connected") or []:
            net = rt.bridges.find(entry["network"])
            if net is None or rt.bridges.endpoints(net.id, cid):
                continue
            try:
                await rt.bridges.attach(
                    cid, name, net.id, tuple(entry.get("aliases") or ()), entry.get("ip", "")
                )
            except SwarmpyError as exc:
                log.warning("container %s: cannot join %s again: %s", cid[:12], net.name, exc)

    async def connect(self, ref: str, network_id: str, aliases: tuple[str, ...], ip: str) -> None:
        """`network connect`: the container joins a user bridge now if it runs, and at
        each start (kept in its record, as Docker keeps the endpoint's settings)."""
        rt = self._runtime()
        cid = await self._resolve(ref)
        if not self.is_standalone(cid):
            raise Conflict("swarmpy connects standalone containers only, not a service's task")
        async with self._lock(cid):
            rec = self.record(cid)
            if rec is None:
                raise NotFound(f"No such container: {cid}")
            mode = self.spec_of(rec).network
            if mode == "host" or self.spec_of(rec).joins:
                raise Conflict(
                    "container sharing network namespace with another container or host "
                    "cannot be connected to any other network"
                )
            if mode == "none":
                raise Conflict(
                    "container cannot be connected to multiple networks with one of the "
                    "networks in private (none) mode"
                )
            net = rt.bridges.get(network_id)
            connected = [e for e in rec.get("connected") or [] if e["network"] != net.id]
            if (
                mode == net.name
                or mode == net.id
                or len(connected) < len(rec.get("connected") or [])
            ):
                raise Conflict(
                    f"endpoint with name {_name_of(rt.engine.container_dir(cid).config())} "
                    f"already exists in network {net.name}"
                )
            if await self._state(cid) in ("running", "paused"):
                name = _name_of(rt.engine.container_dir(cid).config())
                await rt.bridges.attach(cid, name, net.id, aliases, ip)
            connected.append({"network": net.id, "aliases": list(aliases), "ip": ip})
            self._update(cid, connected=connected)

    async def disconnect(self, ref: str, network_id: str) -> None:
        """`network disconnect`: the container leaves a user bridge, now and for good."""
        rt = self._runtime()
        cid = await self._resolve(ref)
        net = rt.bridges.get(network_id)
        async with self._lock(cid):
            rec = self.record(cid)
            kept = [e for e in (rec or {}).get("connected") or [] if e["network"] != net.id]
            was_connected = rec is not None and len(kept) < len(rec.get("connected") or [])
            if rec is not None and was_connected:
                self._update(cid, connected=kept)
            if rt.bridges.endpoints(net.id, cid):
                await rt.bridges.detach(cid, net.id)
            elif not was_connected:
                raise Conflict(f"container {cid} is not connected to network {net.name}")

    async def _detach_network(self, cid: str, spec: CreateSpec) -> None:
        rt = self._runtime()
        # Its legs on user bridges, its own network's or `network connect`'s.
        await rt.bridges.detach_all(cid)
        rec = self.record(cid) or {}
        if rec.get("attachment"):
            # Its swarm overlay: the leg off, then the managers free the address.
            await rt.detach_overlay(cid, str(rec["attachment"]))
            self._update(cid, attachment="")
        if spec.network == "bridge":
            await rt.network.detach_local(cid)
        elif spec.user_network:
            # The sandbox is the provider's, made by the bridges for this container.
            await rt.network.detach_local(cid, release=False)

    async def _publish(self, cid: str, spec: CreateSpec, rec: dict[str, Any]) -> None:
        """The container's host ports (the same ones again on a restart when they are
        still free), then the host's rules for every running container's ports."""
        requests = spec.port_requests
        if spec.publish_all:
            bound = {(r.container_port, r.protocol) for r in requests}
            extra = ports.requests_of({}, rec.get("exposed", []), True)
            requests = requests + tuple(
                r for r in extra if (r.container_port, r.protocol) not in bound
            )
        if not requests:
            return
        previous = {
            (m.protocol, m.container_port, m.host_ip): m.host_port
            for m in map(ports.PortMapping.from_json, rec.get("ports", []))
        }
        wanted = tuple(
            r
            if r.host_port
            else ports.PortRequest(
                r.protocol,
                r.container_port,
                r.host_ip,
                previous.get((r.protocol, r.container_port, r.host_ip), 0),
            )
            for r in requests
        )
        taken = [
            (m.protocol, m.host_port)
            for other, ms in self._running_ports().items()
            if other != cid
            for m in ms
        ]
        try:
            got = ports.allocate(wanted, taken, port_is_free)
        except Conflict:
            # A port kept from an earlier run that someone took since: a new one.
            got = ports.allocate(requests, taken, port_is_free)
        self._update(cid, ports=[m.to_json() for m in got])
        await self._apply_ports(extra_running=cid)

    def _running_ports(self, extra: str = "") -> dict[str, list[ports.PortMapping]]:
        """The published ports of the containers that run (or are about to)."""
        out: dict[str, list[ports.PortMapping]] = {}
        for cid in self._ids():
            running = cid == extra or (cid in self._monitors and not self._monitors[cid].done())
            if not running:
                continue
            rec = self.record(cid)
            if rec and rec.get("ports"):
                out[cid] = [ports.PortMapping.from_json(m) for m in rec["ports"]]
        return out

    async def _apply_ports(self, extra_running: str = "") -> None:
        forwards: list[Forward] = []
        for cid, mappings in self._running_ports(extra_running).items():
            rec = self.record(cid) or {}
            ip = (rec.get("network") or {}).get("ip")
            if not ip:
                continue
            forwards.extend(
                Forward(m.protocol, m.host_port, ip, m.container_port, m.host_ip) for m in mappings
            )
        await self._runtime().network.publish_container_ports(forwards)

    def published(self, cid: str) -> list[ports.PortMapping]:
        """The container's published ports while it runs (Docker's NetworkSettings.Ports)."""
        return self._running_ports().get(cid, [])

    # ------------------------------------------------------------------ daemon start and stop

    async def recover(self) -> None:
        """After a daemon (re)start: running containers watched again with their ports, the
        others started when their restart policy says so (Docker's restore)."""
        ids = self._ids()
        if not ids:
            return
        rt = self._runtime()
        for cid in ids:
            rec = self.record(cid)
            if rec is None:
                continue
            if not rt.engine.container_dir(cid).path.exists():
                self._path(cid).unlink(missing_ok=True)  # removed while we were down
                continue
            try:
                spec = self.spec_of(rec)
                state = await self._state(cid)
                if state in ("running", "paused"):
                    if spec.network == "bridge":
                        await rt.network.adopt_local(
                            cid, _name_of(rt.engine.container_dir(cid).config())
                        )
                    elif spec.user_network:
                        await rt.bridges.readopt(cid)
                        if rec.get("attachment"):
                            self._readopt_overlay(cid, str(rec["attachment"]))
                    self._watch(cid)
                    continue
                started = "started_at" in rt.engine.container_dir(cid).record()
                # One that ended while no daemon watched has no exit code yet (0 would read
                # as a success to on-failure): the engine's wait records 255, as dockerd's
                # restore does for a task containerd no longer has. Only once runc says it
                # stopped: the wait would outlast a start a daemon restart cut short.
                code = await rt.engine.wait(cid) if state == "stopped" else self._exit_code(cid)
                if started and restart.restart_at_daemon_start(
                    spec.restart_policy,
                    code,
                    int(rec["restart_count"]),
                    bool(rec["manually_stopped"]),
                ):
                    async with self._lock(cid):
                        await self._start_locked(cid, by_policy=False)
                elif started and spec.auto_remove:
                    await self.remove(cid, force=True, volumes=True)
            except Exception as exc:  # the daemon starts whatever one container does  # noqa: BLE001
                log.warning("container %s: cannot take it back: %s", cid[:12], exc)
        try:
            await self._apply_ports()
        except SwarmpyError as exc:
            log.warning("published ports of standalone containers: %s", exc)

    def _readopt_overlay(self, cid: str, attachment_id: str) -> None:
        """In the background: its attachment task comes with the agent's first assignments,
        which may follow the daemon's start."""

        async def readopt() -> None:
            try:
                await self._runtime().readopt_overlay(cid, attachment_id)
            except (SwarmpyError, OSError) as exc:
                log.warning("container %s: cannot take back its swarm network: %s", cid[:12], exc)

        job = asyncio.create_task(readopt())
        self._readopts.add(job)
        job.add_done_callback(self._readopts.discard)

    async def close(self) -> None:
        """Daemon shutdown: stop watching (the containers keep running)."""
        for task in [*self._monitors.values(), *self._readopts]:
            task.cancel()
        for task in [*self._monitors.values(), *self._readopts]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._monitors.clear()
        for cid in list(self._stdin):
            self._close_stdin(cid)


def _relay(task: asyncio.Future[int], fut: asyncio.Future[int]) -> None:
    if fut.done():
        return
    if task.cancelled():
        fut.cancel()
    elif task.exception() is not None:
        fut.set_exception(task.exception())  # type: ignore[arg-type]
    else:
        fut.set_result(task.result())


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _with_network_mode(body: Any, mode: str) -> Any:
    """The create request with HostConfig.NetworkMode ``mode`` (as inspect shows it)."""
    if not isinstance(body, dict) or not isinstance(body.get("HostConfig"), dict):
        return body
    return {**body, "HostConfig": {**body["HostConfig"], "NetworkMode": mode}}


def _name_of(config: dict[str, Any]) -> str:
    from swarmpy.engine.bundle import ANN_NAME

    return str((config.get("annotations") or {}).get(ANN_NAME, ""))


def _familiar(ref: str) -> str:
    try:
        return parse_reference(ref).familiar
    except (InvalidArgument, ValueError, SwarmpyError):
        return ref


def _image_exposed(rt: Runtime, image_id: str) -> list[str]:
    """The image's EXPOSEd ports ("80/tcp"), which ``-P`` publishes."""
    try:
        doc = rt.images.inspect(image_id)
    except (NotFound, RuntimeFailure):
        return []
    exposed = (doc.get("Config") or {}).get("ExposedPorts") or {}
    out = []
    for key in exposed:
        with contextlib.suppress(InvalidArgument):
            port, proto = ports.parse_port_key(str(key))
            out.append(f"{port}/{proto}")
    return out


def _build_user_network(network: str) -> bool:
    """Whether a build's network (its networkmode; host, none and container:<ref> never get
    here) is a user bridge rather than the default one."""
    return network not in ("", "default", "bridge")
