"""The overlay provider on two "hosts" (namespaces) joined by an underlay bridge.

Each host runs its own provider (``host_netns=``), so this needs no daemon: containers are
bare sandboxes, and the servers in them are tiny Python processes under ``ip netns exec``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Coroutine, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pyroute2 import IPRoute, netns

from swarmpy.model import (
    ContainerSpec,
    Endpoint,
    EndpointMode,
    Network,
    NetworkAttachment,
    NetworkView,
    ServiceEndpoint,
    ServiceSpec,
    Task,
    VirtualIP,
    mac_for_ip,
    new_id,
)
from swarmpy.netns import NETNS_DIR
from swarmpy.overlay.forwarding import Peer
from swarmpy.overlay.names import Names
from swarmpy.overlay.netlink import Netlink
from swarmpy.overlay.nft import CliNft, open_nft
from swarmpy.overlay.overlay import OverlayNetwork
from swarmpy.overlay.provider import OverlayNetworkProvider
from swarmpy.overlay.vip import VipRule, vip_ruleset
from tests.support.poll import wait_for

T = TypeVar("T")

pytestmark = [
    pytest.mark.root,
    pytest.mark.timeout(120),
]

SUBNET_PREFIX = "10.77.1."
VIP = SUBNET_PREFIX + "2"
PORT = 8080

# Answers every TCP connection and UDP datagram with its own name and the peer's address, so
# the client sees which backend it reached and as whom.
SERVER = """
import socket, sys, threading
name, port = sys.argv[1], int(sys.argv[2])
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", port))
    while True:
        _, peer = u.recvfrom(100)
        u.sendto(f"{name} {peer[0]}".encode(), peer)
threading.Thread(target=udp, daemon=True).start()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
s.listen(16)
while True:
    c, peer = s.accept()
    c.sendall(f"{name} {peer[0]}".encode())
    c.close()
"""

CLIENT = """
import socket, sys
addr, port, proto = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    if proto == "udp":
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        c.settimeout(2)
        c.sendto(b"?", (addr, port))
        print(c.recv(100).decode())
    else:
        c = socket.create_connection((addr, port), timeout=2)
        print(c.recv(100).decode())
except OSError as e:
    print("ERR", type(e).__name__)
"""


def in_netns(ns: str, *cmd: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, timeout=timeout
    )


def ping(ns: str, addr: str) -> bool:
    return in_netns(ns, "ping", "-c1", "-W2", addr).returncode == 0


def fetch(ns: str, addr: str, port: int = PORT, proto: str = "tcp") -> str:
    """What the server at addr:port says, or the error the client saw."""
    return in_netns(ns, sys.executable, "-c", CLIENT, addr, str(port), proto).stdout.strip()


@dataclass
class Host:
    ns: str
    addr: str
    prefix: str
    data_root: Path
    provider: OverlayNetworkProvider = field(init=False)

    def __post_init__(self) -> None:
        self.new_provider()

    def new_provider(self) -> None:
        """What a daemon (re)start makes: a provider driving this host's netns."""
        self.provider = OverlayNetworkProvider(
            self.addr, self.data_root, self.prefix, host_netns=self.ns
        )


@dataclass
class Rig:
    """Two hosts, one overlay network, and helpers to make tasks and views."""

    hosts: list[Host]
    network: Network
    loop: asyncio.AbstractEventLoop
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    services: dict[str, ServiceEndpoint] = field(default_factory=dict)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def task(self, service: str, ip_last: int | None) -> Task:
        attachments: tuple[NetworkAttachment, ...] = ()
        if ip_last is not None:
            ip = f"{SUBNET_PREFIX}{ip_last}"
            attachments = (NetworkAttachment(self.network.id, (f"{ip}/24",), mac_for_ip(ip)),)
        spec = ServiceSpec(name=service, container=ContainerSpec(image="busybox"))
        return Task(
            id=new_id(),
            service_id=f"svc-{service}",
            service_name=service,
            spec=spec,
            slot=1,
            networks=attachments,
        )

    def start(self, host: Host, task: Task) -> str:
        """Set the task's sandbox up on ``host``, publish it, and return its netns name."""
        info = self.run(host.provider.setup(task))
        for att in task.networks:
            ip = att.addresses[0].split("/")[0]
            self.endpoints[task.id] = Endpoint(
                task_id=task.id,
                service_id=task.service_id,
                service_name=task.service_name,
                container_name=task.name,
                slot=task.slot,
                node_id=f"node-{host.ns}",
                node_addr=host.addr,
                network_id=att.network_id,
                ip=ip,
                mac=att.mac,
            )
        return os.path.basename(info.netns_path)

    def stop(self, host: Host, task: Task) -> None:
        self.endpoints.pop(task.id, None)
        self.run(host.provider.teardown(task))

    def publish(self) -> None:
        view = NetworkView(
            networks=(self.network,),
            endpoints=tuple(self.endpoints.values()),
            services=tuple(self.services.values()),
        )
        for host in self.hosts:
            self.run(host.provider.apply_view(view))


