"""Benchmark: TCP throughput container to container over the overlay, against the underlay.

    python bench/overlay_bench.py [--quick]

A 2-host lab (``swarmpy.lab.manage.up``), an overlay network made through the manager's
API, and two one-replica services on it (``sleep``), pinned one per host with
``node.hostname==`` constraints. iperf3 (a host binary) runs inside the two tasks' network
namespaces (``<daemon prefix>-<first 12 chars of the task id>``): the client on node2 sends
to the server's overlay address on node1, so every byte crosses veth, bridge, VXLAN, the
underlay and back. The baseline is the same pair of hosts over the plain underlay: iperf3 in
the two host namespaces, to node1's underlay address. One TCP stream, 3 s per run (2 s
quick), 5 runs each (3 quick) after a 1 s warm-up of each, the kinds taking turns (the
order rotates every round); medians. Target: overlay >= 0.8 x underlay.

A second reference splits the gap: the overlay's shape built by hand with iproute2 on two
more lab hosts (same underlay bridge, same MTU as our containers): a "container" namespace,
a veth into a bridge, a VXLAN port without UDP checksums (``noudpcsum``), no nftables.
By hand / underlay is what VXLAN itself costs on this kernel; ours / by hand is what our
particular setup adds. All of it twice: on a 1500-byte underlay with the default network
MTU (1450), and on a 9000-byte (jumbo frame) underlay with a network created with
``--opt com.docker.network.driver.mtu=8950``. Needs root, iperf3 and what the lab needs.
"""

from __future__ import annotations

import argparse
import json
import random
import re
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
NETWORK = "benchnet"


@dataclass(frozen=True)
class Endpoint:
    netns: str
    addr: str  # the address iperf3 binds or connects to


@dataclass(frozen=True)
class Sample:
    gbit_s: float
    retransmits: int


def _mtu(netns: str, ifname: str = "eth0") -> int:
    out = subprocess.run(
        ["ip", "-n", netns, "-o", "link", "show", ifname], capture_output=True, text=True
    ).stdout
    found = re.search(r"\smtu (\d+)", out)
    return int(found.group(1)) if found else 0


