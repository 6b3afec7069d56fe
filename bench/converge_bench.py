"""Benchmark: service create --replicas N on a 3-host lab until N/N running, against the floor.

    python bench/converge_bench.py [--n 10,30,60] [--quick] [--logs DIR]

swarmpy: a 3-host lab (``swarmpy.lab.manage.up``: node1 manager, node2 and node3 workers,
plus the registry/DNS host). A warm-up service (3 replicas, then removed) pulls busybox on
every host, so no pull is timed. Then, per N and run, ``POST /services/create`` (N replicas of
``busybox sleep 3600``) is sent to the manager's Engine API and timed until ``GET /tasks``
shows N tasks RUNNING (polled every 50 ms from this process: the CLI's own Python start,
about 2 s here, would otherwise set the granularity). The service is removed and every
container gone before the next measurement. Each task's state timestamps (set where the
state changed: manager or agent) are kept, so the time splits into phases.

Floor, in the same lab: what any orchestrator must at least do per container, with no
control plane: ``ip netns add`` + a veth into the host's namespace + an overlay mount of the
same busybox rootfs + ``runc run -d``, the N containers split over the 3 hosts, the hosts
working concurrently (each its share one after another). Floor and swarmpy runs alternate.
Target: within 1.5x of the floor at N = 30. Needs root, runc, nsenter, unshare,
docker-registry and dnsmasq.

Worker footprint (the issue's "worker daemon idle with 0 and with 20 tasks"): VmRSS of the
two worker daemons once the warm-up service is gone, and again in the first N = 60 run once
it converged (20 tasks per host).
"""

from __future__ import annotations

import argparse
import io
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure, Stat, print_figures, rss_kib, skipped
from bench.labkit import (
    NotReady,
    SwarmLab,
    daemon_log_tail,
    daemon_pid,
    missing_prerequisites,
    swarm_lab,
)

TARGET_RATIO = 1.5
# Tasks per host for the worker footprint figure (the issue: a worker with 20 tasks).
FOOTPRINT_TASKS = 20
POLL_S = 0.05
# TaskState values (swarmpy.model.TaskState) the phase split reports, in order.
PHASES = {
    "PENDING": 64,
    "ASSIGNED": 192,
    "ACCEPTED": 256,
    "PREPARING": 320,
    "READY": 384,
    "STARTING": 448,
    "RUNNING": 512,
}
RUNNING = PHASES["RUNNING"]
TERMINAL = 576


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


# ---------------------------------------------------------------- the floor


class Floor:
    """Containers made by hand: netns + veth + overlay mount + runc run -d."""

    def __init__(self, root: Path, lab: Any, hosts: Sequence[Any]) -> None:
        self.root, self.lab, self.hosts = root, lab, list(hosts)
        self.prefix = "fl" + secrets.token_hex(2)
        self.lower = root / "lower"
        self.made: list[tuple[Any, str]] = []  # (host, container name)
        self._template: dict[str, Any] = {}

    def prepare(self) -> None:
        from swarmpy.lab.busybox import busybox_layer

        self.lower.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(busybox_layer())) as tar:
            tar.extractall(self.lower)
        spec_dir = self.root / "spec"
        spec_dir.mkdir()
        _sh("runc", "spec", "--bundle", str(spec_dir))
        self._template = json.loads((spec_dir / "config.json").read_text())

    def _one(self, host: Any, i: int) -> None:
        name = f"{self.prefix}{host.number}c{i}"
        self.made.append((host, name))
        bundle = self.root / name
        upper, work, merged = bundle / "upper", bundle / "work", bundle / "rootfs"
        for d in (upper, work, merged):
            d.mkdir(parents=True)
        _sh("ip", "netns", "add", name)
        _sh("ip", "-n", host.netns, "link", "add", f"v{name}", "type", "veth", "peer", "name",
            "eth0", "netns", name)  # fmt: skip
        _sh("ip", "-n", host.netns, "link", "set", f"v{name}", "up")
        _sh("ip", "-n", name, "link", "set", "eth0", "up")
        _sh("mount", "-t", "overlay", "overlay", "-o",
            f"lowerdir={self.lower},upperdir={upper},workdir={work}", str(merged))  # fmt: skip
        config = json.loads(json.dumps(self._template))
        config["process"].update(terminal=False, args=["sleep", "3600"])
        config["root"] = {"path": str(merged), "readonly": False}
        config["hostname"] = name
        config["linux"]["cgroupsPath"] = f"/{self.prefix}/{name}"
        config["linux"]["namespaces"] = [
            {"type": "network", "path": f"/run/netns/{name}"} if ns["type"] == "network" else ns
            for ns in config["linux"]["namespaces"]
        ]
        (bundle / "config.json").write_text(json.dumps(config))
        subprocess.run(
            ["runc", "--root", str(self.root / "runc"), "run", "-d", "--bundle", str(bundle), name],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self, n: int) -> float:
        shares = [list(range(h, n, len(self.hosts))) for h in range(len(self.hosts))]

        def host_share(h: int) -> None:
            for i in shares[h]:
                self._one(self.hosts[h], i)

        started = time.perf_counter()
        with ThreadPoolExecutor(len(self.hosts)) as pool:
            list(pool.map(host_share, range(len(self.hosts))))
        return time.perf_counter() - started

    def clean(self) -> None:
        from swarmpy.engine.runc import mounts_under, remove_cgroup

        for host, name in self.made:
            subprocess.run(["runc", "--root", str(self.root / "runc"), "delete", "--force", name],
                           capture_output=True)  # fmt: skip
            subprocess.run(["umount", str(self.root / name / "rootfs")], capture_output=True)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
            subprocess.run(["ip", "-n", host.netns, "link", "del", f"v{name}"], capture_output=True)
            remove_cgroup(f"/{self.prefix}/{name}")
            if not mounts_under(self.root / name):
                shutil.rmtree(self.root / name, ignore_errors=True)  # the next run reuses names
        self.made.clear()


