"""Benchmark: the control plane at scale, simulated nodes against 3 real managers on loopback.

    python bench/scale_bench.py [--nodes 1000] [--tasks 10000] [--quick]
                                [--logs DIR] [--profile DIR]  (py-spy on the leader)

Managers: 3 real ``swarmpy daemon`` processes (``tests.support.daemons.DaemonSet``: own data
roots, sockets, name prefixes, local subnets) on 127.0.0.51-53; ``swarm init`` on the first,
``swarm join`` with the manager token on the others, all three drained so every task goes
to a simulated node.

Simulated nodes: 2 processes (the machine has 2 cores) of N/2 nodes each
(``tests.support.simnodes``): every node a real ``swarmpy.agent.agent.Agent`` joined through
the real NodeCA, one gRPC channel per agent, heartbeating at the real period; only the
executor is fake (tasks are RUNNING at once and stay so). Heartbeats are counted on the
agent side.

Measured: once every node has a session, 10 s idle (heartbeats/s answered, leader CPU);
then ``POST /services/create`` (T replicas) on the leader's Engine API, timed until
``GET /services?status=true`` counts T running tasks (polled every second, every T/20,000 s
at scale: each poll reads every task), confirmed by one
``GET /tasks`` at the end; the leader's CPU seconds and RSS (/proc) before, during (peak)
and after. From the managers' logs: elections, nodes marked down, late Raft ticks, sessions
refused with a retry delay, and leader stalls not counted against the nodes. No baseline:
absolute figures against the issue's targets (1,000 / 10,000 all RUNNING < 30 s; 2,500 /
100,000 < 5 min, leader RSS < 2 GB, no extra election, no false node-down). Single
measurement per scale.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from bench.common import REPO, Figure, Stat, free_port, print_figures, rss_kib, skipped
from tests.support.simnodes import argv as sim_argv
from tests.support.simnodes import read_stats


def targets(nodes: int) -> tuple[float, float]:
    """(seconds until all RUNNING, leader RSS in MB): issue 16's targets, by scale."""
    return (30.0, 500.0) if nodes <= 1000 else (300.0, 2000.0)


RUNNING = 512  # swarmpy.model.TaskState.RUNNING
SIM_PROCESSES = 2
IDLE_S = 10.0
# The observer must not be the load: counting running tasks reads every task (13% of the
# leader's event loop at 100,000 tasks polled each second, py-spy), so big runs poll less.
POLL_S = 1.0
POLL_TASKS_PER_S = 20_000
MANAGER_IPS = ("127.0.0.51", "127.0.0.52", "127.0.0.53")
# The leader's log line when nodes past their grace are still waiting to reconnect.
SPARED = "still reconnecting, not late"


# ---------------------------------------------------------------- the leader, from outside


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _log_count(daemons: Any, fragment: str) -> int:
    """How many lines of the daemons' logs hold ``fragment``."""
    return sum(d.log_path.read_text(errors="replace").count(fragment) for d in daemons)


class _SimLog:
    def __init__(self, path: Path) -> None:
        self.log_path = path


def sims_logs(tmp: str) -> list[_SimLog]:
    return [_SimLog(Path(tmp) / f"sim{i}.log") for i in range(SIM_PROCESSES)]


