"""Benchmark: memory and disk footprint of an idle daemon and of a store holding 10,000 tasks.

    python bench/footprint_bench.py [--quick]

Idle daemon: ``swarmpy daemon`` with a fresh data root, its socket in that root, a
unique name prefix, an empty resolv.conf (it must not query the machine's resolvers) and a
network namespace of its own (whatever kernel objects it makes at start go away with it);
once its socket answers and it has settled for 2 s, VmRSS from /proc/<pid>/status and the
disk use of the data root. Baseline: a bare ``python -c`` process sleeping (the interpreter
floor). Store: a process creates a ``Store`` over a single-member ``RaftLog``, reports its
RSS, writes 10,000 Tasks built by the orchestrator's ``new_task`` in the orchestrator's
chunks (``write_chunked``), and reports its RSS again (baseline: the RSS before the writes)
and the disk use of its raft data dir. Footprint figures are single measurements.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, Figure, Stat, disk_kib, free_port, print_figures, rss_kib, wait_until

N_TASKS = 10_000
SETTLE_S = 2.0


def _one(value: float) -> Stat:
    return Stat.of([value])


# ---------------------------------------------------------------- store child


def _store_child(data_dir: Path, n_tasks: int) -> None:
    from swarmpy.manager.orchestrator.restart import new_task
    from swarmpy.manager.state.raft.log import RaftLog
    from swarmpy.manager.state.store import TASKS, Store, Tx, write_chunked
    from swarmpy.model import ContainerSpec, Service, ServiceSpec, Task

    async def main() -> dict[str, Any]:
        raft = RaftLog(f"127.0.0.1:{free_port()}", [], data_dir, "bench-secret")
        store = Store(raft)
        raft.start()
        try:
            wait_until("single-member leadership", raft.is_leader, 10.0)
            gc.collect()
            before = rss_kib(os.getpid())
            svc = Service(id="bench-svc", spec=ServiceSpec("bench", ContainerSpec("busybox")))
            stamp = time.time()
            tasks = [new_task(svc, slot, "", stamp) for slot in range(1, n_tasks + 1)]

            def create(tx: Tx, task: Task) -> None:
                tx.create(TASKS, task)

            started = time.perf_counter()
            await write_chunked(store, tasks, create)
            elapsed = time.perf_counter() - started
            del tasks
            gc.collect()
            after = rss_kib(os.getpid())
            return {
                "rss_before_kib": before,
                "rss_after_kib": after,
                "write_s": elapsed,
                "tasks_in_store": len(store.view().all(TASKS)),
            }
        finally:
            await raft.stop()

    print(json.dumps({**asyncio.run(main()), "disk_kib": disk_kib(data_dir)}))


def store_footprint(root: Path, n_tasks: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--store-child", str(root / "raft"), str(n_tasks)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=600,
    )
    doc: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return doc


# ---------------------------------------------------------------- idle daemon


def _socket_answers(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def daemon_footprint(root: Path) -> dict[str, Any]:
    prefix = "f" + secrets.token_hex(2)  # 5 characters
    netns = f"{prefix}-bench"
    data_root, sock = root / "data", root / "s.sock"
    root.mkdir(parents=True, exist_ok=True)
    resolv = root / "resolv.conf"
    resolv.write_text("")
    swarmpy = Path(sys.executable).with_name("swarmpy")
    subprocess.run(["ip", "netns", "add", netns], check=True)
    log = (root / "daemon.log").open("wb")
    proc: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        argv = ["ip", "netns", "exec", netns, str(swarmpy), "daemon"]
        argv += ["--data-root", str(data_root), "--host", f"unix://{sock}"]
        argv += ["--name-prefix", prefix, "--resolv-conf", str(resolv)]
        proc = subprocess.Popen(argv, stdout=log, stderr=log)  # ip netns exec execs it
        started = time.perf_counter()
        try:
            wait_until("the daemon's socket", lambda: _socket_answers(sock), 30.0, step=0.05)
        except TimeoutError:
            tail = (root / "daemon.log").read_text(errors="replace")[-1500:]
            raise RuntimeError(f"daemon did not listen within 30 s:\n{tail}") from None
        ready_s = time.perf_counter() - started
        time.sleep(SETTLE_S)
        return {"rss_kib": rss_kib(proc.pid), "disk_kib": disk_kib(data_root), "ready_s": ready_s}
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)


def python_floor() -> int:
    """RSS of a bare interpreter doing nothing: what any Python daemon costs at least."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)
        return rss_kib(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def run(quick: bool = False) -> list[Figure]:
    n_tasks = 2_000 if quick else N_TASKS
    with tempfile.TemporaryDirectory(prefix="fpbench-", dir="/tmp") as tmp:
        root = Path(tmp)
        floor = python_floor()
        daemon = daemon_footprint(root / "d")
        store = store_footprint(root / "s", n_tasks)
    mib = 1024
    per_task = (store["rss_after_kib"] - store["rss_before_kib"]) / n_tasks
    return [
        Figure(
            "footprint: idle daemon, 0 tasks",
            "MiB RSS",
            _one(daemon["rss_kib"] / mib),
            "bare python interpreter",
            _one(floor / mib),
            higher_is_better=False,
            fmt="{:.1f}",
            note=f"data root {daemon['disk_kib']} KiB; socket up in {daemon['ready_s']:.2f} s",
            extra=daemon,
        ),
        Figure(
            f"footprint: store with {n_tasks:,} tasks",
            "MiB RSS",
            _one(store["rss_after_kib"] / mib),
            "same process before the writes",
            _one(store["rss_before_kib"] / mib),
            higher_is_better=False,
            fmt="{:.1f}",
            note=(
                f"{per_task:.2f} KiB per task; raft data dir {store['disk_kib'] / mib:.1f} MiB; "
                f"writing took {store['write_s']:.1f} s"
            ),
            extra=store,
        ),
    ]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--store-child":
        _store_child(Path(sys.argv[2]), int(sys.argv[3]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print_figures(run(parser.parse_args().quick))
