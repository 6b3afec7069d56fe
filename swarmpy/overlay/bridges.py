"""Networks on one host, as Docker's local networks: the built-in ``bridge``, ``host`` and
``none``, and user-defined bridges (``network create -d bridge``).

A user bridge is a Linux bridge (``<prefix>bru<id[:7]>``) with the gateway's address, outbound
masquerading unless ``--internal``, and nftables forward rules that keep it apart from the
node's other bridges (Docker's DOCKER-ISOLATION chains) and, when internal, from the outside.
A container joins it with a veth leg in its network namespace (the standalone container's
sandbox, ``Names.sandbox(container id)``), an address from the network's subnet and, on the
first network that is not internal, a default route. Containers on a user bridge resolve each
other's names (container name, short id, ``--alias``es) at 127.0.0.11: the caller is told the
networks each container is on (``on_container``) to serve its DNS socket, and reads the names
from ``dns_names``.

The built-in ``bridge`` is the provider's node-local bridge (swarmpy.overlay.localbridge); its
containers are attached by the provider (``attach_local``), not here. Networks and endpoints
are kept in ``<data root>/network/bridges.json`` so a restarted daemon knows them.

Kernel work runs on one worker thread of its own (pyroute2 handles are per thread); the pure
decisions (subnets, addresses, lookups, names, rules) are plain functions.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import ipaddress
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from swarmpy.errors import Conflict, InvalidArgument, NotFound, RuntimeFailure
from swarmpy.fsutil import write_atomic
from swarmpy.model import mac_for_ip
from swarmpy.netns import netns_path
from swarmpy.overlay.attachment import Attachment, plug
from swarmpy.overlay.localbridge import _enable_forwarding, masquerade_ruleset
from swarmpy.overlay.names import Names, container_ifname
from swarmpy.overlay.netlink import Netlink, run_in_netns
from swarmpy.overlay.nft import (
    Command,
    Nft,
    base_chain,
    delete_table,
    match,
    open_nft,
    replace_table,
    rule,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")

BRIDGE_MTU = 1500
BUILTIN = ("bridge", "host", "none")
# The built-in networks' drivers, as Docker's.
BUILTIN_DRIVERS = {"bridge": "bridge", "host": "host", "none": "null"}
# Docker's default local address pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s.
_POOLS = [ipaddress.IPv4Network(f"172.{n}.0.0/16") for n in range(17, 32)] + list(
    ipaddress.IPv4Network("192.168.0.0/16").subnets(new_prefix=20)
)
# Told a container's id, its sandbox's netns path and the user networks it is now on (none:
# it left the last), so the DNS socket follows.
ContainerHook = Callable[[str, str, tuple[str, ...]], Awaitable[None] | None]
# Told Docker's network events: (action, network id, attributes).
EventHook = Callable[[str, str, dict[str, str]], None]


@dataclass(frozen=True)
class BridgeNetwork:
    id: str
    name: str
    driver: str = "bridge"  # "bridge", or a built-in's: "host", "null"
    subnet: str = ""
    gateway: str = ""
    internal: bool = False
    attachable: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[str, str], ...] = ()
    created_at: float = 0.0

    @property
    def builtin(self) -> bool:
        return self.name in BUILTIN


@dataclass(frozen=True)
class BridgeEndpoint:
    """A container's leg on a user bridge."""

    container_id: str
    container_name: str
    network_id: str
    sandbox: str  # netns name
    ifname: str
    veth: str
    cidr: str  # "172.20.0.2/16"
    aliases: tuple[str, ...] = ()

    @property
    def ip(self) -> str:
        return self.cidr.split("/")[0]

    @property
    def mac(self) -> str:
        return mac_for_ip(self.cidr)

    @property
    def endpoint_id(self) -> str:
        return hashlib.sha256(f"{self.container_id}/{self.network_id}".encode()).hexdigest()

    def inspect(self) -> dict[str, str]:
        """The entry ``network inspect`` lists under Containers."""
        return {
            "Name": self.container_name,
            "EndpointID": self.endpoint_id,
            "MacAddress": self.mac,
            "IPv4Address": self.cidr,
            "IPv6Address": "",
        }

    def attachment(self) -> Attachment:
        return Attachment(
            task_id=self.container_id,
            container_name=self.container_name,
            network_id=self.network_id,
            sandbox=self.sandbox,
            ifname=self.ifname,
            veth=self.veth,
            cidr=self.cidr,
            mac=self.mac,
        )