def start_profile(pid: int, out: Path | None, phase: str) -> subprocess.Popen[bytes] | None:
    """py-spy sampling every thread of ``pid`` (idle samples too: where the event loop
    waits) into ``out/<phase>.txt``, collapsed stacks, until ``stop_profile``. Without
    pausing it: on a loaded machine, py-spy's default pause per sample held the leader
    long enough to cost it its leadership."""
    if out is None:
        return None
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy on PATH (pip install py-spy)")
    out.mkdir(parents=True, exist_ok=True)
    argv = [spy, "record", "--pid", str(pid), "--threads", "--idle", "--nonblocking"]
    argv += ["--rate", "50"]
    argv += ["--format", "raw", "--output", str(out / f"{phase}.txt")]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profile(spy: subprocess.Popen[bytes] | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


def _wait(what: str, check: Any, timeout: float, sims: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if any(p.poll() is not None for p in sims):
            raise RuntimeError(f"a simulated-node process exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.5)


def _mass_reconnect(
    managers: Any,
    sims: list[subprocess.Popen[bytes]],
    stats: list[Path],
    nodes: int,
    profile: Path | None = None,
) -> dict[str, Any]:
    """Every simulated agent drops its session and opens a new one at once (a network blip,
    a leader restart): how long until all are back, and whether it cost an election or a
    node marked down."""
    elections = _log_count(managers, "raft: gained leadership")
    downs = _log_count(managers, "heartbeats: down")
    spared = _log_count(managers, SPARED)
    restarted = read_stats(stats).get("restarts", 0)
    spy = start_profile(managers[0].process.pid, profile, "reconnect")
    t0 = time.perf_counter()
    try:
        for proc in sims:
            proc.send_signal(signal.SIGUSR1)
        _wait(
            "the agents' restart",
            lambda: read_stats(stats).get("restarts", 0) >= restarted + len(sims),
            timeout=120,
            sims=sims,
        )
        _wait(
            f"{nodes} sessions again",
            lambda: read_stats(stats).get("connected", 0) >= nodes,
            timeout=60 + nodes * 0.2,
            sims=sims,
        )
    finally:
        stop_profile(spy)
    return {
        "reconnect_all_s": time.perf_counter() - t0,
        "reconnect_elections": _log_count(managers, "raft: gained leadership") - elections,
        "reconnect_nodes_down": _log_count(managers, "heartbeats: down") - downs,
        # Liveness checks that found nodes past their grace but still waiting their turn.
        "reconnect_checks_sparing_nodes": _log_count(managers, SPARED) - spared,
    }


def measure(
    nodes: int,
    tasks: int,
    keep_logs: Path | None = None,
    profile: Path | None = None,
    deadline_s: float | None = None,
) -> dict[str, Any]:
    from swarmpy.cli.engine import Endpoint, EngineClient
    from swarmpy.dockerjson.service import service_spec_json
    from swarmpy.errors import SwarmpyError
    from swarmpy.model import ContainerSpec, ServiceSpec
    from tests.support.daemons import DaemonSet

    result: dict[str, Any] = {"nodes": nodes, "tasks": tasks}
    sims: list[subprocess.Popen[bytes]] = []
    with DaemonSet() as ds, tempfile.TemporaryDirectory(prefix="scalebench-") as tmp:
        managers = ds.start(3)
        ports = [free_port(ip) for ip in MANAGER_IPS]
        addrs = [f"{ip}:{port}" for ip, port in zip(MANAGER_IPS, ports, strict=True)]
        leader = managers[0]
        leader.ok("swarm", "init", "--advertise-addr", MANAGER_IPS[0], "--listen-addr", addrs[0])
        manager_token = leader.ok("swarm", "join-token", "-q", "manager").strip()
        worker_token = leader.ok("swarm", "join-token", "-q", "worker").strip()
        for daemon, ip, addr in zip(managers[1:], MANAGER_IPS[1:], addrs[1:], strict=True):
            daemon.ok(
                "swarm",
                "join",
                "--token",
                manager_token,
                "--advertise-addr",
                ip,
                "--listen-addr",
                addr,
                addrs[0],
                timeout=60,
            )
        for row in leader.json_lines("node", "ls", "--format", "json"):
            leader.ok("node", "update", "--availability", "drain", row["ID"].removesuffix(" *"))
        assert leader.process is not None
        pid = leader.process.pid
        result["leader_rss_mb_start"] = rss_kib(pid) / 1024

        stats = [Path(tmp) / f"sim{i}.json" for i in range(SIM_PROCESSES)]
        logs = [open(Path(tmp) / f"sim{i}.log", "wb") for i in range(SIM_PROCESSES)]  # noqa: SIM115
        share = nodes // SIM_PROCESSES
        try:
            t0 = time.perf_counter()
            for i in range(SIM_PROCESSES):
                count = share if i < SIM_PROCESSES - 1 else nodes - share * i
                args = sim_argv(addrs[0], worker_token, stats[i], share * i, count)
                sims.append(
                    subprocess.Popen(
                        [sys.executable, *args], stdout=logs[i], stderr=subprocess.STDOUT, cwd=REPO
                    )
                )
            _wait(
                f"{nodes} sessions",
                lambda: read_stats(stats).get("connected", 0) >= nodes,
                timeout=60 + nodes * 0.5,
                sims=sims,
            )
            result["join_and_connect_s"] = time.perf_counter() - t0
            time.sleep(2.0)  # let the joins' tail settle before the idle window

            before, cpu0, t0 = read_stats(stats), cpu_s(pid), time.perf_counter()
            time.sleep(IDLE_S)
            after, cpu1, elapsed = read_stats(stats), cpu_s(pid), time.perf_counter() - t0
            result["heartbeats_per_s"] = (after["heartbeats"] - before["heartbeats"]) / elapsed
            result["leader_idle_cpu_pct"] = 100 * (cpu1 - cpu0) / elapsed
            result["leader_rss_mb_idle"] = rss_kib(pid) / 1024

            # The Engine API, as any client (Docker's CLI) reaches the swarm.
            api = EngineClient(Endpoint(host=leader.host, path=str(leader.socket)), timeout=30)
            spec = ServiceSpec(
                name="scale",
                container=ContainerSpec(image="busybox", args=("sleep", "3600")),
                replicas=tasks,
            )
            body = service_spec_json(spec)
            peak_rss = rss_kib(pid)
            peaks = {d.name: 0 for d in managers}
            others = {d.name: d.process.pid for d in managers[1:] if d.process is not None}
            others |= {f"sim{i}": proc.pid for i, proc in enumerate(sims)}
            others_cpu0 = {name: cpu_s(other) for name, other in others.items()}
            spy = start_profile(pid, profile, "converging")
            cpu0, t0 = cpu_s(pid), time.perf_counter()
            service_id = api.post("/services/create", body)["ID"]
            filters = json.dumps({"id": {service_id: True}})
            progress: list[tuple[float, int]] = []
            running = 0
            deadline = t0 + (deadline_s or max(120.0, tasks * 0.012))
            poll_s = max(POLL_S, tasks / POLL_TASKS_PER_S)
            rpc_errors = 0
            while time.perf_counter() < deadline:
                peak_rss = max(peak_rss, rss_kib(pid))
                for daemon in managers:
                    assert daemon.process is not None
                    peaks[daemon.name] = max(peaks[daemon.name], rss_kib(daemon.process.pid))
                try:
                    (listed,) = api.get("/services", filters=filters, status="true")
                except (SwarmpyError, ValueError):  # the leader may have moved: keep polling
                    rpc_errors += 1
                    time.sleep(poll_s)
                    continue
                # Current tasks only, on nodes not down (Docker's ServiceStatus).
                running = int(listed["ServiceStatus"]["RunningTasks"])
                progress.append((round(time.perf_counter() - t0, 2), running))
                if running >= tasks:
                    break
                time.sleep(poll_s)
            took = time.perf_counter() - t0
            stop_profile(spy)
            if running >= tasks:
                # What a user would list: every current task RUNNING.
                listed_tasks = api.get(
                    "/tasks", filters=json.dumps({"service": {service_id: True}})
                )
                running = sum(
                    t["Status"]["State"] == "running" and t["DesiredState"] == "running"
                    for t in listed_tasks
                )
            result["all_running_s"] = took if running >= tasks else None
            result["running_at_end"] = running
            result["leader_cpu_s_converging"] = cpu_s(pid) - cpu0
            # Where the rest of the machine's two cores went meanwhile.
            result["others_cpu_s_converging"] = {
                name: round(cpu_s(other) - others_cpu0[name], 1) for name, other in others.items()
            }
            result["leader_rss_mb_peak"] = peak_rss / 1024
            result["leader_rss_mb_after"] = rss_kib(pid) / 1024
            result["progress"] = progress
            result["list_tasks_errors"] = rpc_errors
            result["managers_rss_mb_peak"] = {k: v / 1024 for k, v in peaks.items()}
            result["agent_counts"] = read_stats(stats)
            if result["all_running_s"] is not None:
                result.update(_mass_reconnect(managers, sims, stats, nodes, profile))
        finally:
            for proc in sims:
                proc.terminate()
            for proc in sims:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for log in logs:
                log.close()
            result["leader_elections"] = _log_count(managers, "raft: gained leadership")
            result["nodes_marked_down"] = _log_count(managers, "heartbeats: down")
            result["raft_late_tick_warnings"] = _log_count(managers, "raft: tick thread late")
            result["leader_stalls_credited"] = _log_count(managers, "not counted against")
            result["sessions_told_to_retry"] = _log_count(sims_logs(tmp), "busy registering")
            result["sim_log_tail"] = [
                (Path(tmp) / f"sim{i}.log").read_text(errors="replace")[-400:]
                for i in range(SIM_PROCESSES)
            ]
            if keep_logs is not None:
                keep_logs.mkdir(parents=True, exist_ok=True)
                for daemon in managers:
                    shutil.copy(daemon.log_path, keep_logs / f"{daemon.name}.log")
                for i in range(SIM_PROCESSES):
                    shutil.copy(Path(tmp) / f"sim{i}.log", keep_logs / f"sim{i}.log")
    return result


def figures(doc: dict[str, Any]) -> list[Figure]:
    name = f"control plane, {doc['nodes']:,} sim nodes / {doc['tasks']:,} tasks"
    took = doc["all_running_s"]
    target_s, target_rss_mb = targets(doc["nodes"])
    notes = (
        f"leader idle CPU {doc['leader_idle_cpu_pct']:.0f}% with all nodes connected; "
        f"join+connect {doc['join_and_connect_s']:.0f} s; leader CPU "
        f"{doc['leader_cpu_s_converging']:.1f} s while converging; "
        f"{doc['leader_elections']} leader elections (1 = only the first), "
        f"{doc['nodes_marked_down']} nodes marked down, "
        f"{doc.get('raft_late_tick_warnings', 0)} late-Raft-tick warnings, "
        f"{doc.get('sessions_told_to_retry', 0)} sessions told to retry later"
    )
    if "reconnect_all_s" in doc:
        notes += (
            f"; all {doc['nodes']:,} agents reconnecting at once: back in "
            f"{doc['reconnect_all_s']:.0f} s, {doc['reconnect_elections']} elections, "
            f"{doc['reconnect_nodes_down']} nodes marked down "
            f"({doc.get('reconnect_checks_sparing_nodes', 0)} liveness checks spared nodes "
            "still waiting their turn)"
        )
    out: list[Figure] = []
    if took is None:
        out.append(
            Figure(
                name,
                f"tasks RUNNING at the deadline (of {doc['tasks']:,})",
                Stat.of([doc["running_at_end"]]),
                target=f"all < {target_s:g} s",
                target_met=False,
                note=notes,
                extra=doc,
            )
        )
    else:
        out.append(
            Figure(
                name,
                "s until all RUNNING",
                Stat.of([took]),
                target=f"< {target_s:g} s",
                target_met=took < target_s,
                higher_is_better=False,
                fmt="{:,.1f}",
                note=notes,
                extra=doc,
            )
        )
        out.append(Figure(name, "tasks/s to RUNNING", Stat.of([doc["tasks"] / took])))
    rss = doc["leader_rss_mb_peak"]
    out.append(
        Figure(
            name,
            "MiB leader RSS, peak",
            Stat.of([rss]),
            target=f"< {target_rss_mb:g} MB",
            target_met=rss * 1.048576 < target_rss_mb,
            higher_is_better=False,
            fmt="{:,.1f}",
            note=f"at start {doc['leader_rss_mb_start']:.1f}, nodes connected "
            f"{doc['leader_rss_mb_idle']:.1f}, after {doc['leader_rss_mb_after']:.1f} MiB",
        )
    )
    out.append(
        Figure(
            name,
            "heartbeats/s answered (idle)",
            Stat.of([doc["heartbeats_per_s"]]),
            fmt="{:,.0f}",
            note=f"leader at {doc['leader_idle_cpu_pct']:.0f}% of one core meanwhile",
        )
    )
    return out


def run(
    quick: bool = False,
    nodes: int | None = None,
    tasks: int | None = None,
    keep_logs: Path | None = None,
    profile: Path | None = None,
    deadline_s: float | None = None,
) -> list[Figure]:
    if os.geteuid() != 0:
        return [skipped("scale", "needs root (the daemons)")]
    nodes = nodes or (200 if quick else 1000)
    tasks = tasks or nodes * 10
    return figures(measure(nodes, tasks, keep_logs, profile, deadline_s))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 nodes, 2,000 tasks")
    parser.add_argument("--nodes", type=int, default=0)
    parser.add_argument("--tasks", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the raw measurement here")
    parser.add_argument("--logs", type=Path, help="copy the managers' and simulators' logs here")
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy the leader while converging and reconnecting, into this folder",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        help="seconds to wait for all RUNNING (default: 120 s or 12 ms a task, the longer)",
    )
    args = parser.parse_args()
    result = run(
        args.quick, args.nodes or None, args.tasks or None, args.logs, args.profile, args.deadline
    )
    print_figures(result)
    if args.json:
        args.json.write_text(json.dumps([f.to_json() for f in result], indent=2) + "\n")


if __name__ == "__main__":
    os.chdir(REPO)
    main()