def _underlay(stack: ExitStack, tag: str, n_hosts: int) -> list[tuple[str, str]]:
    """An underlay bridge in its own netns and ``n_hosts`` host namespaces wired to it."""
    underlay = f"{tag}-ul"
    netns.create(underlay)
    stack.callback(netns.remove, underlay)
    ul = IPRoute(netns=underlay)
    stack.callback(ul.close)
    ul.link("add", ifname="ulbr", kind="bridge")
    ul.link("set", index=ul.link_lookup(ifname="ulbr")[0], state="up")
    hosts = []
    for i in range(1, n_hosts + 1):
        host_ns, addr = f"{tag}-h{i}", f"198.51.100.{10 + i}"
        netns.create(host_ns)
        stack.callback(netns.remove, host_ns)
        ul.link("add", ifname=f"ul{i}", kind="veth", peer={"ifname": "u0", "net_ns_fd": host_ns})
        port_index = ul.link_lookup(ifname=f"ul{i}")[0]
        ul.link("set", index=port_index, master=ul.link_lookup(ifname="ulbr")[0], state="up")
        with IPRoute(netns=host_ns) as h:
            for ifname in ("lo", "u0"):
                h.link("set", index=h.link_lookup(ifname=ifname)[0], state="up")
            h.addr("add", index=h.link_lookup(ifname="u0")[0], address=addr, prefixlen=24)
        hosts.append((host_ns, addr))
    return hosts


@pytest.fixture
def rig() -> Iterator[Rig]:
    tag = "x" + secrets.token_hex(2)
    loop = asyncio.new_event_loop()
    with ExitStack() as stack:
        stack.callback(loop.close)
        data_root = Path(tempfile.mkdtemp(prefix=f"ovl-{tag}-"))
        stack.callback(subprocess.run, ["rm", "-rf", str(data_root)], check=False)
        hosts = []
        for i, (host_ns, addr) in enumerate(_underlay(stack, tag, 2)):
            prefix = f"{'ab'[i]}{tag[1:]}"
            host = Host(host_ns, addr, prefix, data_root / host_ns)
            stack.callback(_remove_leftover_sandboxes, prefix)
            stack.callback(_shut_down, loop, host)
            hosts.append(host)
        network = Network(id=new_id(), name="ovtest", subnet=SUBNET_PREFIX + "0/24", vni=4097)
        yield Rig(hosts, network, loop)


def _shut_down(loop: asyncio.AbstractEventLoop, host: Host) -> None:
    try:
        loop.run_until_complete(host.provider.cleanup_all())
    finally:
        loop.run_until_complete(host.provider.close())


def _remove_leftover_sandboxes(prefix: str) -> None:
    for name in netns.listnetns():
        if name.startswith(prefix + "-"):
            netns.remove(name)


@pytest.fixture
def servers() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:  # before the namespaces go: a live process pins its netns
        proc.kill()
        proc.wait()


def serve(servers: list[subprocess.Popen[bytes]], ns: str, name: str, port: int = PORT) -> None:
    servers.append(
        subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, name, str(port)])
    )


