"""Benchmark: the routing mesh, from a node without a task, against the task's own address.

    python bench/mesh_bench.py [--quick]

A 3-host lab (``swarmpy.lab.manage.up``) and one service of one task pinned to node1
(``busybox httpd`` serving a 1 KiB file on port 80, published as 8080; an iperf3 server
started inside the task's namespace on 5201, published as 5201). The client runs on node3,
which runs no task:

- through the mesh: in node3's host namespace, to node3's own address on the published port
  (node3's port rule, its ingress sandbox's balancing and masquerade, VXLAN to node1, the
  task);
- straight: the same client in node3's ingress sandbox (already on the ingress overlay), to
  the task's ingress address and its target port (VXLAN to node1, the task; no translation).

Requests/s: a Python client of 4 threads, each a new TCP connection per HTTP/1.0 GET (so
every request pays the connection setup the NAT rules see), 3 s (2 s quick). Throughput:
iperf3, one TCP stream, 3 s (2 s quick). 5 rounds (3 quick) after a warm-up, the two paths
taking turns; medians. Target: mesh >= 0.8 x straight for both.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure, Stat, print_figures, skipped
from bench.labkit import NotReady, SwarmLab, daemon_log_tail, missing_prerequisites, swarm_lab

TARGET_RATIO = 0.8
RUNNING = 512  # swarmpy.model.TaskState.RUNNING
HTTP_PORT, IPERF_PORT = 8080, 5201
HTTPD = "mkdir -p /www && head -c 1024 /dev/zero > /www/index.html && exec httpd -f -p 80 -h /www"
THREADS = 4
RETRANSMITS: dict[str, list[int]] = {}  # client netns -> per iperf3 run

# The request loop, run with the host's interpreter inside the client's namespace.
CLIENT = r"""
import socket, sys, threading, time
ip, port, seconds, threads = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
counts = [0] * threads
errors = [0] * threads
stop = time.perf_counter() + seconds
def loop(i):
    while time.perf_counter() < stop:
        try:
            with socket.create_connection((ip, port), timeout=5) as s:
                s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                while s.recv(65536):
                    pass
            counts[i] += 1
        except OSError:
            errors[i] += 1