# ---------------------------------------------------------------- pure decisions


def _overlaps(net: ipaddress.IPv4Network, taken: Iterable[str]) -> bool:
    return any(net.overlaps(ipaddress.IPv4Network(t, strict=False)) for t in taken if t)


def pick_subnet(taken: Sequence[str]) -> str:
    """The first of Docker's default local pools that overlaps nothing ``taken``."""
    for pool in _POOLS:
        if not _overlaps(pool, taken):
            return str(pool)
    raise RuntimeFailure(
        "could not find an available, non-overlapping IPv4 address pool among the defaults "
        "to assign to the network"
    )


def route_subnets(proc_net_route: str) -> list[str]:
    """The destinations of a netns's routes (its ``/proc/net/route``, little-endian hex), but
    the default one: a new bridge's pool must overlap none of them, as Docker checks."""
    found = []
    for line in proc_net_route.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dest = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
            mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
        except ValueError:
            continue
        if int(mask):
            found.append(str(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)))
    return found


def plan_ipam(subnet: str, gateway: str, taken: Sequence[str]) -> tuple[str, str]:
    """(subnet, gateway) for a new bridge, as Docker's default IPAM checks them: a subnet
    written without host bits, overlapping no other network; a gateway inside it (the first
    address by default)."""
    if not subnet:
        if gateway:
            raise InvalidArgument("invalid pool request: gateway given without a subnet")
        subnet = pick_subnet(taken)
    else:
        try:
            net = ipaddress.IPv4Network(subnet, strict=False)
        except ValueError:
            raise InvalidArgument(f"invalid CIDR address: {subnet}") from None
        if str(net) != subnet:
            raise InvalidArgument(f"invalid subnet {subnet} : it should be {net}")
        if net.prefixlen > 30:
            raise InvalidArgument(f"invalid subnet {subnet}: too small for a network")
        if _overlaps(net, taken):
            raise Conflict("Pool overlaps with other one on this address space")
    net = ipaddress.IPv4Network(subnet)
    if not gateway:
        return subnet, str(next(net.hosts()))
    try:
        gw = ipaddress.IPv4Address(gateway)
    except ValueError:
        raise InvalidArgument(f"invalid gateway address {gateway}") from None
    if gw not in net or gw in (net.network_address, net.broadcast_address):
        raise InvalidArgument(f"no matching subnet for gateway {gateway}")
    return subnet, gateway


def allocate_address(subnet: str, gateway: str, taken: Iterable[str], wanted: str = "") -> str:
    """A container's address ("ip/prefix"): ``wanted`` if free (``--ip``), else the lowest
    free host address."""
    net = ipaddress.IPv4Network(subnet)
    used = {*taken, gateway}
    if wanted:
        try:
            ip = ipaddress.IPv4Address(wanted)
        except ValueError:
            raise InvalidArgument(f"invalid IPv4 address: {wanted}") from None
        if ip not in net or ip in (net.network_address, net.broadcast_address):
            raise InvalidArgument(f"no configured subnet contains IP address {wanted}")
        if wanted in used:
            raise Conflict("Address already in use")
        return f"{wanted}/{net.prefixlen}"
    for host in net.hosts():
        if str(host) not in used:
            return f"{host}/{net.prefixlen}"
    raise RuntimeFailure(f"no available IPv4 addresses on this network's address pools: {subnet}")


def find_network(networks: Iterable[BridgeNetwork], ref: str) -> BridgeNetwork | None:
    """Docker's lookup of a network: the full id, the full name, then a unique id prefix."""
    found = list(networks)
    for net in found:
        if net.id == ref:
            return net
    for net in found:
        if net.name == ref:
            return net
    matches = [net for net in found if net.id.startswith(ref)] if ref else []
    if len(matches) > 1:
        raise InvalidArgument(f"network {ref} is ambiguous ({len(matches)} matches found)")
    return matches[0] if matches else None


