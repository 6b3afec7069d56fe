"""The agent's NetworkProvider: sandboxes, overlay and local-bridge attachments, VIPs,
published ports (the ingress sandbox and the host's port rules, ``ingress.py``).

pyroute2's sync handles cannot run inside the event loop and are not thread-safe, so every
kernel operation runs on one worker thread; that also serialises setup, teardown and view
updates without a lock. All mutable state is touched only from that thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, TypeVar

from swarmpy.errors import RuntimeFailure
from swarmpy.model import (
    Network,
    NetworkView,
    PortConfig,
    PortProtocol,
    PublishMode,
    Task,
    mac_for_ip,
)
from swarmpy.netns import netns_path
from swarmpy.overlay import containerports
from swarmpy.overlay.attachment import Attachment
from swarmpy.overlay.containerports import Forward
from swarmpy.overlay.forwarding import remote_peers
from swarmpy.overlay.ingress import (
    HostPort,
    IngressLink,
    IngressSandbox,
    host_ruleset,
    mesh_ports,
)
from swarmpy.overlay.localbridge import DEFAULT_SUBNET, AddressPool, LocalBridge
from swarmpy.overlay.names import Names, container_ifname
from swarmpy.overlay.netlink import Netlink
from swarmpy.overlay.nft import Nft, delete_table, open_nft
from swarmpy.overlay.overlay import OverlayNetwork, device_holder
from swarmpy.overlay.sandbox import RESOLV_CONF, Sandboxes, SandboxInfo, hostname_for, hosts_file
from swarmpy.overlay.vip import VipTables, vip_rules

log = logging.getLogger(__name__)

T = TypeVar("T")

SandboxEvent = Literal["created", "removing"]
# Called with the netns path after a sandbox is wired and before it is destroyed (the DNS
# server must close its socket in it first, or the namespace lingers).
SandboxHook = Callable[[SandboxEvent, Task, str], Awaitable[None] | None]

VIP_TABLE = "swarmpy"
VIEW_WAIT_S = 10.0  # a task can arrive just before the view that describes its network


class OverlayNetworkProvider:
    def __init__(
        self,
        node_addr: str,
        data_root: Path,
        name_prefix: str = "sp",
        local_subnet: str = DEFAULT_SUBNET,
        on_sandbox: SandboxHook | None = None,
        host_netns: str | None = None,
    ) -> None:
        """``host_netns`` None: this process's netns is the host (the daemon's case)."""
        self.node_addr = node_addr
        self._names = Names(name_prefix)
        self._on_sandbox = on_sandbox
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"net-{name_prefix}")
        self._nl = Netlink(host_netns)
        self._sandboxes = Sandboxes(self._nl)
        self._pool = AddressPool(local_subnet, data_root / "network" / "local-addresses.json")
        self._local: LocalBridge | None = None
        self._vips = VipTables(VIP_TABLE, open_nft)
        self._networks: dict[str, OverlayNetwork] = {}
        self._attachments: dict[str, tuple[Attachment, ...]] = {}
        self._view = NetworkView()
        self._view_arrived = asyncio.Event()
        self._closed = False
        self._ingress: IngressSandbox | None = None
        self._ingress_failed: tuple[Network, str] | None = None  # the wiring that failed last
        self._host_ports: dict[str, tuple[HostPort, ...]] = {}  # task id → its host-mode ports
        self._host_nft: Nft | None = None
        self._container_nft: Nft | None = None
        # What the host's port table was last made from: (mesh ports, host-mode ports).
        self._host_rules: tuple[object, ...] | None = None

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # ------------------------------------------------------------ NetworkProvider

    async def setup(self, task: Task) -> SandboxInfo:
        networks = await self._networks_of(task)
        atts = await self._run(self._setup_sync, task, networks)
        path = netns_path(self._names.sandbox(task.id))
        await self._notify("created", task, path)
        hostname = hostname_for(task)
        return SandboxInfo(
            netns_path=path,
            resolv_conf=RESOLV_CONF,
            hosts=hosts_file(hostname, atts[0].ip if atts else None),
            hostname=hostname,
        )

    async def teardown(self, task: Task) -> None:
        await self._notify("removing", task, netns_path(self._names.sandbox(task.id)))
        await self._run(self._teardown_sync, task)

    async def adopt(self, task: Task) -> bool:
        """Take back a task whose sandbox outlived a daemon restart; False if it is gone.

        Rebuilds our records (and any missing bridge/VXLAN device) without touching the
        container's interfaces, so the next view reprograms its peers and VIPs.
        """
        networks = await self._networks_of(task)
        return await self._run(self._adopt_sync, task, networks)

    async def apply_view(self, view: NetworkView) -> None:
        if view == self._view:
            # Every assignment message carries the view; most leave it as it was.
            return
        self._view = view
        self._view_arrived.set()
        self._view_arrived = asyncio.Event()
        await self._run(self._apply_view_sync, view)

    # ------------------------------------------------------------ standalone containers

    async def attach_local(self, container_id: str, name: str) -> Attachment:
        """A standalone container's sandbox (netns ``sandbox_name(container_id)``) with one
        leg, eth0, on the node-local bridge (Docker's default ``bridge`` network); the same
        address as before for a container that had one."""
        return await self._run(self._attach_local_sync, container_id, name)

    async def adopt_local(self, container_id: str, name: str) -> Attachment | None:
        """A standalone container's sandbox that outlived a daemon restart, taken back
        (None: it is gone)."""
        return await self._run(self._adopt_local_sync, container_id, name)

    async def detach_local(self, container_id: str, release: bool = True) -> None:
        """Its sandbox and leg gone; with ``release`` its address too."""
        await self._run(self._detach_local_sync, container_id, release)

    async def publish_container_ports(self, forwards: list[Forward]) -> None:
        """The host's DNAT rules for every port standalone containers publish, replaced."""
        await self._run(self._publish_container_ports_sync, forwards)

    async def attach_overlay(self, container_id: str, task: Task) -> Attachment:
        """A standalone container's sandbox (made if missing) plugged into an attachable
        overlay at the address of its attachment ``task``, as eth0: the network made on
        this node if it is its first user, its peers and VIPs programmed as a task's."""
        networks = await self._networks_of(task)
        return await self._run(self._attach_overlay_sync, container_id, task, networks[0])

    async def adopt_overlay(self, container_id: str, task: Task) -> bool:
        """A standalone container's leg that outlived a daemon restart, taken back (its
        network's devices made again if missing, peers and VIPs reprogrammed from the next
        view); False when its sandbox is gone."""
        networks = await self._networks_of(task)
        return await self._run(self._adopt_overlay_sync, container_id, task, networks[0])

    async def detach_overlay(self, attachment_id: str, container_id: str) -> None:
        """Its leg gone (the sandbox stays its owner's), the overlay too if nothing else on
        this node uses it."""
        await self._run(self._detach_overlay_sync, attachment_id, container_id)

    def sandbox_name(self, container_id: str) -> str:
        return self._names.sandbox(container_id)

    @property
    def local_gateway(self) -> str:
        return str(self._pool.gateway)

    @property
    def local_subnet(self) -> str:
        return str(self._pool.network)

    def _local_attachment(self, container_id: str, name: str) -> Attachment:
        cidr = self._pool.allocate(container_id)
        return Attachment(
            task_id=container_id,
            container_name=name,
            network_id="",
            sandbox=self._names.sandbox(container_id),
            ifname=container_ifname(0),
            veth=self._names.veth(container_id, 0),
            cidr=cidr,
            mac=mac_for_ip(cidr),
        )

    def _attach_local_sync(self, container_id: str, name: str) -> Attachment:
        att = self._local_attachment(container_id, name)
        self._nl.delete_link(att.veth)  # a leftover of a crashed run
        self._sandboxes.create(att.sandbox)
        try:
            self._local_bridge().attach(att)
        except Exception:
            self._detach_local_sync(container_id, release=False)
            raise
        self._attachments[container_id] = (att,)
        return att

    def _adopt_local_sync(self, container_id: str, name: str) -> Attachment | None:
        att = self._local_attachment(container_id, name)
        if att.sandbox not in self._nl.list_netns():
            return None
        self._local_bridge().ensure()
        self._attachments[container_id] = (att,)
        return att

    def _detach_local_sync(self, container_id: str, release: bool) -> None:
        self._attachments.pop(container_id, None)
        self._nl.delete_link(self._names.veth(container_id, 0))
        self._sandboxes.destroy(self._names.sandbox(container_id))
        if release:
            self._pool.release(container_id)

    def _overlay_attachment(self, container_id: str, task: Task, net: Network) -> Attachment:
        na = task.networks[0]
        return Attachment(
            task_id=container_id,  # what network inspect lists: the container
            container_name=task.name,
            network_id=net.id,
            sandbox=self._names.sandbox(container_id),
            ifname=container_ifname(0),
            veth=self._names.veth(task.id, 0),
            cidr=na.addresses[0],
            mac=na.mac or mac_for_ip(na.addresses[0]),
        )

    def _attach_overlay_sync(self, container_id: str, task: Task, net: Network) -> Attachment:
        att = self._overlay_attachment(container_id, task, net)
        self._nl.delete_link(att.veth)  # a leftover of a crashed run
        if att.sandbox not in self._nl.list_netns():
            self._sandboxes.create(att.sandbox)
        self._attachments[task.id] = (att,)
        try:
            self._attach_overlays((att,), [net])
        except Exception:
            self._detach_overlay_sync(task.id, container_id)
            raise
        return att

    def _adopt_overlay_sync(self, container_id: str, task: Task, net: Network) -> bool:
        att = self._overlay_attachment(container_id, task, net)
        if att.sandbox not in self._nl.list_netns():
            return False
        self._attachments[task.id] = (att,)
        self._overlay(net)
        self._apply_vips((att,), self._view)
        return True

    def _detach_overlay_sync(self, attachment_id: str, container_id: str) -> None:
        self._attachments.pop(attachment_id, None)
        self._nl.delete_link(self._names.veth(attachment_id, 0))
        self._vips.forget(self._names.sandbox(container_id))
        self._release_unused_overlays()

    def _publish_container_ports_sync(self, forwards: list[Forward]) -> None:
        if forwards:
            self._local_bridge().ensure()
        if self._container_nft is None:
            self._container_nft = open_nft(self._nl.host_netns)
        containerports.apply(
            self._container_nft,
            self._nl.host_netns,
            self._names.container_ports_table,
            self._names.local_bridge,
            str(self._pool.network),
            forwards,
        )

    # ------------------------------------------------------------ what network inspect shows

    def local_containers(self, network_id: str) -> list[dict[str, str]]:
        atts = list(self._attachments.values())  # a snapshot: the worker may add meanwhile
        return [a.inspect() for task_atts in atts for a in task_atts if a.network_id == network_id]

    def local_networks(self) -> list[str]:
        return list(self._networks)

    # ------------------------------------------------------------ lifecycle

    async def cleanup_all(self) -> None:
        """Remove every kernel object with our prefix (daemon shutdown, lab down)."""
        await self._run(self._cleanup_sync)

    async def close(self) -> None:
        """Let go of our handles; the kernel objects stay (containers outlive the daemon)."""
        if self._closed:
            return
        self._closed = True
        await self._run(self._nl.close)
        self._executor.shutdown(wait=True)

    # ------------------------------------------------------------ helpers on the loop

    async def _networks_of(self, task: Task) -> list[Network]:
        deadline = time.monotonic() + VIEW_WAIT_S
        while True:
            known = {n.id: n for n in self._view.networks}
            missing = [a.network_id for a in task.networks if a.network_id not in known]
            if not missing:
                return [known[a.network_id] for a in task.networks]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeFailure(f"network {missing[0]} is not known on this node")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._view_arrived.wait(), remaining)

    async def _notify(self, event: SandboxEvent, task: Task, path: str) -> None:
        if self._on_sandbox is None:
            return
        result = self._on_sandbox(event, task, path)
        if inspect.isawaitable(result):
            await result

    # ------------------------------------------------------------ on the worker thread

    def _setup_sync(self, task: Task, networks: list[Network]) -> tuple[Attachment, ...]:
        sandbox = self._names.sandbox(task.id)
        self._sandboxes.create(sandbox)
        try:
            atts = self._plan(task, sandbox, networks)
            self._attachments[task.id] = atts
            if networks:
                self._attach_overlays(atts[: len(networks)], networks)
            if len(atts) > len(networks):
                self._local_bridge().attach(atts[-1])
            self._publish_host_ports(task, atts)
        except Exception:
            self._teardown_sync(task)
            raise
        return atts

    def _adopt_sync(self, task: Task, networks: list[Network]) -> bool:
        sandbox = self._names.sandbox(task.id)
        if sandbox not in self._nl.list_netns():
            return False
        atts = self._plan(task, sandbox, networks)
        self._attachments[task.id] = atts
        if networks:
            for net in networks:
                self._overlay(net)
            self._apply_vips(atts, self._view)
        if len(atts) > len(networks):
            self._local_bridge().ensure()
        self._publish_host_ports(task, atts)
        return True

    def _plan(self, task: Task, sandbox: str, networks: list[Network]) -> tuple[Attachment, ...]:
        def attachment(index: int, network_id: str, cidr: str, mac: str) -> Attachment:
            return Attachment(
                task_id=task.id,
                container_name=task.name,
                network_id=network_id,
                sandbox=sandbox,
                ifname=container_ifname(index),
                veth=self._names.veth(task.id, index),
                cidr=cidr,
                mac=mac or mac_for_ip(cidr),
            )

        for na, net in zip(task.networks, networks, strict=True):
            if not na.addresses:
                raise RuntimeFailure(f"task {task.id} has no address on network {net.name}")
        overlays = tuple(
            attachment(i, na.network_id, na.addresses[0], na.mac)
            for i, na in enumerate(task.networks)
        )
        if networks and not _publishes_host_ports(task):
            return overlays
        # On no overlay, or publishing a host-mode port: a leg on the node-local bridge,
        # which the host reaches (Docker's docker_gwbridge), last.
        local = attachment(len(overlays), "", self._pool.allocate(task.id), "")
        return (*overlays, local)

    def _attach_overlays(self, atts: tuple[Attachment, ...], networks: list[Network]) -> None:
        for att, net in zip(atts, networks, strict=True):
            self._overlay(net).attach(att)
        self._apply_vips(atts, self._view)

    def _overlay(self, net: Network) -> OverlayNetwork:
        """The network's devices on this node, made (idempotently) on first use."""
        overlay = self._networks.get(net.id)
        if overlay is None:
            holder = device_holder((o.network for o in self._networks.values()), net)
            if holder is not None:
                # Failing the task (it is retried) beats a network that breaks later.
                raise RuntimeFailure(
                    f"network {net.name}: VXLAN id {net.vni} is still in use on this node by "
                    f"network {holder.name} ({holder.id[:12]}), which is being removed"
                )
            overlay = OverlayNetwork(self._nl, self._names, net, self.node_addr)
            # Registered before create() so a half-made network is torn down with the task.
            self._networks[net.id] = overlay
            overlay.create()
            overlay.program(remote_peers(self._view, net.id, self.node_addr))
        return overlay

    def _local_bridge(self) -> LocalBridge:
        if self._local is None:
            nft = open_nft(self._nl.host_netns)
            self._local = LocalBridge(self._nl, self._names, self._pool, nft)
        return self._local

    def _apply_vips(self, atts: tuple[Attachment, ...], view: NetworkView) -> None:
        network_ids = [a.network_id for a in atts if a.network_id]
        if network_ids:
            self._vips.apply(atts[0].sandbox, vip_rules(view, network_ids))

    def _apply_view_sync(self, view: NetworkView) -> None:
        try:
            self._sync_ingress(view)
        except RuntimeFailure as exc:
            # The node's mesh is down, not its tasks: the view must still reach them.
            log.warning("ingress sandbox: %s; published ports do not answer on this node", exc)
        for network_id, overlay in self._networks.items():
            overlay.program(remote_peers(view, network_id, self.node_addr))
        for atts in self._attachments.values():
            self._apply_vips(atts, view)
        try:
            self._apply_ports(view)
        except RuntimeFailure as exc:
            log.warning("published ports: %s", exc)

    # ------------------------------------------------------------ published ports

    def _sync_ingress(self, view: NetworkView) -> None:
        """Make the ingress sandbox match the view: on the ingress network at the address
        the allocator gave this node, or gone when there is none."""
        want = _ingress_leg(view, self.node_addr)
        have = self._ingress
        if have is not None and (want is None or (have.network, have.cidr) != want):
            self._ingress = None
            have.destroy()
            self._release_unused_overlays()
        if want is None or self._ingress is not None or want == self._ingress_failed:
            return
        sandbox = IngressSandbox(self._nl, self._names, want[0], want[1], open_nft)
        self._ingress = sandbox
        try:
            sandbox.create_link()
            self._overlay(want[0]).attach(sandbox.attachment())
        except Exception:
            # Not retried for the same network and address: every view would rebuild it.
            self._ingress, self._ingress_failed = None, want
            sandbox.destroy()
            self._release_unused_overlays()
            raise
        self._ingress_failed = None

    def _apply_ports(self, view: NetworkView) -> None:
        """The ingress sandbox's balancing and the host's port rules, each rewritten only
        when what it is made from changed."""
        sandbox = self._ingress
        mesh = mesh_ports(view, sandbox.network.id) if sandbox is not None else ()
        if sandbox is not None:
            sandbox.apply(VIP_TABLE, mesh)
        published = tuple(sorted({(p.protocol, p.published) for p in mesh}))
        host = tuple(sorted(hp for hps in self._host_ports.values() for hp in hps))
        if (published, host) == self._host_rules:
            return
        if self._host_nft is None:
            self._host_nft = open_nft(self._nl.host_netns)
        link = IngressLink.for_prefix(self._names.prefix)
        table = host_ruleset(self._names.ports_table, published, host, link.sandbox_ip)
        self._host_nft.run(table)
        self._host_rules = (published, host)

    def _publish_host_ports(self, task: Task, atts: tuple[Attachment, ...]) -> None:
        taken = {(hp.protocol, hp.published) for hps in self._host_ports.values() for hp in hps}
        ports = []
        for p in task.spec.ports:
            if p.publish_mode != PublishMode.HOST:
                continue
            # No published port: the node picks one, as Docker's engine binds a free one;
            # a task adopted after a restart keeps what it reported.
            published = (
                p.published
                or chosen_port(p, task.status.port_status)
                or free_port(str(p.protocol), taken)
            )
            taken.add((str(p.protocol), published))
            ports.append(HostPort(str(p.protocol), published, atts[-1].ip, p.target))
        if ports:
            self._host_ports[task.id] = tuple(ports)
            self._apply_ports(self._view)

    def published_ports(self, task_id: str) -> tuple[PortConfig, ...]:
        return tuple(
            PortConfig(hp.target, hp.published, PortProtocol(hp.protocol), PublishMode.HOST)
            for hp in self._host_ports.get(task_id, ())
        )

    def _release_unused_overlays(self) -> None:
        """Destroy the overlays no local task and no ingress sandbox is on."""
        in_use = {a.network_id for task_atts in self._attachments.values() for a in task_atts}
        if self._ingress is not None:
            in_use.add(self._ingress.network.id)
        for network_id in [n for n in self._networks if n not in in_use]:
            self._networks.pop(network_id).destroy()

    def _teardown_sync(self, task: Task) -> None:
        sandbox = self._names.sandbox(task.id)
        self._attachments.pop(task.id, None)
        # By name, not from our records, so a task set up before a restart is cleaned too
        # (its node-local leg, if any, comes after its overlays).
        for index in range(len(task.networks) + 1):
            self._nl.delete_link(self._names.veth(task.id, index))
        self._vips.forget(sandbox)
        self._sandboxes.destroy(sandbox)
        self._pool.release(task.id)
        if self._host_ports.pop(task.id, None):
            self._apply_ports(self._view)
        self._release_unused_overlays()

    def _cleanup_sync(self) -> None:
        for name in self._nl.list_netns():
            if self._names.owns_netns(name):
                self._vips.forget(name)
                self._sandboxes.destroy(name)
        for ifname in self._nl.link_names():
            if self._names.owns_link(ifname):
                self._nl.delete_link(ifname)
        host_nft = open_nft(self._nl.host_netns)
        host_nft.run(delete_table("ip", self._names.nat_table))
        host_nft.run(delete_table("ip", self._names.ports_table))
        host_nft.run(delete_table("ip", self._names.container_ports_table))
        self._ingress = None
        self._host_ports.clear()
        self._host_nft = None
        self._container_nft = None
        self._host_rules = None
        for task_id in self._attachments:
            self._pool.release(task_id)
        self._attachments.clear()
        self._networks.clear()
        self._local = None


