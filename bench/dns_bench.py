"""Benchmark: swarmpy's embedded DNS against dnsmasq, same record, same client, same run.

    python bench/dns_bench.py [--json out.json] [--seconds 5] [--runs 3]
    python bench/dns_bench.py --lab [--json out.json] [--seconds 3] [--runs 3]

dnsperf (2 clients, 20 queries outstanding each, one A query) against each server for the
given time; every figure is the worst of ``--runs`` runs, ours and dnsmasq's taking turns,
and the ratio ours/dnsmasq is the worst against the worst. Needs root, dnsperf and dnsmasq.

Without ``--lab``: a DnsServer in this process serves 127.0.0.11:53 in a namespace of its own,
dnsmasq serves the same record in another; both resolver loop modes (its own process, a
thread) are measured with the process idle and while a thread of it spins in Python, which
is what the daemon's own work does to the GIL. Latency percentiles come from a separate,
per-query verbose run (printing every query slows dnsperf down).

With ``--lab``: a 3-host lab (node1 manager, node2 and node3 workers); a 1-replica service
``dnsclient`` on an overlay network, pinned to node1 (the manager, the busiest daemon); dnsperf
runs inside its task's network namespace against 127.0.0.11 (node1's daemon) and against a
dnsmasq started in that same namespace on 127.0.0.12, answering ``dnsclient`` with the same
VIP. "alone": nothing else happens in the swarm. "converging": each run starts with
``CreateService`` of 60 replicas on the same network (spread over the 3 hosts), dnsperf runs
at once for the given time while they converge, and the service is removed (and its
containers gone) before the next run.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from swarmpy.dns.fastloop import Mode, raise_priority
from swarmpy.dns.server import DnsServer
from swarmpy.model import (
    EndpointMode,
    NetworkView,
    ServiceEndpoint,
    TaskState,
    VirtualIP,
)

NAME = "myservice"
ADDR = "10.0.0.2"
NETWORK = "bench-net"
DNS_ADDR = "127.0.0.11"
DNSMASQ_ADDR = "127.0.0.12"  # beside ours in the same namespace (lab)
CLIENTS, OUTSTANDING = 2, 20
CONVERGE_REPLICAS = 60
# dnsperf with -v prints one line per query ending in its latency in seconds.
_VERBOSE_LINE = re.compile(rb"^> \S+ .* (\d+\.\d+)$", re.M)
_QPS = re.compile(r"Queries per second:\s+([\d.]+)")
_LOST = re.compile(r"Queries lost:\s+(\d+)")
_AVG = re.compile(r"Average Latency \(s\):\s+([\d.]+)")


@dataclass(frozen=True)
class Result:
    server: str
    answers_per_s: float
    queries_lost: int
    avg_latency_ms: float
    p99_latency_ms: float | None = None


@dataclass(frozen=True)
class Case:
    """The worst of several runs of one server under one condition, and all the rates."""

    server: str
    condition: str
    worst: Result
    rates: tuple[float, ...]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def dnsmasq_argv(ns: str, listen: str, name: str, addr: str) -> list[str]:
    """dnsmasq, to be started in a session of its own and given the priority our resolver
    loop gives itself (``raise_priority``), so the ratio compares the two servers, not
    their scheduling."""
    return [
        *("ip", "netns", "exec", ns, shutil.which("dnsmasq") or "dnsmasq", "--no-daemon"),
        *("--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--pid-file=", "--user=root"),
        *("--bind-interfaces", f"--listen-address={listen}", f"--address=/{name}/{addr}"),
    ]


def dnsperf(ns: str, server: str, queries: Path, seconds: float, verbose: bool = False) -> bytes:
    # The report goes to a file, not a pipe: reading a pipe would steal time from a server
    # running in this very process.
    report = queries.with_suffix(f".{secrets.token_hex(3)}.out")
    with report.open("wb") as out:
        argv = ["ip", "netns", "exec", ns, "dnsperf", "-s", server, "-d", str(queries)]
        argv += ["-l", str(seconds), "-t", "2", "-c", str(CLIENTS), "-q", str(OUTSTANDING)]
        proc = subprocess.run(
            [*argv, *(("-v",) if verbose else ())],
            stdout=out,
            stderr=subprocess.PIPE,
            check=False,
        )
    if proc.returncode != 0:
        raise SystemExit(f"dnsperf failed: {proc.stderr.decode().strip()}")
    data = report.read_bytes()
    report.unlink()
    return data


def read_report(server: str, report: bytes, verbose: bytes | None = None) -> Result:
    text = report.decode()
    qps, lost, avg = _QPS.search(text), _LOST.search(text), _AVG.search(text)
    if qps is None or avg is None:
        raise SystemExit(f"cannot read dnsperf's report:\n{text[-2000:]}")
    p99 = None
    if verbose is not None:
        latencies = sorted(float(m) for m in _VERBOSE_LINE.findall(verbose))
        if latencies:
            p99 = 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return Result(
        server=server,
        answers_per_s=float(qps.group(1)),
        queries_lost=int(lost.group(1)) if lost else 0,
        avg_latency_ms=1000 * float(avg.group(1)),
        p99_latency_ms=p99,
    )


def worst(server: str, condition: str, results: list[Result]) -> Case:
    return Case(
        server,
        condition,
        min(results, key=lambda r: r.answers_per_s),
        tuple(r.answers_per_s for r in results),
    )


def ratio(cases: list[Case], ours: str, condition: str) -> float:
    by = {(c.server, c.condition): c.worst.answers_per_s for c in cases}
    return by[(ours, condition)] / by[("dnsmasq", condition)]


def print_cases(cases: list[Case], ratios: dict[str, float]) -> None:
    print(f"{'server':<16} {'condition':<11} {'worst/s':>9} {'lost':>6} {'avg ms':>7}  runs/s")
    for c in cases:
        runs = ", ".join(f"{r:,.0f}" for r in c.rates)
        print(
            f"{c.server:<16} {c.condition:<11} {c.worst.answers_per_s:>9,.0f} "
            f"{c.worst.queries_lost:>6} {c.worst.avg_latency_ms:>7.3f}  {runs}"
        )
    for what, value in ratios.items():
        print(f"ours/dnsmasq {what}: {value:.2f}")


# ---- without a lab: a DnsServer in this process ----


@contextmanager
def netns(name: str) -> Iterator[str]:
    """A namespace with lo up; plain setup, done before anything is measured."""
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "set", "lo", "up")
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def ours(mode: Mode) -> Callable[[str], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def serve(ns: str) -> AsyncIterator[None]:
        with netns(ns) as path:
            server = DnsServer(upstreams=[], resolv_conf=None, mode=mode)
            try:
                server.update(
                    NetworkView(
                        services=(
                            ServiceEndpoint(
                                "bench-svc",
                                NAME,
                                EndpointMode.VIP,
                                (VirtualIP(NETWORK, f"{ADDR}/24"),),
                            ),
                        )
                    )
                )
                await server.add_container("bench", path, [NETWORK])
                yield
            finally:
                await server.close()

    return serve


@asynccontextmanager
async def dnsmasq(ns: str) -> AsyncIterator[None]:
    with netns(ns):
        proc = await asyncio.create_subprocess_exec(
            *dnsmasq_argv(ns, DNS_ADDR, NAME, ADDR),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        raise_priority(proc.pid)
        try:
            await asyncio.sleep(0.3)  # dnsmasq binds within milliseconds
            if proc.returncode is not None:
                raise SystemExit("dnsmasq did not start")
            yield
        finally:
            proc.terminate()
            await proc.wait()


@contextmanager
def busy_interpreter(busy: bool) -> Iterator[None]:
    """A thread of this process spinning in Python, holding the GIL as the daemon's work
    does (sessions, Raft, controllers), for as long as the block runs."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    thread = threading.Thread(target=spin, daemon=True)
    if busy:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if busy:
            thread.join()