def check_name(name: str, taken: Iterable[str]) -> None:
    if not name:
        raise InvalidArgument("network name must not be empty")
    if name in BUILTIN:
        raise Conflict(f"operation is not permitted on predefined {name} network")
    if name in set(taken):
        raise Conflict(f"network with name {name} already exists")


def dns_names(endpoints: Iterable[BridgeEndpoint]) -> dict[str, dict[str, list[str]]]:
    """Per user network, the names its containers answer to at 127.0.0.11: the container's
    name, its short id and its aliases on that network (as Docker's embedded DNS)."""
    names: dict[str, dict[str, list[str]]] = {}
    for ep in endpoints:
        on_net = names.setdefault(ep.network_id, {})
        for name in dict.fromkeys((ep.container_name, ep.container_id[:12], *ep.aliases)):
            if name:
                on_net.setdefault(name.lower(), []).append(ep.ip)
    return names


def isolation_ruleset(table: str, bridges: Sequence[str], internal: Sequence[str]) -> list[Command]:
    """Docker's isolation of bridge networks: nothing is forwarded from one of the node's
    bridges to another, and nothing in or out of an internal one."""
    family = "inet"
    rules: list[Command] = [base_chain(family, table, "forward", "filter", "forward", -1)]

    def drop(*exprs: Command) -> None:
        rules.append(rule(family, table, "forward", [*exprs, {"drop": None}]))

    iif, oif = {"meta": {"key": "iifname"}}, {"meta": {"key": "oifname"}}
    for name in internal:
        drop(match(iif, name), match(oif, name, op="!="))
        drop(match(oif, name), match(iif, name, op="!="))
    for a in bridges:
        for b in bridges:
            if a != b:
                drop(match(iif, a), match(oif, b))
    return replace_table(family, table, rules)


def _network_json(net: BridgeNetwork) -> dict[str, Any]:
    doc = asdict(net)
    doc["labels"] = dict(net.labels)
    doc["options"] = dict(net.options)
    return doc


def _network_from(doc: Mapping[str, Any]) -> BridgeNetwork:
    return BridgeNetwork(
        **{
            **doc,
            "labels": tuple(sorted(dict(doc.get("labels") or {}).items())),
            "options": tuple(sorted(dict(doc.get("options") or {}).items())),
        }
    )


# ---------------------------------------------------------------- the node's networks


