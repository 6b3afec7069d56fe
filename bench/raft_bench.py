"""Benchmark: committed writes/s and commit latency of our Store over RaftLog, 3 managers.

    python bench/raft_bench.py [--quick]

Three managers on 127.0.0.1, each in its own process (bench/raft_node.py). One writer on the
leader commits writes one after another: each a ``Store.update`` that creates a Task built
like the orchestrator builds it, acknowledged only once the leader's journal and a majority's
are synced (docs/raft.md, "Durability"). The baselines, in the same run:

- a bare patched pysyncobj ``SyncObj`` with one replicated counter, same settings and the
  same durable journal, same number of sequential writes, same future hand-off: the ratio is
  what our store adds;
- if Debian's etcd is installed (``apt-get install etcd-server``; skipped otherwise), 3 etcd
  members on loopback, fsyncing as they do by default, with a sequential loop of HTTP/JSON
  puts over one keep-alive connection: the target is at least etcd's rate.

Writes made on a follower (pysyncobj forwards them to the leader) are measured as well, and
16 concurrent writers on the leader (and on etcd), where group commit counts: one sync and
one message per follower for all the entries a tick appends. All clusters stay up and runs
alternate between them, after a warm-up of 200 writes each.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure, Stat, percentile, print_figures, skipped
from bench.etcd import etcd_available, etcd_cluster, etcd_writes
from bench.raft_node import Cluster

# Per writer: committed writes/s, p50 ms and p99 ms of each run.
Series = tuple[list[float], list[float], list[float]]
Writer = Callable[[int], tuple[float, list[float]]]


CONCURRENT = 16


def _run_writes(member: Any, n: int, writers: int = 1) -> tuple[float, list[float]]:
    reply = member.call("write", n=n, writers=writers)
    return n / reply["elapsed"], reply["latencies"]


def _measure(writers: dict[str, Writer], n: int, runs: int) -> dict[str, Series]:
    for write in writers.values():
        write(200)  # warm-up
    series: dict[str, Series] = {name: ([], [], []) for name in writers}
    for _ in range(runs):
        for name, write in writers.items():
            rate, latencies = write(n)
            rates, p50s, p99s = series[name]
            rates.append(rate)
            p50s.append(1000 * statistics.median(latencies))
            p99s.append(1000 * percentile(latencies, 0.99))
    return series


def _compared(benchmark: str, ours: Series, name: str, base: Series, **kw: Any) -> list[Figure]:
    """The rate, p50 and p99 rows of ``ours`` against ``base`` (the target on the rate's)."""
    rate_only = {k: kw.pop(k) for k in ("note", "target", "target_met") if k in kw}
    return [
        Figure(benchmark, "committed updates/s", Stat.of(ours[0]), name, Stat.of(base[0]),
               **rate_only, **kw),
        Figure(benchmark, "p50 commit ms", Stat.of(ours[1]), name, Stat.of(base[1]),
               higher_is_better=False, fmt="{:.2f}", **kw),
        Figure(benchmark, "p99 commit ms", Stat.of(ours[2]), name, Stat.of(base[2]),
               higher_is_better=False, fmt="{:.2f}", **kw),
    ]  # fmt: skip


def run(quick: bool = False) -> list[Figure]:
    n, runs = (300, 3) if quick else (1000, 5)
    etcd_note = "" if etcd_available() else "Debian etcd-server not installed"
    with tempfile.TemporaryDirectory(prefix="raftbench-") as tmp, contextlib.ExitStack() as stack:
        ours = stack.enter_context(Cluster("store", Path(tmp) / "store"))
        bare = stack.enter_context(Cluster("syncobj", Path(tmp) / "syncobj"))
        leader = ours.wait_leader(10)
        follower = next(m for m in ours.members if m is not leader)
        bare_leader = bare.wait_leader(10)
        writers: dict[str, Writer] = {
            "store": partial(_run_writes, leader),
            "syncobj": partial(_run_writes, bare_leader),
            "forwarded": partial(_run_writes, follower),
            "store concurrent": partial(_run_writes, leader, writers=CONCURRENT),
            "syncobj concurrent": partial(_run_writes, bare_leader, writers=CONCURRENT),
        }
        if not etcd_note:
            try:
                endpoint = stack.enter_context(etcd_cluster(Path(tmp) / "etcd"))
                writers["etcd"] = partial(etcd_writes, endpoint)
                writers["etcd concurrent"] = partial(etcd_writes, endpoint, writers=CONCURRENT)
            except Exception as exc:  # optional: a broken etcd loses its rows  # noqa: BLE001
                etcd_note = f"etcd failed: {exc}"
        series = _measure(writers, n, runs)
        # pysyncobj's "state machine may have diverged" warning, seen on followers.
        warnings = {
            name: c.warnings("truncating already-applied log entries")
            for name, c in (("store", ours), ("syncobj", bare))
        }

    # Runs in order: our rate falling run after run would mean a write costs more as the
    # store grows (snapshots once copied every table per write; log compaction dumps it all).
    extra = {
        "writes_per_run": n,
        "warnings": warnings,
        "rates_in_order": {k: v[0] for k, v in series.items()},
    }
    store = series["store"]
    figures = _compared(
        "raft store, 3 managers",
        store,
        "bare pysyncobj counter",
        series["syncobj"],
        target="ratio = overhead of our store",
        note=(
            "pysyncobj 'state machine may have diverged' warnings on followers: "
            f"ours {warnings['store']}, bare {warnings['syncobj']}"
        ),
        extra=extra,
    )
    forwarded = series["forwarded"]
    figures.append(
        Figure(
            "raft store, 3 managers, writes on a follower",
            "committed updates/s",
            Stat.of(forwarded[0]),
            "the same writes on the leader",
            Stat.of(store[0]),
            note=f"forwarded to the leader by pysyncobj; p50 {Stat.of(forwarded[1]).show('{:.2f}')}"
            " ms",
            extra=extra,
        )
    )
    if "etcd" in series:
        for suffix, writers_note in (("", "one sequential writer"), (" concurrent", "")):
            mine, etcd = series[f"store{suffix}"], series[f"etcd{suffix}"]
            figures += _compared(
                f"raft store vs etcd 3.4{', 16 writers' if suffix else ''}",
                mine,
                "etcd, 3 members, HTTP/JSON puts",
                etcd,
                target="rate >= etcd's",
                target_met=Stat.of(mine[0]).median >= Stat.of(etcd[0]).median,
                note="both sync their log before acknowledging"
                + (f"; {writers_note} each" if writers_note else ""),
                extra=extra,
            )
        figures.append(
            Figure(
                "durable pysyncobj counter vs etcd 3.4, 16 writers",
                "committed updates/s",
                Stat.of(series["syncobj concurrent"][0]),
                "etcd, 3 members, HTTP/JSON puts",
                Stat.of(series["etcd concurrent"][0]),
                note="the Raft layer alone: what the store adds on top is in the rows above",
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