async def measure_once(
    name: str,
    serve: Callable[[str], AbstractAsyncContextManager[None]],
    ns: str,
    queries: Path,
    seconds: float,
    busy: bool,
) -> Result:
    """Throughput from a plain run, latency percentiles from a verbose one."""
    async with serve(ns):
        with busy_interpreter(busy):
            report = await asyncio.to_thread(dnsperf, ns, DNS_ADDR, queries, seconds)
            verbose = await asyncio.to_thread(
                dnsperf, ns, DNS_ADDR, queries, max(1.0, seconds / 2), True
            )
    return read_report(name, report, verbose)


async def standalone(seconds: float, runs: int) -> dict[str, Any]:
    prefix = "sb" + secrets.token_hex(3)
    servers: dict[str, Callable[[str], AbstractAsyncContextManager[None]]] = {
        "swarmpy-process": ours(Mode.PROCESS),
        "swarmpy-thread": ours(Mode.THREAD),
        "dnsmasq": dnsmasq,
    }
    results: dict[tuple[str, str], list[Result]] = {}
    with tempfile.TemporaryDirectory(prefix="dnsbench") as tmp:
        queries = Path(tmp) / "queries"
        queries.write_text(f"{NAME} A\n")
        for r in range(runs):
            names = list(servers)
            for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order
                for condition, busy in (("idle", False), ("busy", True)):
                    got = await measure_once(
                        name, servers[name], f"{prefix}{r}{len(results)}", queries, seconds, busy
                    )
                    results.setdefault((name, condition), []).append(got)
    cases = [worst(s, c, rs) for (s, c), rs in results.items()]
    cases.sort(key=lambda c: (c.condition, c.server))
    ratios = {
        f"{s.removeprefix('swarmpy-')} {c}": ratio(cases, s, c)
        for c in ("idle", "busy")
        for s in ("swarmpy-process", "swarmpy-thread")
    }
    print_cases(cases, ratios)
    by = {(c.server, c.condition): c for c in cases}
    return {
        # What bench/run.py reads: the daemon's default (the process loop), process idle.
        "results": [
            asdict(replace_server(by[("swarmpy-process", "idle")].worst, "swarmpy")),
            asdict(by[("dnsmasq", "idle")].worst),
        ],
        "ratio_ours_to_dnsmasq": ratios["process idle"],
        "ratios": ratios,
        "cases": [asdict(c) for c in cases],
    }


