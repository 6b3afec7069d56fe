"""Node-local container commands: what ``swarmpy ps/logs/inspect/top/stats/stop/kill/rm/pause/
unpause/exec`` do on the daemon's own containers, like Docker's.

Everything is read back from runc's state and the container dir, so it works the same for a
container this daemon started and one it adopted after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarmpy.dockerjson.health import health_json, image_health
from swarmpy.dockerjson.logdriver import log_config_json
from swarmpy.engine import bundle, health, jsonlog
from swarmpy.engine.events import ContainerEvents, labels_from_annotations, signal_number
from swarmpy.engine.reaper import Reaper
from swarmpy.engine.runc import (
    UNKNOWN_EXIT,
    ContainerDir,
    RootfsOps,
    Runc,
    default_rootfs_ops,
    remove_container,
    stop_container,
)
from swarmpy.errors import Conflict, InvalidArgument, NotFound
from swarmpy.humanize import human_duration
from swarmpy.model import HealthState

SHORT_ID = 12


# ---------------------------------------------------------------- pure formatting


def status_text(
    state: str,
    started_at: float,
    finished_at: float,
    exit_code: int | None,
    at: float,
    health: HealthState = HealthState.NONE,
) -> str:
    """The STATUS column of ``docker ps``."""
    if state == "created":
        return "Created"
    if state in ("running", "paused"):
        up = f"Up {human_duration(at - started_at)}"
        if state == "paused":
            return up + " (Paused)"
        if health == HealthState.STARTING:
            return up + " (health: starting)"
        return f"{up} ({health.value})" if health else up
    code = UNKNOWN_EXIT if exit_code is None else exit_code
    return f"Exited ({code}) {human_duration(at - finished_at)} ago"


def parse_runc_time(text: str) -> float:
    """runc's RFC 3339 timestamps carry nanoseconds, which fromisoformat rejects."""
    m = re.match(r"(.*?T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if not m:
        return 0.0
    frac = (m.group(2) or ".0")[:7]
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return dt.datetime.fromisoformat(m.group(1) + frac + tz).timestamp()


def iso(ts: float) -> str:
    if not ts:
        return "0001-01-01T00:00:00Z"
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def parse_ps(text: str) -> tuple[list[str], list[list[str]]]:
    """``ps -ef`` output as titles and rows; the last column (CMD) keeps its spaces."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return [], []
    titles = lines[0].split()
    rows = [line.split(None, len(titles) - 1) for line in lines[1:]]
    return titles, rows


def container_processes(text: str, pids: set[int]) -> tuple[list[str], list[list[str]]]:
    """Docker's top: the host's ``ps`` output, only the rows of the container's processes."""
    titles, rows = parse_ps(text)
    if "PID" not in titles:
        raise InvalidArgument("Couldn't find PID field in ps output")
    at = titles.index("PID")
    return titles, [r for r in rows if len(r) > at and r[at].isdigit() and int(r[at]) in pids]


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    image: str
    command: str
    created: float
    status: str  # "Up 5 seconds", "Exited (0) 3 seconds ago"
    state: str  # created | running | paused | exited
    name: str
    pid: int
    exit_code: int | None

    @property
    def short_id(self) -> str:
        return self.id[:SHORT_ID]


@dataclass(frozen=True)
class ContainerStats:
    id: str
    name: str
    cpu_percent: float
    mem_usage: int
    mem_limit: int
    mem_percent: float
    pids: int


@dataclass(frozen=True)
class AdoptedContainer:
    """A container found in the runc root after a restart, with the annotations it was made
    with (which say, to whoever made it, what it was for)."""

    id: str
    name: str
    annotations: tuple[tuple[str, str], ...]
    state: str  # runc's: created | running | paused | stopped
    pid: int
    exit_code: int | None


def host_memory() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


class Containers:
    """The containers of one daemon: one runc root and one container dir root.

    ``annotation_labels`` maps a label inspect shows to the annotation it is read from: how
    an orchestrator's own annotations appear as labels (Docker's com.docker.swarm.*).
    """

    def __init__(
        self,
        runc: Runc,
        container_root: Path,
        *,
        rootfs: RootfsOps | None = None,
        reaper: Reaper | None = None,
        annotation_labels: Mapping[str, str] | None = None,
        events: ContainerEvents | None = None,
    ) -> None:
        self.runc = runc
        self.container_root = container_root
        self._rootfs = rootfs
        self.reaper = reaper
        self._annotation_labels = dict(annotation_labels or {})
        self.events = events or ContainerEvents(annotation_labels)

    def _dir(self, cid: str) -> ContainerDir:
        return ContainerDir(self.container_root / cid)

    async def _states(self) -> list[dict[str, Any]]:
        """Every container of ours, as runc's state; one runc has no state for (made and
        not run yet, or between two runs) as Docker's "created" (or "exited" once it ran).
        The annotations are the bundle's, which a rename changes after runc copied them."""
        listed = await self.runc.list_containers()
        found = []
        for s in listed:
            config = self._dir(s["id"]).config()
            if config.get("annotations"):
                s = {**s, "annotations": config["annotations"]}
            if bundle.ANN_NAME in _ann(s):
                found.append(s)
        known = {s["id"] for s in listed}
        return found + await asyncio.to_thread(self._not_run, known)

    def _not_run(self, known: set[str]) -> list[dict[str, Any]]:
        try:
            paths = [p for p in self.container_root.iterdir() if p.name not in known]
        except OSError:
            return []
        found = []
        for path in paths:
            cdir = ContainerDir(path)
            annotations = cdir.config().get("annotations") or {}
            if bundle.ANN_NAME not in annotations:
                continue  # not (or no longer) a whole container: a create or rm half-way
            rec = cdir.record()
            found.append(
                {
                    "id": path.name,
                    "status": "stopped" if "exit_code" in rec else "created",
                    "pid": 0,
                    "annotations": annotations,
                    "created": iso(float(rec.get("created_at", 0.0))),
                    "bundle": str(path),
                }
            )
        return found

    async def resolve(self, ref: str) -> dict[str, Any]:
        """runc's state for a full id, a unique id prefix, or a container name."""
        states = await self._states()
        for s in states:
            if s["id"] == ref or _ann(s).get(bundle.ANN_NAME) == ref.lstrip("/"):
                return s
        matches = [s for s in states if ref and s["id"].startswith(ref)]
        if len(matches) > 1:
            raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        if not matches:
            raise NotFound(f"No such container: {ref}")
        return matches[0]

    def _info(self, s: dict[str, Any], at: float) -> ContainerInfo:
        ann = _ann(s)
        rec = self._dir(s["id"]).record()
        args = self._dir(s["id"]).config().get("process", {}).get("args", [])
        exit_code = rec.get("exit_code")
        state = "exited" if s["status"] == "stopped" else str(s["status"])
        return ContainerInfo(
            id=s["id"],
            image=ann.get(bundle.ANN_IMAGE, ""),
            command=" ".join(args),
            # When it was made (runc's own time is that of its latest run).
            created=float(rec.get("created_at") or parse_runc_time(s.get("created", ""))),
            status=status_text(
                s["status"],
                float(rec.get("started_at", 0.0)),
                float(rec.get("finished_at", at)),
                None if exit_code is None else int(exit_code),
                at,
                self._health_status(s["id"]),
            ),
            state=state,
            name=ann.get(bundle.ANN_NAME, s["id"]),
            pid=int(s.get("pid", 0)) if state != "exited" else 0,
            exit_code=None if exit_code is None else int(exit_code),
        )

    def _health(self, cid: str) -> health.Health | None:
        """The container's health as its engine's monitor last wrote it; None without a
        healthcheck."""
        return health.load(self._dir(cid).path / health.HEALTH_FILE)

    def _health_status(self, cid: str) -> HealthState:
        found = self._health(cid)
        return HealthState.NONE if found is None else found.status

    async def inspect(self, ref: str) -> dict[str, Any]:
        return self._inspect(await self.resolve(ref), time.time())

    async def inspect_all(self, all: bool = False) -> list[tuple[ContainerInfo, dict[str, Any]]]:
        """Every container's list row and inspect document from one ``runc list``, newest
        first; only running and paused ones unless ``all``."""
        at = time.time()
        found = [(self._info(s, at), s) for s in await self._states()]
        return [
            (info, self._inspect(s, at))
            for info, s in sorted(found, key=lambda pair: pair[0].created, reverse=True)
            if all or info.state in ("running", "paused")
        ]

    async def images_in_use(self, running_only: bool = False) -> set[str]:
        """The image ids some container of this node (running or not) was made from."""
        rows = await self.inspect_all(all=not running_only)
        return {doc["Image"] for _, doc in rows if doc["Image"]}

    async def image_users(self) -> dict[str, list[tuple[str, bool]]]:
        """Each image id's containers, newest first: (container id, running)."""
        users: dict[str, list[tuple[str, bool]]] = {}
        for info, doc in await self.inspect_all(all=True):
            if doc["Image"]:
                users.setdefault(doc["Image"], []).append((info.id, doc["State"]["Running"]))
        return users

    def _inspect(self, s: dict[str, Any], at: float) -> dict[str, Any]:
        info = self._info(s, at)
        cdir = self._dir(s["id"])
        config, rec = cdir.config(), cdir.record()
        proc, linux = config.get("process", {}), config.get("linux", {})
        limits = linux.get("resources", {})
        cpu = limits.get("cpu", {})
        ann = _ann(s)
        args = proc.get("args", [])
        netns = [n.get("path", "") for n in linux.get("namespaces", []) if n["type"] == "network"]
        state: dict[str, Any] = {
            "Status": info.state,
            "Running": info.state in ("running", "paused"),
            "Paused": info.state == "paused",
            "Pid": info.pid,
            "ExitCode": info.exit_code or 0,
            "StartedAt": iso(float(rec.get("started_at", 0.0))),
            "FinishedAt": iso(float(rec.get("finished_at", 0.0))),
        }
        found = self._health(s["id"])
        if found is not None:
            state["Health"] = found.to_json()
        check = image_health(rec.get("healthcheck"))
        return {
            "Id": s["id"],
            "Name": "/" + info.name,
            "Created": iso(info.created),
            "Path": args[0] if args else "",
            "Args": args[1:],
            "State": state,
            "Image": rec.get("image_id", ""),
            "LogPath": str(cdir.log_file),
            "Config": {
                "Hostname": config.get("hostname", ""),
                "User": rec.get("user", _resolved_user(proc)),
                "Env": proc.get("env", []),
                "Cmd": args,
                "Image": info.image,
                "Tty": bool(proc.get("terminal", False)),
                "WorkingDir": rec.get("workdir", proc.get("cwd", "/")),
                "Labels": self._labels(ann),
                **({} if check is None else {"Healthcheck": health_json(check)}),
            },
            "HostConfig": {
                "Memory": limits.get("memory", {}).get("limit", 0),
                "NanoCpus": cpu.get("quota", 0) * 10**9 // cpu["period"] if cpu else 0,
                "CgroupParent": linux.get("cgroupsPath", ""),
                "CapAdd": proc.get("capabilities", {}).get("bounding", []),
                "LogConfig": log_config_json(jsonlog.settings_of(rec)),
            },
            "Mounts": [_mount_view(m) for m in bundle.user_mounts(config)],
            "NetworkSettings": {"SandboxKey": netns[0] if netns else "", "Networks": {}},
        }

    async def logs_readable(self, ref: str) -> bool:
        """Whether the container's driver keeps a log to read (not ``none``)."""
        cdir = self._dir((await self.resolve(ref))["id"])
        return jsonlog.settings_of(cdir.record()).readable

    async def logs(
        self, ref: str, window: jsonlog.LogWindow
    ) -> AsyncGenerator[jsonlog.LogRecord, None]:
        """The container's log records in ``window`` (Docker's json-file reading)."""
        cdir = self._dir((await self.resolve(ref))["id"])
        settings = jsonlog.settings_of(cdir.record())
        async for record in jsonlog.read_log(cdir.path, cdir.log_file, window, settings):
            yield record

    async def top(self, ref: str, ps_args: str = "") -> tuple[list[str], list[list[str]]]:
        """``ps -ef`` (or ``ps <ps_args>``) of the container's processes."""
        s = await self._running(ref)
        if not ps_args:
            return parse_ps(await self.runc.ps(s["id"]))
        # As Docker does it: the host's ps with the caller's options, then only the rows of
        # the container's pids (runc ps passes no options of its own to ps).
        pids = json.loads(await _output(self.runc.argv("ps", "--format", "json", s["id"])))
        return container_processes(await _output(["ps", *ps_args.split()]), set(pids or []))

    async def raw_stats(self, ref: str) -> tuple[str, str, dict[str, Any], str]:
        """A running container's id, name, runc's statistics (``runc events --stats``) and
        its network namespace's /proc/net/dev ("" when it cannot be read: it just ended)."""
        s = await self._running(ref)
        raw = await self.runc.stats(s["id"])
        net_dev = await asyncio.to_thread(_net_dev, int(s["pid"]))
        return s["id"], _ann(s).get(bundle.ANN_NAME, s["id"]), raw, net_dev

    async def stats(self, ref: str, interval_s: float = 0.5) -> ContainerStats:
        s = await self._running(ref)
        first = await self.runc.stats(s["id"])
        await asyncio.sleep(interval_s)
        second = await self.runc.stats(s["id"])
        cpu_ns = _cpu_total(second) - _cpu_total(first)
        mem = second.get("memory", {})
        usage = int(mem.get("usage", {}).get("usage", 0))
        # Like Docker on cgroup v1: page cache that can be dropped is not "used".
        usage -= int(mem.get("raw", {}).get("total_inactive_file", 0))
        limit = int(mem.get("usage", {}).get("limit", 0))
        host = host_memory()
        if not limit or (host and limit > host):
            limit = host
        return ContainerStats(
            id=s["id"],
            name=_ann(s).get(bundle.ANN_NAME, s["id"]),
            cpu_percent=100.0 * cpu_ns / (interval_s * 1e9),
            mem_usage=max(usage, 0),
            mem_limit=limit,
            mem_percent=100.0 * usage / limit if limit else 0.0,
            pids=int(second.get("pids", {}).get("current", 0)),
        )

    async def stop(self, ref: str, grace_s: float = 10.0) -> str:
        s = await self.resolve(ref)
        cid = str(s["id"])
        if s["status"] in ("running", "paused"):
            self.events.emit("kill", cid, _ann(s), signal=signal_number("TERM"))
        await stop_container(self.runc, cid, grace_s)
        self.events.emit("stop", cid, _ann(s))
        return cid

    async def kill(self, ref: str, signal: str = "KILL") -> str:
        s = await self._running(ref)
        await self.runc.kill(s["id"], signal.upper())
        self.events.emit("kill", str(s["id"]), _ann(s), signal=signal_number(signal))
        return str(s["id"])

    async def pause(self, ref: str) -> str:
        s = await self._running(ref)
        if s["status"] == "paused":
            raise Conflict(f"Container {s['id']} is already paused")
        await self.runc.pause(s["id"])
        self.events.emit("pause", str(s["id"]), _ann(s))
        return str(s["id"])

    async def unpause(self, ref: str) -> str:
        s = await self.resolve(ref)
        if s["status"] != "paused":
            raise Conflict(f"Container {s['id']} is not paused")
        await self.runc.resume(s["id"])
        self.events.emit("unpause", str(s["id"]), _ann(s))
        return str(s["id"])

    async def rm(self, ref: str, force: bool = False) -> str:
        s = await self.resolve(ref)
        cid = str(s["id"])
        if s["status"] in ("running", "paused"):
            if not force:
                raise Conflict(
                    f"You cannot remove a running container {cid}. Stop the container "
                    "before attempting removal or force remove"
                )
            await stop_container(self.runc, cid, 0)
        rootfs = self._rootfs or default_rootfs_ops()
        await remove_container(self.runc, self._dir(cid), rootfs, self.reaper)
        self.events.emit("destroy", cid, _ann(s))
        return cid

    def log_event(self, cid: str, action: str, **extra: str) -> None:
        """What the Engine API does with container ``cid`` (its full id) besides its
        lifecycle (Docker's attach, detach, commit) on the events stream, with its
        attributes read from its bundle: no runc list, which can fail while a `run`'s
        attach races the container's start."""
        annotations = self._dir(cid).config().get("annotations") or {}
        self.events.emit(action, cid, annotations, **extra)

    async def adopt(self) -> list[AdoptedContainer]:
        """Our containers that survived a daemon restart, for the agent to re-attach to."""
        found = []
        for s in await self._states():
            ann = _ann(s)
            code = self._dir(s["id"]).record().get("exit_code")
            found.append(
                AdoptedContainer(
                    id=s["id"],
                    name=ann[bundle.ANN_NAME],
                    annotations=tuple(ann.items()),
                    state=str(s["status"]),
                    pid=int(s.get("pid", 0)),
                    exit_code=None if code is None else int(code),
                )
            )
        return found

    async def exec_target(self, ref: str) -> str:
        """The id of the container an exec would run in: running and not paused."""
        s = await self._running(ref)
        if s["status"] == "paused":
            raise Conflict(f"Container {s['id']} is paused, unpause the container before exec")
        return str(s["id"])

    def _labels(self, ann: dict[str, str]) -> dict[str, str]:
        """The container's labels, then those read from the orchestrator's annotations."""
        return labels_from_annotations(ann, self._annotation_labels)

    async def _running(self, ref: str) -> dict[str, Any]:
        s = await self.resolve(ref)
        if s["status"] not in ("running", "paused"):
            raise Conflict(f"Container {s['id']} is not running")
        return s

    # Last in the class: a method named `list` shadows the builtin in later annotations.
    async def list(self, all: bool = False) -> list[ContainerInfo]:
        at = time.time()
        infos = [self._info(s, at) for s in await self._states()]
        if not all:
            infos = [i for i in infos if i.state in ("running", "paused")]
        return sorted(infos, key=lambda i: i.created, reverse=True)


async def _output(argv: list[str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        message = err.decode(errors="replace").strip().splitlines()
        raise InvalidArgument(f"{argv[0]} failed: {message[-1] if message else proc.returncode}")
    return out.decode(errors="replace")


def _net_dev(pid: int) -> str:
    """/proc/net/dev of the network namespace ``pid`` is in (its init's view: runc counts no
    interface it did not make); "" on the host's network, whose interfaces are not the
    container's (Docker reports none), or once the process is gone."""
    try:
        if os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino:
            return ""
        return Path(f"/proc/{pid}/net/dev").read_text()
    except OSError:
        return ""


def _resolved_user(proc: dict[str, Any]) -> str:
    """What a container made before its record kept the user as given shows: uid:gid."""
    return "{uid}:{gid}".format(**proc.get("user", {"uid": 0, "gid": 0}))


def _ann(state: dict[str, Any]) -> dict[str, str]:
    return dict(state.get("annotations") or {})


def _mount_view(m: dict[str, Any]) -> dict[str, Any]:
    source = str(m.get("source", ""))
    rw = "ro" not in m.get("options", [])
    if m.get("type") == "tmpfs":
        return {"Type": "tmpfs", "Source": "", "Destination": m["destination"], "RW": rw}
    src = Path(source)
    if src.name == "_data" and src.parent.parent.name == "volumes":
        return {
            "Type": "volume",
            "Name": src.parent.name,
            "Source": source,
            "Destination": m["destination"],
            "RW": rw,
        }
    return {"Type": "bind", "Source": source, "Destination": m["destination"], "RW": rw}


def _cpu_total(stats: dict[str, Any]) -> int:
    return int(stats.get("cpu", {}).get("usage", {}).get("total", 0))