# ---------------------------------------------------------------- swarmpy


class Timeline:
    """For each task, the timestamp of every state it was seen in (first sighting wins)."""

    def __init__(self, created_at: float) -> None:
        self.created_at = created_at  # wall clock, like the task timestamps
        self.seen: dict[str, dict[int, float]] = {}
        self.node: dict[str, str] = {}

    def add(self, tasks: Sequence[Any]) -> None:
        for t in tasks:
            states = self.seen.setdefault(t.id, {})
            states.setdefault(t.status.state, t.status.timestamp)
            self.node[t.id] = t.node_id

    def all_reached(self, state: int) -> float | None:
        """Seconds after the create when the last task had reached ``state``: the earliest
        timestamp seen at ``state`` or later, per task, then the maximum over tasks."""
        times = []
        for states in self.seen.values():
            later = [ts for s, ts in states.items() if s >= state and s < TERMINAL]
            if not later:
                return None
            times.append(min(later) - self.created_at)
        return max(times) if times else None

    def durations(self, start: int, end: int) -> list[float]:
        return [st[end] - st[start] for st in self.seen.values() if start in st and end in st]

    def summary(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            f"all_{name.lower()}_s": self.all_reached(code) for name, code in PHASES.items()
        }
        # The manager keeps only a task's latest status, so READY and STARTING, reported a
        # moment before RUNNING, are rarely seen: PREPARING -> RUNNING is the agent's share.
        spans = self.durations(PHASES["PREPARING"], RUNNING)
        doc["prepare_to_running_median_s"] = statistics.median(spans) if spans else None
        doc["prepare_to_running_max_s"] = max(spans) if spans else None
        doc["prepare_to_running_samples"] = len(spans)
        per_node: dict[str, int] = {}
        for node in self.node.values():
            per_node[node[:12]] = per_node.get(node[:12], 0) + 1
        doc["tasks_per_node"] = per_node
        doc["failed_tasks"] = sum(1 for st in self.seen.values() if any(s >= TERMINAL for s in st))
        return doc


def _converge(swarm: SwarmLab, name: str, n: int, timeout: float) -> tuple[float, Timeline]:
    timeline = Timeline(time.time())
    started = time.perf_counter()
    service_id = swarm.api.create_service(name, n)
    deadline = started + timeout
    while time.perf_counter() < deadline:
        tasks = swarm.api.tasks(service_id)
        timeline.add(tasks)
        running = sum(1 for t in tasks if t.status.state == RUNNING and t.desired_state == RUNNING)
        if running >= n:
            return time.perf_counter() - started, timeline
        time.sleep(POLL_S)
    raise NotReady(f"service {name} did not reach {n}/{n} within {timeout:g}s")


def _remove(swarm: SwarmLab, name: str) -> None:
    swarm.api.remove_service(name)
    swarm.wait_no_containers()


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _report_phases(n: int, run: int, seconds: float, floor_s: float, doc: dict[str, Any]) -> None:
    print(
        f"  N={n} run {run}: swarmpy {seconds:.2f}s, floor {floor_s:.2f}s; all tasks "
        + ", ".join(
            f"{k} by {_fmt(doc[f'all_{k.lower()}_s'])}"
            for k in ("ASSIGNED", "PREPARING", "READY", "RUNNING")
        )
        + f"; per task PREPARING->RUNNING {_fmt(doc['prepare_to_running_median_s'])}"
        f" (max {_fmt(doc['prepare_to_running_max_s'])}); per node {doc['tasks_per_node']}",
        file=sys.stderr,
        flush=True,
    )


