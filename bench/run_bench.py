"""``run --rm busybox true`` latency against the same container by hand: an overlay mount of
busybox's layer, ``runc run`` of ``true`` in a new network namespace, unmounted.

A run is the Engine API calls docker's CLI makes for it (create, start, wait, remove) over the
daemon's socket (the CLI's own start is not counted); it includes what the floor leaves out:
the container's leg on the default bridge, its /etc files, log keeper and records. Runs
alternate (floor, ours) so the machine's load falls on both.

    python bench/run_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.build_bench import busybox_daemon, runc_by_hand
from bench.common import Figure, Stat, print_figures, skipped


def _run_rm(host: str) -> float:
    from swarmpy.cli.engine import EngineClient, Options, path_of, resolve

    api = EngineClient(resolve(Options(host=host), os.environ))
    t0 = time.perf_counter()
    created = api.post("/containers/create", {"Image": "busybox", "Cmd": ["true"]})
    cid = str(created["Id"])
    api.post(path_of("containers", cid, "start"))
    code = api.post(path_of("containers", cid, "wait")).get("StatusCode")
    api.delete(path_of("containers", cid))
    if code != 0:
        raise RuntimeError(f"true exited {code}")
    return time.perf_counter() - t0


def run(quick: bool) -> list[Figure]:
    if os.geteuid() != 0:
        return [skipped("run --rm", "needs root (runc, overlayfs)")]
    if shutil.which("runc") is None:
        return [skipped("run --rm", "runc is not installed")]
    from tests.support.daemons import DaemonSet

    runs = 5 if quick else 15
    floor, ours = [], []
    with DaemonSet() as ds, tempfile.TemporaryDirectory(prefix="runbench-") as tmp:
        daemon, layers = busybox_daemon(ds, Path(tmp))
        work = Path(tmp) / "work"
        work.mkdir()
        runc_by_hand(layers, work, ("true",), build_step=False), _run_rm(daemon.host)  # warm-up
        for _ in range(runs):
            floor.append(runc_by_hand(layers, work, ("true",), build_step=False) * 1000)
            ours.append(_run_rm(daemon.host) * 1000)
    return [
        Figure(
            "run --rm busybox true",
            "wall ms",
            Stat.of(ours),
            "by hand: overlay + runc run + unmount",
            Stat.of(floor),
            higher_is_better=False,
            fmt="{:,.0f}",
            note=f"median of {runs}, alternating; create/start/wait/remove over the socket",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print_figures(run(args.quick))


if __name__ == "__main__":
    main()