def _publishes_host_ports(task: Task) -> bool:
    return any(p.publish_mode == PublishMode.HOST for p in task.spec.ports)


def chosen_port(port: PortConfig, reported: tuple[PortConfig, ...]) -> int:
    """The published port this node reported for ``port`` earlier (0 if none)."""
    return next(
        (
            r.published
            for r in reported
            if (r.target, r.protocol, r.publish_mode)
            == (port.target, port.protocol, PublishMode.HOST)
        ),
        0,
    )


def free_port(protocol: str, taken: set[tuple[str, int]]) -> int:
    """A port of the host free now for ``protocol``: the kernel's pick for a bind to port 0
    (from its ephemeral range, as Docker's port allocator picks from it), not one this node
    already gave a task."""
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    for _ in range(64):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind(("0.0.0.0", 0))
            port = int(probe.getsockname()[1])
        if (protocol, port) not in taken:
            return port
    raise RuntimeFailure(f"no free {protocol} port on this node for a host-mode port")


def _ingress_leg(view: NetworkView, node_addr: str) -> tuple[Network, str] | None:
    """The ingress network and this node's sandbox address on it ("ip/prefix"), if any."""
    ingress = next((n for n in view.networks if n.ingress), None)
    if ingress is None:
        return None
    for ep in view.endpoints:
        if ep.network_id == ingress.id and not ep.task_id and ep.node_addr == node_addr:
            return ingress, f"{ep.ip}/{ingress.subnet.split('/')[1]}"
    return None