def run(
    quick: bool = False, ns: Sequence[int] | None = None, logs: Path | None = None
) -> list[Figure]:
    """N = 10, 30 and 60 (10 and 30 quick) unless ``ns`` says otherwise."""
    if ns is None:
        ns = (10, 30) if quick else (10, 30, 60)
    why = missing_prerequisites()
    if why:
        return [skipped("convergence", why)]
    from swarmpy.engine.runc import mounts_under

    runs = 1 if quick else 3
    figures: list[Figure] = []
    floor_root = Path(tempfile.mkdtemp(prefix="flbench-", dir="/tmp"))
    try:
        with swarm_lab(3, keep_logs=logs) as swarm:
            floor = Floor(floor_root, swarm.lab, swarm.hosts)
            try:
                _converge(swarm, "warmup", 3, 120)  # pulls busybox on every host
                _remove(swarm, "warmup")
                swarm.wait_no_containers()
                time.sleep(2.0)  # settle, as the idle daemon of footprint_bench
                idle_rss = _worker_rss(swarm)
                floor.prepare()
                floor.start(3)  # warm-up of the floor too
                floor.clean()
                for n in ns:
                    ours: list[float] = []
                    floors: list[float] = []
                    phases: list[dict[str, Any]] = []
                    for r in range(runs):
                        floors.append(floor.start(n))
                        floor.clean()
                        name = f"conv{n}r{r}"
                        seconds, timeline = _converge(swarm, name, n, 60 + 3 * n)
                        ours.append(seconds)
                        if n == FOOTPRINT_TASKS * len(swarm.hosts) and r == 0:
                            time.sleep(2.0)
                            busy_rss = _worker_rss(swarm)
                            figures.append(_footprint_figure(idle_rss, busy_rss))
                        phases.append(timeline.summary())
                        _report_phases(n, r, seconds, floors[-1], phases[-1])
                        _remove(swarm, name)
                    figures.append(_figure(n, ours, floors, phases))
            except NotReady as exc:
                tail = daemon_log_tail(swarm.manager)
                last = f" (manager daemon log: {tail})" if tail else ""
                figures.append(skipped("convergence", f"service path not ready: {exc}{last}"))
            finally:
                floor.clean()
    except NotReady as exc:
        figures.append(skipped("convergence", str(exc)))
    finally:
        if not mounts_under(floor_root):  # never recurse into a mount left behind
            shutil.rmtree(floor_root, ignore_errors=True)
    return figures


def _worker_rss(swarm: SwarmLab) -> list[float]:
    """VmRSS in MiB of each worker daemon (every host but the manager)."""
    rss: list[float] = []
    for host in swarm.hosts[1:]:
        pid = daemon_pid(host)
        if pid is None:
            raise NotReady(f"no daemon process found for {host.name}")
        rss.append(rss_kib(pid) / 1024)
    return rss


def _footprint_figure(idle: list[float], busy: list[float]) -> Figure:
    """The issue's worker footprint: a worker daemon with 0 and with 20 running tasks."""
    value, base = Stat.of(busy), Stat.of(idle)
    return Figure(
        f"footprint: worker daemon, {FOOTPRINT_TASKS} running tasks",
        "MiB RSS",
        value,
        "the same daemons with 0 tasks",
        base,
        higher_is_better=False,
        fmt="{:,.1f}",
        note=f"{len(busy)} worker daemons of the lab, 2 s after convergence; busybox sleep tasks",
    )


def _figure(n: int, ours: list[float], floors: list[float], phases: list[dict[str, Any]]) -> Figure:
    value, base = Stat.of(ours), Stat.of(floors)
    ratio = value.median / base.median
    mid = phases[ours.index(sorted(ours)[len(ours) // 2])]  # the median run's split
    note = (
        f"median run: all ASSIGNED by {_fmt(mid['all_assigned_s'])} s, all PREPARING by "
        f"{_fmt(mid['all_preparing_s'])} s, all RUNNING by {_fmt(mid['all_running_s'])} s; "
        f"per task PREPARING->RUNNING {_fmt(mid['prepare_to_running_median_s'])} s "
        f"(max {_fmt(mid['prepare_to_running_max_s'])})"
    )
    return Figure(
        f"convergence, {n} replicas on 3 hosts",
        "s to N/N running",
        value,
        "netns+veth+overlay+runc by hand",
        base,
        target=f"ratio <= {TARGET_RATIO:g} at N = 30" if n == 30 else "",
        target_met=ratio <= TARGET_RATIO if n == 30 else None,
        higher_is_better=False,
        fmt="{:.2f}",
        note=note,
        extra={"swarmpy_s": ours, "floor_s": floors, "phases": phases},
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n", help="replica counts, comma-separated (default 10,30,60)")
    parser.add_argument("--logs", type=Path, help="copy the daemons' logs here before teardown")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    ns = [int(x) for x in args.n.split(",")] if args.n else None
    result = run(args.quick, ns, args.logs)
    print_figures(result)
    if args.json:
        args.json.write_text(json.dumps([f.to_json() for f in result], indent=2) + "\n")
