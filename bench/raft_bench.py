"""Benchmark: committed writes/s and commit latency of our Store over RaftLog, 3 managers.

    python bench/raft_bench.py [--quick]

Three managers on 127.0.0.1, each in its own process (bench/raft_node.py). One writer on the
leader commits writes one after another: each a ``Store.update`` that creates a Task built
like the orchestrator builds it. The baseline, in the same run: a bare pysyncobj ``SyncObj``
with one replicated counter, same settings (``raft.settings()``: appendEntriesUseBatch=False,
password, journal, dump...), same number of sequential writes, same future hand-off. The
ratio is what our store adds. Both clusters stay up and runs alternate between them, after
a warm-up of 200 writes each. If Debian's etcd is installed, 3 etcd members on loopback are
measured too, with a sequential loop of HTTP/JSON puts over one keep-alive connection.
Writes made on a follower (pysyncobj forwards them to the leader) are measured as well.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure, Stat, percentile, print_figures, skipped
from bench.etcd import etcd_available, etcd_cluster, etcd_writes
from bench.raft_node import Cluster


def _run_writes(member: Any, n: int) -> tuple[float, list[float]]:
    reply = member.call("write", n=n)
    return n / reply["elapsed"], reply["latencies"]


def run(quick: bool = False) -> list[Figure]:
    n, runs = (300, 3) if quick else (1000, 5)
    results: dict[str, tuple[list[float], list[float], list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="raftbench-") as tmp:
        with (
            Cluster("store", Path(tmp) / "store") as ours,
            Cluster("syncobj", Path(tmp) / "syncobj") as bare,
        ):
            leaders = {"store": ours.wait_leader(10), "syncobj": bare.wait_leader(10)}
            follower = next(m for m in ours.members if m is not leaders["store"])
            forwarded: tuple[list[float], list[float]] = ([], [])
            for leader in leaders.values():
                _run_writes(leader, 200)  # warm-up
            for name in leaders:
                results[name] = ([], [], [])
            for _ in range(runs):
                for name, leader in leaders.items():
                    rate, lat = _run_writes(leader, n)
                    rates, p50s, p99s = results[name]
                    rates.append(rate)
                    p50s.append(1000 * statistics.median(lat))
                    p99s.append(1000 * percentile(lat, 0.99))
                rate, lat = _run_writes(follower, n)
                forwarded[0].append(rate)
                forwarded[1].append(1000 * statistics.median(lat))
            # pysyncobj's "state machine may have diverged" warning, seen on followers.
            warnings = {
                name: c.warnings("truncating already-applied log entries")
                for name, c in (("store", ours), ("syncobj", bare))
            }
        etcd: list[float] | None = None
        etcd_note = ""
        if etcd_available():
            try:
                with etcd_cluster(Path(tmp) / "etcd") as endpoint:
                    etcd_writes(endpoint, 200)
                    etcd = [etcd_writes(endpoint, n)[0] for _ in range(runs)]
            except Exception as exc:  # optional: a broken etcd loses its row  # noqa: BLE001
                etcd_note = f"etcd failed: {exc}"
        else:
            etcd_note = "Debian etcd-server not installed"

    o, b = results["store"], results["syncobj"]
    # Runs in order: our rate falling run after run means a write costs more as the
    # store grows (Store.update copies every table into its snapshot).
    extra = {
        "writes_per_run": n,
        "warnings": warnings,
        "rates_in_order": {k: v[0] for k, v in results.items()},
    }
    figures = [
        Figure(
            "raft store, 3 managers",
            "committed updates/s",
            Stat.of(o[0]),
            "bare pysyncobj counter",
            Stat.of(b[0]),
            target="ratio = overhead of our store",
            note=(
                "pysyncobj 'state machine may have diverged' warnings on followers: "
                f"ours {warnings['store']}, bare {warnings['syncobj']}"
            ),
            extra=extra,
        ),
        Figure(
            "raft store, 3 managers",
            "p50 commit ms",
            Stat.of(o[1]),
            "bare pysyncobj counter",
            Stat.of(b[1]),
            higher_is_better=False,
            fmt="{:.2f}",
            extra=extra,
        ),
        Figure(
            "raft store, 3 managers",
            "p99 commit ms",
            Stat.of(o[2]),
            "bare pysyncobj counter",
            Stat.of(b[2]),
            higher_is_better=False,
            fmt="{:.2f}",
            extra=extra,
        ),
        Figure(
            "raft store, 3 managers, writes on a follower",
            "committed updates/s",
            Stat.of(forwarded[0]),
            "the same writes on the leader",
            Stat.of(o[0]),
            note="forwarded to the leader by pysyncobj; p50 "
            + Stat.of(forwarded[1]).show("{:.2f}")
            + " ms",
            extra=extra,
        ),
    ]
    if etcd:
        figures.append(
            Figure(
                "raft store vs etcd 3.4",
                "committed updates/s",
                Stat.of(o[0]),
                "etcd, 3 members, HTTP/JSON puts",
                Stat.of(etcd),
                note="etcd fsyncs every commit; we do not",
                extra=extra,
            )
        )
    else:
        figures.append(skipped("raft store vs etcd 3.4", etcd_note))
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print_figures(run(parser.parse_args().quick))