def replace_server(result: Result, server: str) -> Result:
    return Result(server, *list(asdict(result).values())[1:])


# ---- in a lab: dnsperf inside a task, against the daemon that serves it ----


def lab(seconds: float, runs: int) -> dict[str, Any]:
    import dns.message
    import dns.query

    from bench.labkit import NotReady, daemon_pid, missing_prerequisites, swarm_lab
    from swarmpy.netns import call_in_netns, netns_path

    why = missing_prerequisites(("dnsperf",))
    if why:
        raise SystemExit(why)
    with swarm_lab(3) as swarm, tempfile.TemporaryDirectory(prefix="dnsbench") as tmp:
        node1 = swarm.manager
        net = swarm.api.create_network("dnsbench")
        client = swarm.api.create_service(
            "dnsclient", 1, networks=[net], constraints=[f"node.hostname=={node1.name}"]
        )
        deadline = time.monotonic() + 120
        while not (
            tasks := [
                t for t in swarm.api.tasks(client) if t.status.state == TaskState.RUNNING.value
            ]
        ):
            if time.monotonic() > deadline:
                raise NotReady("the dnsclient task did not start within 120 s")
            time.sleep(0.2)
        ns = f"{node1.daemon_prefix}-{tasks[0].id[:12]}"
        query = dns.message.make_query("dnsclient", "A")
        reply = call_in_netns(netns_path(ns), lambda: dns.query.udp(query, DNS_ADDR, timeout=2.0))
        vip = reply.answer[0][0].to_text()
        queries = Path(tmp) / "queries"
        queries.write_text("dnsclient A\n")
        proc = subprocess.Popen(
            dnsmasq_argv(ns, DNSMASQ_ADDR, "dnsclient", vip),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        raise_priority(proc.pid)
        servers = {"swarmpy": DNS_ADDR, "dnsmasq": DNSMASQ_ADDR}
        results: dict[tuple[str, str], list[Result]] = {}
        converge_s: list[float | None] = []
        # Per run, the server process's CPU time and time runnable but waiting for a CPU.
        sched: dict[str, list[dict[str, Any]]] = {}
        try:
            time.sleep(0.3)
            pids = {"swarmpy": resolver_pid(daemon_pid(node1)), "dnsmasq": proc.pid}
            for server in servers.values():  # warm-up, not counted
                dnsperf(ns, server, queries, 1.0)
            for condition in ("alone", "converging"):
                for r in range(runs):
                    order = list(servers) if r % 2 == 0 else list(reversed(servers))
                    for name in order:
                        run = functools.partial(dnsperf, ns, servers[name], queries, seconds)
                        before = schedstat(pids[name])
                        if condition == "alone":
                            report = run()
                        else:
                            report, took = while_converging(swarm, net, run)
                            converge_s.append(took)
                        after = schedstat(pids[name])
                        sched.setdefault(f"{name} {condition}", []).append(
                            {
                                "cpu_ms": after[0] - before[0],
                                "runqueue_wait_ms": after[1] - before[1],
                            }
                        )
                        results.setdefault((name, condition), []).append(read_report(name, report))
        finally:
            proc.terminate()
            proc.wait()
    cases = [worst(s, c, rs) for (s, c), rs in results.items()]
    ratios = {c: ratio(cases, "swarmpy", c) for c in ("alone", "converging")}
    print_cases(cases, ratios)
    print(f"60 replicas converged in (s, per converging run): {converge_s}")
    for what, got in sched.items():
        print(f"{what}: cpu/runqueue-wait ms per run: {got}")
    return {
        "lab": True,
        "sched": sched,
        "cases": [asdict(c) for c in cases],
        "ratios": ratios,
        "converge_s": converge_s,
        "client_netns": ns,
    }


def schedstat(pid: int | None) -> tuple[float, float]:
    """(ms on a CPU, ms runnable but waiting for one) of a process's main thread so far."""
    if pid is None:
        return 0.0, 0.0
    run_ns, wait_ns, _slices = Path(f"/proc/{pid}/schedstat").read_text().split()
    return int(run_ns) / 1e6, int(wait_ns) / 1e6


def resolver_pid(daemon: int | None) -> int | None:
    """The resolver loop helper process of the daemon ``daemon``."""
    if daemon is None:
        return None
    for child in Path(f"/proc/{daemon}/task/{daemon}/children").read_text().split():
        if b"swarmpy.dns.fastloop" in Path(f"/proc/{child}/cmdline").read_bytes():
            return int(child)
    return None


def running_tasks(swarm: Any, service: str) -> list[Any]:
    return [t for t in swarm.api.tasks(service) if t.status.state == TaskState.RUNNING]


def while_converging(
    swarm: Any, net: str, measure: Callable[[], bytes]
) -> tuple[bytes, float | None]:
    """``measure`` run right after creating a 60-replica service on ``net``; the time the
    service took to converge (None if not within 120 s), the service gone afterwards."""
    started = time.monotonic()
    service = swarm.api.create_service(
        "churn" + secrets.token_hex(2), CONVERGE_REPLICAS, networks=[net]
    )
    converged: list[float] = []

    def watch() -> None:
        while time.monotonic() < started + 120:
            if len(running_tasks(swarm, service)) >= CONVERGE_REPLICAS:
                converged.append(time.monotonic() - started)
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        report = measure()
    finally:
        watcher.join()
        swarm.api.remove_service(service)
        wait_containers(swarm, 1)
    return report, converged[0] if converged else None


def wait_containers(swarm: Any, left: int, timeout: float = 180.0) -> None:
    """Until only ``left`` containers (the client) are there on all hosts together."""
    deadline = time.monotonic() + timeout
    while sum(len(swarm.containers(h)) for h in swarm.hosts) > left:
        if time.monotonic() > deadline:
            raise SystemExit(f"containers still there {timeout:g} s after removal")
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--seconds", type=float, help="per run (default 5, 3 with --lab)")
    parser.add_argument("--runs", type=int, default=3, help="runs per case; the worst counts")
    parser.add_argument("--lab", action="store_true", help="inside a task on a 3-host lab")
    args = parser.parse_args()
    for tool in ("dnsperf", "dnsmasq"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    started = time.time()
    with open("/proc/loadavg") as f:
        load_before = f.read().split()[0]
    if args.lab:
        from bench.labkit import NotReady

        seconds = args.seconds or 3.0
        try:
            doc = lab(seconds, args.runs)
        except NotReady as exc:
            raise SystemExit(f"lab not ready: {exc}") from None
    else:
        seconds = args.seconds or 5.0
        doc = asyncio.run(standalone(seconds, args.runs))
    with open("/proc/loadavg") as f:
        load_after = f.read().split()[0]
    print(f"load average before/after: {load_before}/{load_after}")
    doc.update(
        started_at=started,
        seconds=seconds,
        runs=args.runs,
        clients=CLIENTS,
        outstanding=OUTSTANDING,
        load_average=[float(load_before), float(load_after)],
    )
    if args.json is not None:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
