"""Benchmark: the pure scheduler placing 10,000 tasks on 1,000 nodes with mixed constraints.

    python bench/sched_bench.py [--quick]

Times ``swarmpy.manager.scheduler.scheduler.schedule`` (filters + spread) on a cluster where
5% of the nodes are down, 5% drained, 50 are managers, nodes carry zone/disk labels, 5,000
tasks already run, and the 10,000 pending tasks belong to 40 services with different
constraints and reservations. The baseline is a naive placement of the same tasks in the
same run: round-robin over the nodes, no filters. One warm-up run of each, then the median
of 5 (3 with --quick).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure, Stat, print_figures
from swarmpy.manager.scheduler.scheduler import schedule
from swarmpy.model import Node, NodeAvailability, NodeRole, NodeState, Resources, Task, TaskState
from tests.support.builders import node, reserving, service, task

N_NODES = 1_000
N_TASKS = 10_000
N_SERVICES = 40
N_RUNNING = 5_000
TARGET = 20_000.0

# Constraint mixes, cycled over the services; some also reserve CPU and memory.
CONSTRAINTS: tuple[tuple[str, ...], ...] = (
    (),
    ("node.role==worker",),
    ("node.labels.zone==east",),
    ("node.labels.disk==ssd", "node.labels.zone!=west"),
    ("node.hostname!=n0001", "node.role!=manager"),
)


def cluster() -> tuple[list[Task], list[Node], list[Task]]:
    nodes: list[Node] = []
    for i in range(N_NODES):
        changes: dict[str, object] = {
            "state": NodeState.DOWN if i % 20 == 7 else NodeState.READY,
            "availability": NodeAvailability.DRAIN if i % 20 == 13 else NodeAvailability.ACTIVE,
            "role": NodeRole.MANAGER if i % 20 == 0 else NodeRole.WORKER,
            "labels": (("zone", ("east", "west", "north", "south")[i % 4]),)
            + ((("disk", "ssd"),) if i % 3 == 0 else ()),
            "resources": Resources(nano_cpus=4 * 10**9, memory_bytes=8 << 30),
        }
        nodes.append(node(f"n{i:04d}", **changes))
    running_svc = service("already")
    running = [
        task(running_svc, slot=i, state=TaskState.RUNNING, node_id=nodes[i % N_NODES].id)
        for i in range(N_RUNNING)
    ]
    pending: list[Task] = []
    per_service = N_TASKS // N_SERVICES
    for s in range(N_SERVICES):
        spec: dict[str, Any] = {"constraints": CONSTRAINTS[s % len(CONSTRAINTS)]}
        if s % 4 == 1:
            spec.update(reserving(cpus=0.01, memory=16 << 20))
        svc = service(f"svc{s:02d}", **spec)
        pending.extend(task(svc, slot=i) for i in range(1, per_service + 1))
    return pending, nodes, running


def naive(tasks: Sequence[Task], nodes: Sequence[Node]) -> dict[str, str]:
    ids = [n.id for n in nodes]
    return {t.id: ids[i % len(ids)] for i, t in enumerate(tasks)}


def run(quick: bool = False) -> list[Figure]:
    pending, nodes, running = cluster()
    all_tasks = running + pending
    runs = 3 if quick else 5

    placed: list[int] = []

    def ours() -> float:
        started = time.perf_counter()
        result = schedule(pending, nodes, all_tasks)
        elapsed = time.perf_counter() - started
        placed.append(len(result.assignments))
        return len(pending) / elapsed

    def baseline() -> float:
        started = time.perf_counter()
        naive(pending, nodes)
        return len(pending) / (time.perf_counter() - started)

    ours(), baseline()  # warm-up
    rates, base_rates = [], []
    for _ in range(runs):  # interleaved, so a noisy moment hurts both alike
        rates.append(ours())
        base_rates.append(baseline())
    value = Stat.of(rates)
    return [
        Figure(
            "scheduler 10k tasks / 1k nodes",
            "tasks/s",
            value,
            "round-robin, no filters",
            Stat.of(base_rates),
            target=f">= {TARGET:,.0f} tasks/s",
            target_met=value.median >= TARGET,
            note=f"{placed[-1]:,} of {len(pending):,} placed",
            extra={"placed": placed[-1], "pending": len(pending), "nodes": len(nodes)},
        )
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print_figures(run(parser.parse_args().quick))