def iperf(server: Endpoint, client: Endpoint, seconds: float) -> Sample:
    """One iperf3 run, one TCP stream, ``client`` -> ``server``; the server serves once."""
    port = str(random.randint(20000, 60000))
    srv = subprocess.Popen(
        ["ip", "netns", "exec", server.netns, "iperf3", "-s", "-1", "-B", server.addr, "-p", port],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        doc: dict[str, Any] = {}
        for _ in range(20):  # until the server listens
            time.sleep(0.1)
            argv = ["iperf3", "-c", server.addr, "-p", port, "-t", f"{seconds:g}", "-J"]
            done = subprocess.run(
                ["ip", "netns", "exec", client.netns, *argv],
                capture_output=True,
                text=True,
                timeout=seconds + 30,
            )
            doc = json.loads(done.stdout or "{}")
            if "error" not in doc and "end" in doc:
                break
        if "end" not in doc:
            raise NotReady(
                f"iperf3 {client.netns} -> {server.addr}: {doc.get('error', 'no output')}"
            )
        end = doc["end"]
        return Sample(
            end["sum_received"]["bits_per_second"] / 1e9,
            int(end["sum_sent"].get("retransmits", 0)),
        )
    finally:
        try:
            srv.wait(timeout=5)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()


def _ip(*argv: str) -> None:
    done = subprocess.run(["ip", *argv], capture_output=True, text=True)
    if done.returncode != 0:
        raise NotReady(f"ip {' '.join(argv)}: {done.stderr.strip()}")


def hand_made_vxlan(lab: Any, mtu: int) -> tuple[Endpoint, Endpoint]:
    """The overlay's shape built by hand, for reference: two more lab hosts on the same
    underlay bridge, in each a bridge with a VXLAN port (``noudpcsum``) and a veth into a
    "container" namespace, no nftables. Named under the lab's prefix, so
    the lab's teardown removes it."""
    a, b = lab.add_host("hx1"), lab.add_host("hx2")
    ends = []
    for me, peer, n in ((a, b, 1), (b, a, 2)):
        cont = f"{lab.netns_prefix}hc{n}"
        _ip("netns", "add", cont)
        _ip("-n", me.netns, "link", "add", "hvx", "type", "vxlan", "id", "77", "dstport", "4789",
            "local", me.ip, "remote", peer.ip, "noudpcsum")  # fmt: skip
        _ip("-n", me.netns, "link", "set", "hvx", "mtu", str(mtu))
        _ip("-n", me.netns, "link", "add", "hbr", "type", "bridge")
        _ip("-n", me.netns, "link", "add", "hvc", "mtu", str(mtu), "type", "veth", "peer",
            "name", "eth0", "netns", cont, "mtu", str(mtu))  # fmt: skip
        for link in ("hvx", "hvc"):
            _ip("-n", me.netns, "link", "set", link, "master", "hbr", "up")
        _ip("-n", me.netns, "link", "set", "hbr", "up")
        _ip("-n", cont, "addr", "add", f"10.77.0.{n}/24", "dev", "eth0")
        for link in ("lo", "eth0"):
            _ip("-n", cont, "link", "set", link, "up")
        ends.append(Endpoint(cont, f"10.77.0.{n}"))
    return ends[0], ends[1]


def _task_endpoints(
    swarm: SwarmLab, hosts: list[Any], services: list[str], network_id: str
) -> list[Endpoint]:
    """Wait until each service's task (pinned to the matching host) runs; its sandbox netns
    and overlay address."""
    deadline = time.monotonic() + 120
    while True:
        tasks = [swarm.api.tasks(s) for s in services]
        running = [[t for t in ts if t.status.state == RUNNING] for ts in tasks]
        if all(len(r) == 1 for r in running):
            break
        if time.monotonic() > deadline:
            states = [[(t.status.state, t.status.err) for t in ts] for ts in tasks]
            raise NotReady(f"iperf tasks not running within 120 s: {states}")
        time.sleep(0.2)
    endpoints = []
    for host, (task,) in zip(hosts, running, strict=True):
        addr = next(
            a.addresses[0].split("/")[0] for a in task.networks if a.network_id == network_id
        )
        endpoints.append(Endpoint(f"{host.daemon_prefix}-{task.id[:12]}", addr))
    return endpoints


def run(quick: bool = False) -> list[Figure]:
    why = missing_prerequisites(("iperf3",))
    if why:
        return [skipped("overlay", why)]
    rounds, seconds = (3, 2.0) if quick else (5, 3.0)
    figures: list[Figure] = []
    for setup in SETUPS:
        try:
            with swarm_lab(2, mtu=setup.underlay_mtu) as swarm:
                try:
                    figures += _measure(swarm, rounds, seconds, setup)
                except NotReady as exc:
                    tail = daemon_log_tail(swarm.manager)
                    last = f" (manager daemon log: {tail})" if tail else ""
                    figures.append(skipped(f"overlay{setup.label}", f"{exc}{last}"))
        except NotReady as exc:
            figures.append(skipped(f"overlay{setup.label}", str(exc)))
    return figures


@dataclass(frozen=True)
class Setup:
    """An underlay MTU and the overlay network's (None: swarmpy's default, 1450)."""

    underlay_mtu: int
    network_mtu: int | None

    @property
    def label(self) -> str:
        if self.network_mtu is None:
            return ""
        return f", underlay MTU {self.underlay_mtu}, network MTU {self.network_mtu}"


# Docker's defaults on a 1500-byte underlay, and what a jumbo-frame underlay (9001 on AWS,
# up to 8896 on GCP) allows with `network create --opt com.docker.network.driver.mtu=8950`.
SETUPS = (Setup(1500, None), Setup(9000, 8950))


def _measure(swarm: SwarmLab, rounds: int, seconds: float, setup: Setup) -> list[Figure]:
    from swarmpy.model import MTU_OPTION

    node1, node2 = swarm.hosts[:2]
    options = {} if setup.network_mtu is None else {MTU_OPTION: str(setup.network_mtu)}
    net = swarm.api.create_network(NETWORK, options=options)
    services = [
        swarm.api.create_service(
            f"iperf{i}",
            1,
            networks=[net],
            constraints=[f"node.hostname=={host.name}"],
        )
        for i, host in enumerate((node1, node2), 1)
    ]
    c1, c2 = _task_endpoints(swarm, [node1, node2], services, net)
    mtu = _mtu(c1.netns)
    pairs = {
        "overlay": (c1, c2),
        "underlay": (Endpoint(node1.netns, node1.ip), Endpoint(node2.netns, node2.ip)),
        "by hand": hand_made_vxlan(swarm.lab, mtu),
    }
    for server, client in pairs.values():  # warm-up, not counted
        iperf(server, client, 1.0)
    samples: dict[str, list[Sample]] = {kind: [] for kind in pairs}
    for r in range(rounds):
        kinds = list(pairs)
        for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:  # rotate the order
            samples[kind].append(iperf(*pairs[kind], seconds))
    gbit = {kind: Stat.of([s.gbit_s for s in got]) for kind, got in samples.items()}
    ours, base, hand = gbit["overlay"], gbit["underlay"], gbit["by hand"]
    mtus = {"container_eth0": mtu, "host_eth0": _mtu(node1.netns)}
    retrans = {k: [s.retransmits for s in v] for k, v in samples.items()}
    extra = {
        "mtu": mtus,
        "retransmits": retrans,
        "gbit_s": {k: [s.gbit_s for s in v] for k, v in samples.items()},
        "seconds_per_run": seconds,
    }
    return [
        Figure(
            f"overlay TCP, container to container, 2 hosts{setup.label}",
            "Gbit/s (iperf3, 1 stream)",
            ours,
            "same 2 hosts over the underlay",
            base,
            target=f"ratio >= {TARGET_RATIO:g}",
            target_met=ours.median / base.median >= TARGET_RATIO,
            fmt="{:.2f}",
            note=(
                f"MTU {mtus['container_eth0']} in the containers, {mtus['host_eth0']} on the "
                f"underlay; {rounds} runs of {seconds:g} s each; retransmits overlay "
                f"{retrans['overlay']}, underlay {retrans['underlay']}"
            ),
            extra=extra,
        ),
        Figure(
            f"overlay TCP vs the same shape by hand{setup.label}",
            "Gbit/s (iperf3, 1 stream)",
            ours,
            "veth+bridge+VXLAN by hand, no nftables",
            hand,
            fmt="{:.2f}",
            note=(
                f"by hand / underlay = {hand.median / base.median:.2f}: what VXLAN itself "
                "costs here; ours / by hand: what our particular setup adds"
            ),
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print_figures(run(args.quick))