ts = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
t0 = time.perf_counter()
for t in ts: t.start()
for t in ts: t.join()
print(sum(counts) / (time.perf_counter() - t0), sum(errors))
"""


@dataclass(frozen=True)
class Path_:
    netns: str  # where the client runs
    addr: str
    http_port: int
    iperf_port: int


def _in(netns: str, argv: list[str]) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{netns}", *argv]


def requests_per_s(path: Path_, seconds: float) -> float:
    client = [sys.executable, "-c", CLIENT, path.addr, str(path.http_port), f"{seconds:g}"]
    done = subprocess.run(
        _in(path.netns, [*client, str(THREADS)]),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    if done.returncode != 0:
        raise NotReady(f"http client in {path.netns}: {done.stderr.strip()[-300:]}")
    rate, errors = done.stdout.split()
    if int(errors):
        raise NotReady(f"http client in {path.netns}: {errors} failed requests")
    return float(rate)


def iperf_gbit(server_netns: str, path: Path_, seconds: float) -> float:
    """One iperf3 run, one TCP stream; the server (in the task) serves once."""
    srv = subprocess.Popen(
        _in(server_netns, ["iperf3", "-s", "-1", "-p", str(IPERF_PORT)]),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        doc: dict[str, Any] = {}
        for _ in range(30):  # until the server listens
            time.sleep(0.1)
            argv = ["iperf3", "-c", path.addr, "-p", str(path.iperf_port), "-t", f"{seconds:g}"]
            done = subprocess.run(
                _in(path.netns, [*argv, "-J"]), capture_output=True, text=True, timeout=seconds + 30
            )
            doc = json.loads(done.stdout or "{}")
            if "error" not in doc and "end" in doc:
                break
        if "end" not in doc:
            raise NotReady(f"iperf3 {path.netns} -> {path.addr}: {doc.get('error', 'no output')}")
        end = doc["end"]
        RETRANSMITS.setdefault(path.netns, []).append(int(end["sum_sent"].get("retransmits", 0)))
        return float(end["sum_received"]["bits_per_second"]) / 1e9
    finally:
        try:
            srv.wait(timeout=5)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()


def _service(swarm: SwarmLab) -> str:
    from swarmpy.dockerjson.service import service_spec_json
    from swarmpy.model import ContainerSpec, PortConfig, ServiceSpec

    spec = ServiceSpec(
        name="mesh",
        container=ContainerSpec(image="busybox", args=("sh", "-c", HTTPD), stop_grace_s=1.0),
        constraints=(f"node.hostname=={swarm.hosts[0].name}",),
        ports=(PortConfig(80, HTTP_PORT), PortConfig(IPERF_PORT, IPERF_PORT)),
    )
    return str(swarm.api.engine.post("/services/create", service_spec_json(spec))["ID"])


def _running_task(swarm: SwarmLab, service: str) -> Any:
    deadline = time.monotonic() + 120
    while True:
        running = [t for t in swarm.api.tasks(service) if t.status.state == RUNNING]
        if running:
            return running[0]
        if time.monotonic() > deadline:
            raise NotReady("the mesh service's task did not run within 120 s")
        time.sleep(0.2)


def _measure(swarm: SwarmLab, rounds: int, seconds: float) -> list[Figure]:
    node1, _node2, node3 = swarm.hosts[:3]
    task = _running_task(swarm, _service(swarm))
    task_netns = f"{node1.daemon_prefix}-{task.id[:12]}"
    task_ip = task.networks[-1].addresses[0].split("/")[0]  # its leg on ingress
    paths = {
        "mesh": Path_(node3.netns, node3.ip, HTTP_PORT, IPERF_PORT),
        "straight": Path_(f"{node3.daemon_prefix}-ingress_sbox", task_ip, 80, IPERF_PORT),
    }
    deadline = time.monotonic() + 60
    while True:  # until the mesh answers on node3 (the view reached it), then warm up
        try:
            for path in paths.values():
                requests_per_s(path, 0.5)
                iperf_gbit(task_netns, path, 1.0)
            break
        except NotReady:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    rps: dict[str, list[float]] = {k: [] for k in paths}
    gbit: dict[str, list[float]] = {k: [] for k in paths}
    for r in range(rounds):
        kinds = list(paths) if r % 2 == 0 else list(reversed(paths))
        for kind in kinds:
            rps[kind].append(requests_per_s(paths[kind], seconds))
            gbit[kind].append(iperf_gbit(task_netns, paths[kind], seconds))
    note = (
        f"client on node3 (no task), task on node1; {rounds} runs of {seconds:g} s; "
        "straight = from node3's ingress sandbox to the task's ingress address"
    )
    figures = []
    for name, unit, samples, fmt in (
        ("requests", f"HTTP/1.0 GETs/s ({THREADS} threads, a connection each)", rps, "{:,.0f}"),
        ("throughput", "Gbit/s (iperf3, 1 stream)", gbit, "{:.2f}"),
    ):
        ours, base = Stat.of(samples["mesh"]), Stat.of(samples["straight"])
        figures.append(
            Figure(
                f"routing mesh {name}, node without a task",
                unit,
                ours,
                "same client straight to the task",
                base,
                target=f"ratio >= {TARGET_RATIO:g}",
                target_met=ours.median / base.median >= TARGET_RATIO,
                fmt=fmt,
                note=note,
                extra={"mesh": samples["mesh"], "straight": samples["straight"]},
            )
        )
    return figures


def run(quick: bool = False) -> list[Figure]:
    why = missing_prerequisites(("iperf3",))
    if why:
        return [skipped("mesh", why)]
    rounds, seconds = (3, 2.0) if quick else (5, 3.0)
    try:
        with swarm_lab(3) as swarm:
            try:
                return _measure(swarm, rounds, seconds)
            except NotReady as exc:
                tail = daemon_log_tail(swarm.manager)
                last = f" (manager daemon log: {tail})" if tail else ""
                return [skipped("mesh", f"{exc}{last}")]
    except NotReady as exc:
        return [skipped("mesh", str(exc))]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print_figures(run(args.quick))
