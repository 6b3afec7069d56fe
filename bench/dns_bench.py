"""Benchmark: swarmpy's embedded DNS against dnsmasq, same record, same client, same run.

    python bench/dns_bench.py [--json out.json] [--seconds 5]

Each server listens at 127.0.0.11:53 in a namespace of its own, answering ``myservice`` with
10.0.0.2; dnsperf runs inside that namespace for the given time. Prints answers/s, average
and p99 latency, and the ratio ours/dnsmasq. Needs root, dnsperf and dnsmasq.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from swarmpy.dns.server import DnsServer
from swarmpy.model import (
    EndpointMode,
    NetworkView,
    ServiceEndpoint,
    VirtualIP,
)

NAME = "myservice"
ADDR = "10.0.0.2"
NETWORK = "bench-net"
# dnsperf with -v prints one line per query ending in its latency in seconds.
_VERBOSE_LINE = re.compile(rb"^> \S+ .* (\d+\.\d+)$", re.M)
_QPS = re.compile(r"Queries per second:\s+([\d.]+)")
_LOST = re.compile(r"Queries lost:\s+(\d+)")


@dataclass(frozen=True)
class Result:
    server: str
    answers_per_s: float
    queries_lost: int
    avg_latency_ms: float
    p99_latency_ms: float


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextmanager
def netns(name: str) -> Iterator[str]:
    """A namespace with lo up; plain setup, done before anything is measured."""
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "set", "lo", "up")
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@asynccontextmanager
async def ours(ns: str) -> AsyncIterator[None]:
    with netns(ns) as path:
        server = DnsServer(upstreams=[], resolv_conf=None)
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


@asynccontextmanager
async def dnsmasq(ns: str) -> AsyncIterator[None]:
    with netns(ns):
        proc = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", ns, shutil.which("dnsmasq") or "dnsmasq", "--no-daemon"),
            *("--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--pid-file=", "--user=root"),
            *("--bind-interfaces", "--listen-address=127.0.0.11", f"--address=/{NAME}/{ADDR}"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await asyncio.sleep(0.3)  # dnsmasq binds within milliseconds
            if proc.returncode is not None:
                raise SystemExit("dnsmasq did not start")
            yield
        finally:
            proc.terminate()
            await proc.wait()


async def dnsperf(ns: str, queries: Path, seconds: float, verbose: bool) -> bytes:
    # The report goes to a file, not a pipe: reading a pipe would steal time from our
    # server's event loop, which runs in this very process.
    report = queries.with_suffix(".out")
    with report.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", ns, "dnsperf", "-s", "127.0.0.11"),
            *("-d", str(queries), "-l", str(seconds), "-t", "2"),
            *(("-v",) if verbose else ()),
            stdout=out,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"dnsperf failed: {err.decode().strip()}")
    return report.read_bytes()


async def measure(
    name: str,
    serve: Callable[[str], AbstractAsyncContextManager[None]],
    ns: str,
    queries: Path,
    seconds: float,
) -> Result:
    """Throughput from a plain run; latency percentiles from a second, per-query verbose run
    (printing every query slows dnsperf down, which would understate throughput)."""
    async with serve(ns):
        report = (await dnsperf(ns, queries, seconds, verbose=False)).decode()
        verbose = await dnsperf(ns, queries, max(1.0, seconds / 2), verbose=True)
    latencies = sorted(float(m) for m in _VERBOSE_LINE.findall(verbose))
    qps = _QPS.search(report)
    lost = _LOST.search(report)
    if qps is None or not latencies:
        raise SystemExit(f"cannot read dnsperf's report:\n{report[-2000:]}")
    return Result(
        server=name,
        answers_per_s=float(qps.group(1)),
        queries_lost=int(lost.group(1)) if lost else 0,
        avg_latency_ms=1000 * sum(latencies) / len(latencies),
        p99_latency_ms=1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    )


async def main(seconds: float, json_out: Path | None) -> None:
    prefix = "sb" + secrets.token_hex(3)
    with tempfile.TemporaryDirectory(prefix="dnsbench") as tmp:
        queries = Path(tmp) / "queries"
        queries.write_text(f"{NAME} A\n")
        started = time.time()
        results = [
            await measure("swarmpy", ours, prefix + "o", queries, seconds),
            await measure("dnsmasq", dnsmasq, prefix + "d", queries, seconds),
        ]
    ratio = results[0].answers_per_s / results[1].answers_per_s
    print(f"{'server':<8} {'answers/s':>10} {'lost':>6} {'avg ms':>8} {'p99 ms':>8}")
    for r in results:
        print(
            f"{r.server:<8} {r.answers_per_s:>10.0f} {r.queries_lost:>6} "
            f"{r.avg_latency_ms:>8.3f} {r.p99_latency_ms:>8.3f}"
        )
    print(f"ours/dnsmasq: {ratio:.2f}")
    if json_out is not None:
        doc = {
            "started_at": started,
            "seconds": seconds,
            "results": [asdict(r) for r in results],
            "ratio_ours_to_dnsmasq": ratio,
        }
        await asyncio.to_thread(json_out.write_text, json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--seconds", type=float, default=5.0, help="per server (default 5)")
    args = parser.parse_args()
    for tool in ("dnsperf", "dnsmasq"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    asyncio.run(main(args.seconds, args.json))