def test_cross_host_ping_vip_balancing_and_clean_teardown(
    rig: Rig, servers: list[subprocess.Popen[bytes]]
) -> None:
    h1, h2 = rig.hosts
    client, b1, b2 = rig.task("client", 10), rig.task("web", 5), rig.task("web", 6)
    rig.services["web"] = ServiceEndpoint(
        "svc-web", "web", EndpointMode.VIP, (VirtualIP(rig.network.id, f"{VIP}/24"),)
    )
    rig.publish()  # the manager sends the network before the tasks that use it
    c_ns, b1_ns, b2_ns = rig.start(h1, client), rig.start(h1, b1), rig.start(h2, b2)
    rig.publish()
    assert h1.provider.local_networks() == [rig.network.id]
    names = {c["Name"] for c in h1.provider.local_containers(rig.network.id)}
    assert names == {client.name, b1.name}

    assert ping(c_ns, SUBNET_PREFIX + "6"), "no ping across hosts over VXLAN"
    assert ping(b2_ns, SUBNET_PREFIX + "10"), "no ping back across hosts"
    assert ping(c_ns, VIP), "no ping to the VIP"

    serve(servers, b1_ns, "b1")
    serve(servers, b2_ns, "b2")
    wait_for("b2 to reach b1", lambda: fetch(b2_ns, SUBNET_PREFIX + "5").startswith("b1"), 5)
    answers = {fetch(c_ns, VIP).split()[0] for _ in range(6)}
    assert answers == {"b1", "b2"}, "the VIP did not balance TCP over both backends"
    answers = {fetch(c_ns, VIP, proto="udp").split()[0] for _ in range(6)}
    assert answers == {"b1", "b2"}, "the VIP did not balance UDP over both backends"

    rig.stop(h2, b2)
    rig.publish()
    assert {fetch(c_ns, VIP).split()[0] for _ in range(4)} == {"b1"}

    rig.stop(h1, b1)
    rig.publish()
    assert fetch(c_ns, VIP) == "ERR ConnectionRefusedError", "an empty VIP must be rejected"

    rig.stop(h1, client)
    assert h1.provider.local_networks() == []
    for host in rig.hosts:
        with IPRoute(netns=host.ns) as ipr:
            left = [link.get("ifname") for link in ipr.get_links()]
        assert sorted(left) == ["lo", "u0"], f"links left on {host.ns}: {left}"
    assert not {c_ns, b1_ns, b2_ns} & set(os.listdir(NETNS_DIR))


def test_a_networks_mtu_reaches_every_link_and_carries_full_size_packets(rig: Rig) -> None:
    rig.network = dataclasses.replace(rig.network, mtu=1400)  # --opt ...driver.mtu=1400
    h1, h2 = rig.hosts
    a, b = rig.task("a", 10), rig.task("b", 6)
    rig.publish()
    a_ns = rig.start(h1, a)
    rig.start(h2, b)
    rig.publish()
    assert "mtu 1400 " in in_netns(a_ns, "ip", "link", "show", "eth0").stdout

    def ping_unfragmented(payload: int) -> bool:
        cmd = ("ping", "-c1", "-W2", "-M", "do", "-s", str(payload), SUBNET_PREFIX + "6")
        return in_netns(a_ns, *cmd).returncode == 0

    # 1,400 bytes on the wire across hosts: 1,372 of ICMP payload and 28 of headers.
    assert ping_unfragmented(1372), "a full-size packet did not cross the overlay"
    assert not ping_unfragmented(1373), "a packet over the MTU left the container"


def test_task_without_networks_gets_local_bridge_with_nat(
    rig: Rig, servers: list[subprocess.Popen[bytes]]
) -> None:
    h1, h2 = rig.hosts
    task = rig.task("solo", None)
    info = rig.run(h1.provider.setup(task))
    ns = os.path.basename(info.netns_path)
    assert info.hostname == task.id[:12]
    assert "nameserver 127.0.0.11" in info.resolv_conf
    addr = in_netns(ns, "ip", "-4", "-o", "addr", "show", "eth0").stdout
    assert "172.18.0.2/16" in addr
    assert f"172.18.0.2\t{task.id[:12]}" in info.hosts

    # A server on the other host's underlay address sees the container masqueraded as h1.
    serve(servers, h2.ns, "h2")
    wait_for("h1 to reach h2", lambda: fetch(h1.ns, h2.addr).startswith("h2"), 5)
    assert fetch(ns, h2.addr) == f"h2 {h1.addr}"

    rig.stop(h1, task)
    assert ns not in os.listdir(NETNS_DIR)
    rig.run(h1.provider.cleanup_all())
    nat = in_netns(h1.ns, "nft", "list", "tables").stdout
    assert "nat" not in nat


