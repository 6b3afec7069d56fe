"""Benchmark: kill -9 the raft leader of 3 managers; time until a write succeeds again.

    python bench/failover_bench.py [--quick]

Each trial starts 3 fresh managers on 127.0.0.1, each in its own process
(bench/raft_node.py), commits a few writes, leaves the cluster idle for a second (idle
connections are what made votes split before, see docs/raft.md), SIGKILLs the leader and
times, from the kill, a write sent to a surviving manager until it commits; a write that
fails is re-sent at once. Median of 5 trials (3 with --quick). Baseline, in the same run:
the same trial on bare pysyncobj with the same settings. Target: under 3 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure, Stat, print_figures
from bench.raft_node import Cluster, retry_until

TARGET_S = 3.0


def trial(mode: str, root: Path) -> float:
    with Cluster(mode, root) as cluster:
        leader = cluster.wait_leader(15)
        follower = next(m for m in cluster.members if m is not leader)
        follower.call("write", n=20)  # forwarded: every member is connected and current
        time.sleep(1.0)
        killed = time.perf_counter()
        leader.kill()
        retry_until(lambda: follower.call("write", n=1), timeout=30)
        return time.perf_counter() - killed


def run(quick: bool = False) -> list[Figure]:
    trials = 3 if quick else 5
    times: dict[str, list[float]] = {"store": [], "syncobj": []}
    with tempfile.TemporaryDirectory(prefix="failbench-") as tmp:
        for i in range(trials):
            for mode, samples in times.items():  # alternate, so noise hits both alike
                samples.append(trial(mode, Path(tmp) / f"{mode}{i}"))
    value = Stat.of(times["store"])
    return [
        Figure(
            "failover, kill -9 leader of 3",
            "s until a write commits",
            value,
            "bare pysyncobj, same settings",
            Stat.of(times["syncobj"]),
            target=f"< {TARGET_S:g} s",
            target_met=value.median < TARGET_S,
            higher_is_better=False,
            fmt="{:.2f}",
            extra={"trials": times},
        )
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print_figures(run(parser.parse_args().quick))