def _serialised(
    fn: Callable[Concatenate[BridgeNetworks, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[BridgeNetworks, P], Coroutine[Any, Any, R]]:
    """One change at a time: an attach picks a free address, and two at once would pick
    the same one."""

    async def serialised(self: BridgeNetworks, /, *args: P.args, **kwargs: P.kwargs) -> R:
        async with self._lock:
            return await fn(self, *args, **kwargs)

    serialised.__doc__ = fn.__doc__
    return serialised


@dataclass
class _State:
    networks: dict[str, BridgeNetwork] = field(default_factory=dict)
    endpoints: list[BridgeEndpoint] = field(default_factory=list)


class BridgeNetworks:
    """The node's local networks and its containers' legs on its user bridges."""

    def __init__(
        self,
        data_root: Path,
        names: Names,
        local_subnet: str,
        host_netns: str | None = None,
        on_container: ContainerHook | None = None,
        nl: Netlink | None = None,
        nft_opener: Callable[[str | None], Nft] = open_nft,
        on_event: EventHook | None = None,
    ) -> None:
        self._path = data_root / "network" / "bridges.json"
        self._names = names
        self._local_subnet = local_subnet
        self._host_netns = host_netns
        self._on_container = on_container
        self._nl = nl or Netlink(host_netns)
        self._open_nft = nft_opener
        self._on_event = on_event
        self._nft: Nft | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"bridges-{names.prefix}")
        self._state = self._load()
        if not self._path.exists():
            # The built-in networks' ids, drawn just now, are kept as dockerd keeps them:
            # until a container used a user bridge nothing was saved, and `network ls`
            # showed new ids for bridge, host and none after every restart.
            self._save()
        self._made: set[str] = set()  # bridges made (or found) since this daemon started
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------ names and files

    def bridge_name(self, network_id: str) -> str:
        # Under the provider's "br" names, so its cleanup of the prefix takes these too.
        return f"{self._names.prefix}bru{network_id[:7]}"

    @property
    def default_bridge_name(self) -> str:
        """The device of the built-in ``bridge`` (the provider's node-local bridge)."""
        return self._names.local_bridge

    @property
    def isolation_table(self) -> str:
        return f"{self._names.prefix}iso"

    def nat_table(self, network_id: str) -> str:
        return f"{self._names.prefix}nat{network_id[:8]}"

    def _load(self) -> _State:
        state = _State()
        try:
            doc = json.loads(self._path.read_text())
        except FileNotFoundError:
            doc = {}
        except (OSError, ValueError) as e:
            raise RuntimeFailure(f"read {self._path}: {e}") from None
        for item in doc.get("networks") or []:
            net = _network_from(item)
            state.networks[net.id] = net
        for item in doc.get("endpoints") or []:
            state.endpoints.append(
                BridgeEndpoint(**{**item, "aliases": tuple(item.get("aliases") or ())})
            )
        # The built-in networks, each with an id of its own kept across restarts.
        for name in BUILTIN:
            if not any(n.name == name for n in state.networks.values()):
                net = BridgeNetwork(
                    id=secrets.token_hex(32),
                    name=name,
                    driver=BUILTIN_DRIVERS[name],
                    subnet=self._local_subnet if name == "bridge" else "",
                    created_at=time.time(),
                )
                state.networks[net.id] = net
        bridge = next(n for n in state.networks.values() if n.name == "bridge")
        subnet = ipaddress.IPv4Network(self._local_subnet)
        state.networks[bridge.id] = replace(
            bridge, subnet=str(subnet), gateway=str(next(subnet.hosts()))
        )
        return state

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "networks": [_network_json(n) for n in self._state.networks.values()],
            "endpoints": [{**asdict(e), "aliases": list(e.aliases)} for e in self._state.endpoints],
        }
        write_atomic(self._path, json.dumps(doc, indent=1))

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # ------------------------------------------------------------ reading

    def networks(self) -> list[BridgeNetwork]:
        return sorted(self._state.networks.values(), key=lambda n: n.name)

    def get(self, ref: str) -> BridgeNetwork:
        net = find_network(self._state.networks.values(), ref)
        if net is None:
            raise NotFound(f"network {ref} not found")
        return net

    def find(self, ref: str) -> BridgeNetwork | None:
        return find_network(self._state.networks.values(), ref)

    def endpoints(self, network_id: str = "", container_id: str = "") -> list[BridgeEndpoint]:
        return [
            e
            for e in self._state.endpoints
            if (not network_id or e.network_id == network_id)
            and (not container_id or e.container_id == container_id)
        ]

    def dns_names(self) -> dict[str, dict[str, list[str]]]:
        return dns_names(self._state.endpoints)

    def user_subnets(self) -> list[str]:
        return [n.subnet for n in self._state.networks.values() if n.subnet]

    # ------------------------------------------------------------ networks

    @_serialised
    async def create(
        self,
        name: str,
        subnet: str = "",
        gateway: str = "",
        internal: bool = False,
        attachable: bool = False,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        taken: Sequence[str] = (),
        taken_names: Iterable[str] = (),
    ) -> BridgeNetwork:
        """A new user bridge. ``taken``: other subnets it must not overlap (the swarm's);
        ``taken_names``: other networks' names (a name is unique across them all)."""
        check_name(name, [*taken_names, *(n.name for n in self._state.networks.values())])
        if options:
            raise InvalidArgument(
                f"bridge driver option {sorted(options)[0]!r} is not supported by swarmpy"
            )
        routes: list[str] = []
        if not subnet:
            # A pool picked for the user must not shadow a network the host reaches (a
            # docker0, a VPN): Docker skips those too. One the user names is theirs to pick.
            routes = await self._run(self._host_routes)
        subnet, gateway = plan_ipam(subnet, gateway, [*self.user_subnets(), *taken, *routes])
        net = BridgeNetwork(
            id=secrets.token_hex(32),
            name=name,
            subnet=subnet,
            gateway=gateway,
            internal=internal,
            attachable=attachable,
            labels=tuple(sorted((labels or {}).items())),
            created_at=time.time(),
        )
        self._state.networks[net.id] = net
        try:
            await self._run(self._ensure_bridge, net)
            await self._run(self._apply_isolation)
        except Exception:
            self._state.networks.pop(net.id, None)
            await self._run(self._destroy_bridge, net)
            raise
        self._save()
        self._event("create", net)
        return net

    def _event(self, action: str, net: BridgeNetwork, **extra: str) -> None:
        if self._on_event is not None:
            self._on_event(action, net.id, {"name": net.name, "type": net.driver, **extra})

    @_serialised
    async def remove(self, ref: str) -> BridgeNetwork:
        """Remove a user bridge no container is on (Docker's words otherwise)."""
        net = self.get(ref)
        if net.builtin:
            raise Conflict(f"{net.name} is a pre-defined network and cannot be removed")
        if self.endpoints(net.id):
            raise Conflict(
                f"error while removing network: network {net.name} id {net.id} has active endpoints"
            )
        self._state.networks.pop(net.id, None)
        self._save()
        await self._run(self._destroy_bridge, net)
        await self._run(self._apply_isolation)
        self._event("destroy", net)
        return net

    # ------------------------------------------------------------ containers

    @_serialised
    async def attach(
        self,
        container_id: str,
        container_name: str,
        network_ref: str,
        aliases: Sequence[str] = (),
        ip: str = "",
    ) -> BridgeEndpoint:
        """Plug the container's sandbox (made if missing) into a user bridge: a veth leg
        (the next free ethN), an address (``ip`` if given), a default route via this
        network's gateway if the container has none and the network is not internal. The
        caller's ``on_container`` hook then serves its DNS."""
        net = self.get(network_ref)
        if net.builtin:
            raise InvalidArgument(
                f"container cannot be connected to network {net.name} here: it is "
                "Docker's built-in network (use the container's --network)"
            )
        if self.endpoints(net.id, container_id):
            raise Conflict(
                f"endpoint with name {container_name} already exists in network {net.name}"
            )
        taken = [e.ip for e in self.endpoints(net.id)]
        cidr = allocate_address(net.subnet, net.gateway, taken, ip)
        sandbox = self._names.sandbox(container_id)
        ep = await self._run(
            self._attach_sync, net, container_id, container_name, sandbox, cidr, tuple(aliases)
        )
        self._state.endpoints.append(ep)
        self._save()
        await self._notify(container_id, sandbox)
        self._event("connect", net, container=container_id)
        return ep

    @_serialised
    async def detach(self, container_id: str, network_ref: str) -> None:
        net = self.get(network_ref)
        found = self.endpoints(net.id, container_id)
        if not found:
            raise NotFound(f"container {container_id} is not connected to network {net.name}")
        await self._drop(found)

    @_serialised
    async def detach_all(self, container_id: str) -> None:
        """Every leg of the container on user bridges gone (its container is removed)."""
        await self._drop(self.endpoints(container_id=container_id))

    async def readopt(self, container_id: str) -> None:
        """After a daemon restart: serve DNS again for a container whose sandbox lived on."""
        found = self.endpoints(container_id=container_id)
        if found and found[0].sandbox in self._nl.list_netns():
            await self._notify(container_id, found[0].sandbox)

    async def close(self) -> None:
        await self._run(self._nl.close)
        self._executor.shutdown(wait=True)

    async def cleanup_all(self) -> None:
        """Every bridge and table of ours gone (the daemon's kernel cleanup)."""
        for net in self.networks():
            if not net.builtin:
                await self._run(self._destroy_bridge, net)
        await self._run(self._delete_isolation)

    async def _drop(self, endpoints: Sequence[BridgeEndpoint]) -> None:
        if not endpoints:
            return
        for ep in endpoints:
            await self._run(self._nl.delete_link, ep.veth)
        gone = set(endpoints)
        self._state.endpoints = [e for e in self._state.endpoints if e not in gone]
        self._save()
        await self._notify(endpoints[0].container_id, endpoints[0].sandbox)
        for ep in endpoints:
            net = self._state.networks.get(ep.network_id)
            if net is not None:
                self._event("disconnect", net, container=ep.container_id)

    async def _notify(self, container_id: str, sandbox: str) -> None:
        if self._on_container is None:
            return
        networks = tuple(e.network_id for e in self.endpoints(container_id=container_id))
        result = self._on_container(container_id, netns_path(sandbox), networks)
        if inspect.isawaitable(result):
            await result

    # ------------------------------------------------------------ on the worker thread

    def _ensure_bridge(self, net: BridgeNetwork) -> int:
        name = self.bridge_name(net.id)
        index = self._nl.ensure_bridge(name, BRIDGE_MTU)
        prefix = net.subnet.split("/")[1]
        self._nl.add_address(name, f"{net.gateway}/{prefix}")
        if not net.internal:
            self._nft_handle().run(masquerade_ruleset(self.nat_table(net.id), net.subnet, name))
            run_in_netns(self._host_netns, _enable_forwarding)
        self._made.add(net.id)
        return index

    def _destroy_bridge(self, net: BridgeNetwork) -> None:
        self._nl.delete_link(self.bridge_name(net.id))
        self._nft_handle().run(delete_table("ip", self.nat_table(net.id)))
        self._made.discard(net.id)

    def _apply_isolation(self) -> None:
        users = [n for n in self._state.networks.values() if not n.builtin]
        bridges = [self._names.local_bridge, *(self.bridge_name(n.id) for n in users)]
        internal = [self.bridge_name(n.id) for n in users if n.internal]
        if len(bridges) == 1 and not internal:
            self._delete_isolation()
            return
        self._nft_handle().run(isolation_ruleset(self.isolation_table, bridges, internal))

    def _delete_isolation(self) -> None:
        self._nft_handle().run(delete_table("inet", self.isolation_table))

    def _host_routes(self) -> list[str]:
        # /proc/net follows the netns of the thread that opens it.
        return route_subnets(
            run_in_netns(self._host_netns, lambda: Path("/proc/net/route").read_text())
        )

    def _nft_handle(self) -> Nft:
        if self._nft is None:
            self._nft = self._open_nft(self._host_netns)
        return self._nft

    def _attach_sync(
        self,
        net: BridgeNetwork,
        container_id: str,
        container_name: str,
        sandbox: str,
        cidr: str,
        aliases: tuple[str, ...],
    ) -> BridgeEndpoint:
        if net.id not in self._made:
            # The first use since the daemon started: the bridge and the isolation rules
            # are made again if a reboot took them.
            self._ensure_bridge(net)
            self._apply_isolation()
        if sandbox not in self._nl.list_netns():
            self._nl.create_netns(sandbox)
        present = set(self._nl.link_names(ns=sandbox))
        index = next(i for i in range(64) if container_ifname(i) not in present)
        ep = BridgeEndpoint(
            container_id=container_id,
            container_name=container_name,
            network_id=net.id,
            sandbox=sandbox,
            ifname=container_ifname(index),
            veth=self._names.veth(container_id, index),
            cidr=cidr,
            aliases=aliases,
        )
        self._nl.delete_link(ep.veth)  # a leftover of a crashed run
        bridge = self._nl.link_index(self.bridge_name(net.id))
        if bridge is None:
            raise RuntimeFailure(f"bridge of network {net.name} vanished")
        plug(self._nl, bridge, ep.attachment(), BRIDGE_MTU)
        if not net.internal:
            self._nl.add_default_route(net.gateway, ns=sandbox)
        return ep
