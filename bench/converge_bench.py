"""Benchmark: service create --replicas N on a 3-host lab until N/N running, against the floor.

    python bench/converge_bench.py [--n 10,30] [--quick]

swarmpy: a 3-host lab (swarmpy.lab) with its registry host, a daemon per host, a swarm of
one manager and two workers. A warm-up service (3 replicas, then removed) pulls busybox
on every host, so no pull is timed. Then, per N, ``service create --detach --replicas N
busybox sleep 3600`` is timed until ``service ls`` shows N/N (polled every 0.1 s); the service
is removed before the next N.

Floor, in the same lab: what any orchestrator must at least do per container, with no
control plane: ``ip netns add`` + a veth into the host's namespace + an overlay mount of the
same busybox rootfs + ``runc run -d``, the N containers split over the 3 hosts, the hosts
working concurrently (each its share one after another). Target: within 1.5x of the floor
at N = 30. Needs root, runc, nsenter, unshare, docker-registry and dnsmasq.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure, Stat, print_figures, skipped

TARGET_RATIO = 1.5
TOOLS = ("runc", "nsenter", "unshare", "docker-registry", "dnsmasq")


class NotReady(RuntimeError):
    """The lab or the service path cannot run here yet: says which step failed."""


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


# ---------------------------------------------------------------- the floor


class Floor:
    """Containers made by hand: netns + veth + overlay mount + runc run -d."""

    def __init__(self, root: Path, lab: Any, hosts: Sequence[Any]) -> None:
        self.root, self.lab, self.hosts = root, lab, list(hosts)
        self.prefix = "fl" + secrets.token_hex(2)
        self.lower = root / "lower"
        self.made: list[tuple[Any, str]] = []  # (host, container name)
        self._template: dict[str, Any] = {}

    def prepare(self) -> None:
        from swarmpy.lab.busybox import busybox_layer

        self.lower.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(busybox_layer())) as tar:
            tar.extractall(self.lower)
        spec_dir = self.root / "spec"
        spec_dir.mkdir()
        _sh("runc", "spec", "--bundle", str(spec_dir))
        self._template = json.loads((spec_dir / "config.json").read_text())

    def _one(self, host: Any, i: int) -> None:
        name = f"{self.prefix}{host.number}c{i}"
        self.made.append((host, name))
        bundle = self.root / name
        upper, work, merged = bundle / "upper", bundle / "work", bundle / "rootfs"
        for d in (upper, work, merged):
            d.mkdir(parents=True)
        _sh("ip", "netns", "add", name)
        _sh("ip", "-n", host.netns, "link", "add", f"v{name}", "type", "veth", "peer", "name",
            "eth0", "netns", name)  # fmt: skip
        _sh("ip", "-n", host.netns, "link", "set", f"v{name}", "up")
        _sh("ip", "-n", name, "link", "set", "eth0", "up")
        _sh("mount", "-t", "overlay", "overlay", "-o",
            f"lowerdir={self.lower},upperdir={upper},workdir={work}", str(merged))  # fmt: skip
        config = json.loads(json.dumps(self._template))
        config["process"].update(terminal=False, args=["sleep", "3600"])
        config["root"] = {"path": str(merged), "readonly": False}
        config["hostname"] = name
        config["linux"]["cgroupsPath"] = f"/{self.prefix}/{name}"
        config["linux"]["namespaces"] = [
            {"type": "network", "path": f"/run/netns/{name}"} if ns["type"] == "network" else ns
            for ns in config["linux"]["namespaces"]
        ]
        (bundle / "config.json").write_text(json.dumps(config))
        subprocess.run(
            ["runc", "--root", str(self.root / "runc"), "run", "-d", "--bundle", str(bundle), name],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self, n: int) -> float:
        shares = [list(range(h, n, len(self.hosts))) for h in range(len(self.hosts))]

        def host_share(h: int) -> None:
            for i in shares[h]:
                self._one(self.hosts[h], i)

        started = time.perf_counter()
        with ThreadPoolExecutor(len(self.hosts)) as pool:
            list(pool.map(host_share, range(len(self.hosts))))
        return time.perf_counter() - started

    def clean(self) -> None:
        from swarmpy.agent.runc import remove_cgroup

        for host, name in self.made:
            subprocess.run(["runc", "--root", str(self.root / "runc"), "delete", "--force", name],
                           capture_output=True)  # fmt: skip
            subprocess.run(["umount", str(self.root / name / "rootfs")], capture_output=True)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
            subprocess.run(["ip", "-n", host.netns, "link", "del", f"v{name}"], capture_output=True)
            remove_cgroup(f"/{self.prefix}/{name}")
        self.made.clear()


# ---------------------------------------------------------------- swarmpy


def _cli(test_lab: Any, host: Any, *args: str) -> str:
    done = test_lab.swarmpy(host, *args)
    if done.returncode != 0:
        raise NotReady(f"`swarmpy {' '.join(args)}` failed: {(done.stderr or done.stdout).strip()}")
    return str(done.stdout)


def _replicas(test_lab: Any, host: Any, name: str) -> tuple[int, int] | None:
    for line in _cli(test_lab, host, "service", "ls").splitlines():
        if re.search(rf"\s{re.escape(name)}\s", f" {line} "):
            m = re.search(r"\s(\d+)/(\d+)\s", line)
            if m:
                return int(m.group(1)), int(m.group(2))
    return None


def _converge(test_lab: Any, manager: Any, name: str, n: int, timeout: float) -> float:
    started = time.perf_counter()
    _cli(test_lab, manager, "service", "create", "--detach", "--name", name,
         "--replicas", str(n), "busybox", "sleep", "3600")  # fmt: skip
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if _replicas(test_lab, manager, name) == (n, n):
            return time.perf_counter() - started
        time.sleep(0.1)
    raise NotReady(f"service {name} did not reach {n}/{n} within {timeout:g}s")


def _remove(test_lab: Any, manager: Any, name: str) -> None:
    test_lab.swarmpy(manager, "service", "rm", name)
    time.sleep(2.0)  # let the workers stop the containers before the next measurement


def _swarm(test_lab: Any) -> Any:
    manager, *workers = test_lab.hosts
    try:
        test_lab.start_daemons()
    except Exception as exc:
        raise NotReady(f"daemons did not start: {exc}") from exc
    init = _cli(test_lab, manager, "swarm", "init")
    token = next((w for w in init.split() if w.startswith("SWMTKN-")), None)
    if token is None:
        raise NotReady(f"`swarm init` printed no join token:\n{init}")
    for w in workers:
        _cli(test_lab, w, "swarm", "join", "--token", token, manager.control_addr)
    deadline = time.monotonic() + 30
    while _cli(test_lab, manager, "node", "ls").count("Ready") < len(test_lab.hosts):
        if time.monotonic() > deadline:
            raise NotReady("not every node became Ready within 30 s")
        time.sleep(0.3)
    return manager


def run(quick: bool = False, ns: Sequence[int] = (10,)) -> list[Figure]:
    if os.geteuid() != 0:
        return [skipped("convergence", "needs root")]
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return [skipped("convergence", f"not installed: {', '.join(missing)}")]
    from swarmpy.agent.runc import mounts_under
    from tests.integration.conftest import new_lab

    runs = 1 if quick else 3
    figures: list[Figure] = []
    test_lab = new_lab(3)
    floor = Floor(
        Path(tempfile.mkdtemp(prefix="flbench-", dir="/tmp")), test_lab.lab, test_lab.hosts
    )
    try:
        manager = _swarm(test_lab)
        _converge(test_lab, manager, "warmup", 3, 120)  # pulls busybox on every host
        _remove(test_lab, manager, "warmup")
        floor.prepare()
        for n in ns:
            ours, floors = [], []
            for r in range(runs):
                floors.append(floor.start(n))
                floor.clean()
                name = f"conv{n}r{r}"
                ours.append(_converge(test_lab, manager, name, n, 60 + 3 * n))
                _remove(test_lab, manager, name)
            value = Stat.of(ours)
            ratio = value.median / Stat.of(floors).median
            figures.append(
                Figure(
                    f"convergence, {n} replicas on 3 hosts",
                    "s to N/N running",
                    value,
                    "netns+veth+overlay+runc by hand",
                    Stat.of(floors),
                    target=f"ratio <= {TARGET_RATIO:g} at N = 30" if n == 30 else "",
                    target_met=ratio <= TARGET_RATIO if n == 30 else None,
                    higher_is_better=False,
                    fmt="{:.2f}",
                )
            )
    except NotReady as exc:
        log = test_lab.hosts[0].daemon_log
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        last = f" (manager daemon log: {tail[0][:300]})" if tail else ""
        figures.append(skipped("convergence", f"lab/service path not ready: {exc}{last}"))
    finally:
        floor.clean()
        test_lab.lab.destroy()
        if not mounts_under(floor.root):  # never recurse into a mount left behind
            shutil.rmtree(floor.root, ignore_errors=True)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n", default="10", help="replica counts, comma-separated (10,30,60)")
    args = parser.parse_args()
    print_figures(run(args.quick, [int(x) for x in args.n.split(",")]))