def test_a_restarted_provider_adopts_surviving_sandboxes(
    rig: Rig, servers: list[subprocess.Popen[bytes]]
) -> None:
    h1, h2 = rig.hosts
    client, b1, b2 = rig.task("client", 10), rig.task("web", 5), rig.task("web", 6)
    rig.services["web"] = ServiceEndpoint(
        "svc-web", "web", EndpointMode.VIP, (VirtualIP(rig.network.id, f"{VIP}/24"),)
    )
    rig.publish()
    c_ns, b1_ns, b2_ns = rig.start(h1, client), rig.start(h1, b1), rig.start(h2, b2)
    rig.publish()
    serve(servers, b1_ns, "b1")
    serve(servers, b2_ns, "b2")
    wait_for("the client to reach b1", lambda: fetch(c_ns, SUBNET_PREFIX + "5").startswith("b1"), 5)

    rig.run(h1.provider.close())  # the daemon stops; its containers keep running
    h1.new_provider()
    rig.publish()
    assert rig.run(h1.provider.adopt(client))
    assert rig.run(h1.provider.adopt(b1))
    assert {c["Name"] for c in h1.provider.local_containers(rig.network.id)} == {
        client.name,
        b1.name,
    }

    rig.stop(h2, b2)
    rig.publish()
    assert {fetch(c_ns, VIP).split()[0] for _ in range(4)} == {"b1"}, "stale VIP map"
    assert ping(c_ns, SUBNET_PREFIX + "5")

    rig.stop(h1, b1)
    rig.stop(h1, client)
    with IPRoute(netns=h1.ns) as ipr:
        assert sorted(link.get("ifname") for link in ipr.get_links()) == ["lo", "u0"]


@pytest.mark.parametrize("driver", ["lib", "cli"])
def test_both_nftables_drivers_install_the_vip_map(driver: str) -> None:
    ns = f"x{secrets.token_hex(2)}-nft"
    netns.create(ns)
    try:
        nft = open_nft(ns) if driver == "lib" else CliNft(ns)
        nft.run(vip_ruleset("swarmpy", [VipRule("10.9.0.2", ("10.9.0.5", "10.9.0.6"))]))
        listing = in_netns(ns, "nft", "list", "table", "ip", "swarmpy").stdout
        assert "dnat to numgen inc mod 2 map { 0 : 10.9.0.5, 1 : 10.9.0.6 }" in listing
    finally:
        netns.remove(ns)


def test_a_restarted_daemon_corrects_a_forwarding_entry_left_behind() -> None:
    # A node's VXLAN device (and its FDB) outlives a daemon restart, the daemon's record of
    # the entries does not. An address that moved to another node meanwhile (a task
    # rescheduled, its address reused) kept the old destination: from that node, the task
    # behind it was unreachable, and pings by service name failed for one backend in N.
    ns = f"swt-fdb-{new_id()[:6]}"
    netns.create(ns)
    nl = Netlink(ns)
    try:
        network = Network(id=new_id(), name="fdbnet", subnet="10.77.9.0/24", vni=4242)
        peer = Peer(ip="10.77.9.5", mac=mac_for_ip("10.77.9.5"), node_addr="198.51.100.98")
        for node_addr in ("198.51.100.98", "198.51.100.97"):
            # Each run as a daemon start: a new object adopting the device.
            overlay = OverlayNetwork(nl, Names("tfdb"), network, "198.51.100.99")
            overlay.create()
            overlay.program(frozenset({dataclasses.replace(peer, node_addr=node_addr)}))
        with IPRoute(netns=ns) as ipr:
            dsts = [
                entry.get_attr("NDA_DST")
                for entry in ipr.fdb("dump")
                if entry.get_attr("NDA_LLADDR") == peer.mac
            ]
        assert dsts == ["198.51.100.97"]
    finally:
        nl.close()
        netns.remove(ns)
