"""Which names the embedded DNS answers itself, built from the manager's NetworkView.

Pure data: no sockets, no wire format. A container only ever sees names from the networks it
is attached to, and the first of its networks that knows a name wins, as in Docker.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from swarmpy.model import EndpointMode, NetworkView, VirtualIP

# Docker answers every name it owns with this TTL; clients re-ask after a task change
# anyway because they usually do not cache.
TTL = 600

T = TypeVar("T")

TYPE_A = 1
TYPE_PTR = 12

_REVERSE_SUFFIX = ".in-addr.arpa"


def normalize(name: str) -> str:
    """Names are matched case-insensitively, with or without the trailing dot."""
    return name.rstrip(".").lower()


def wire_name(name: str) -> bytes | None:
    """The lookup key: the uncompressed wire form of the normalized name, so the fast path
    can look up the question's bytes as they arrive (lowercased) without decoding them.
    None for names that cannot be ours (non-ASCII, empty or oversized labels)."""
    labels = normalize(name).split(".")
    if not name.isascii() or any(not 0 < len(label) < 64 for label in labels):
        return None
    return b"".join(bytes([len(label)]) + label.encode() for label in labels) + b"\x00"


def reverse_name(ip: str) -> str:
    return ".".join(reversed(ip.split("."))) + _REVERSE_SUFFIX


@dataclass(frozen=True)
class Answer:
    """What we know for a name we own: A addresses and/or a PTR target (often neither
    for the asked type, which is NOERROR with no answers, never NXDOMAIN or a forward)."""

    addresses: tuple[str, ...] = ()
    ptr: str | None = None
    ttl: int = TTL


@dataclass(frozen=True)
class _Name:
    addresses: tuple[str, ...]
    shuffle: bool  # tasks.<svc> and dnsrr names spread clients over the tasks


@dataclass(frozen=True)
class _NetworkRecords:
    # Both keyed by wire_name().
    names: dict[bytes, _Name] = field(default_factory=dict)
    ptrs: dict[bytes, str] = field(default_factory=dict)  # reverse name -> target


class RecordIndex:
    """An immutable snapshot; the server swaps in a new one on every view update."""

    def __init__(self, by_network: dict[str, _NetworkRecords] | None = None) -> None:
        self._by_network = by_network or {}

    @classmethod
    def from_view(
        cls, view: NetworkView, local: Mapping[str, Mapping[str, Sequence[str]]] | None = None
    ) -> RecordIndex:
        """The view's names, and ``local`` ones: per node-local network (a user bridge),
        name -> addresses (a container's name, short id and aliases)."""
        addrs: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        shuffled: dict[str, set[str]] = defaultdict(set)
        ptrs: dict[str, dict[str, str]] = defaultdict(dict)
        for net, local_names in (local or {}).items():
            for local_name, ips in local_names.items():
                addrs[net][normalize(local_name)].extend(ips)
                for ip in ips:
                    ptrs[net].setdefault(reverse_name(ip), local_name)

        tasks_by_service: dict[tuple[str, str], list[str]] = defaultdict(list)
        for ep in view.endpoints:
            if ep.reachable_only:
                # As Docker's disabled service binding: no name of it answers.
                continue
            net = ep.network_id
            container = normalize(ep.container_name)
            addrs[net][container].append(ep.ip)
            ptrs[net][reverse_name(ep.ip)] = ep.container_name
            if not ep.service_id:
                # A standalone container: its name and aliases, no slot.
                for alias in dict.fromkeys(normalize(a) for a in ep.aliases):
                    if alias != container:
                        addrs[net][alias].append(ep.ip)
                continue
            # <service>.<slot> is the container name without its task id (for global
            # services the "slot" is the node id, exactly as in the container name).
            slot_name = container.rsplit(".", 1)[0]
            addrs[net][slot_name].append(ep.ip)
            tasks_by_service[(net, ep.service_id)].append(ep.ip)

        for svc in view.services:
            name = normalize(svc.name)
            for net in _service_networks(svc.virtual_ips, tasks_by_service, svc.service_id):
                task_ips = tasks_by_service.get((net, svc.service_id), [])
                addrs[net]["tasks." + name] = list(task_ips)
                shuffled[net].add("tasks." + name)
                # The service's aliases on this network answer as its name does.
                names = [name] + [
                    normalize(alias)
                    for entry in svc.aliases
                    if entry.network == net
                    for alias in entry.aliases
                ]
                if svc.endpoint_mode is EndpointMode.DNSRR:
                    for each in names:
                        addrs[net][each] = list(task_ips)
                        shuffled[net].add(each)
                    continue
                vips = [v.addr.split("/")[0] for v in svc.virtual_ips if v.network_id == net]
                for each in names:
                    addrs[net][each] = vips
                for vip in vips:
                    ptrs[net][reverse_name(vip)] = svc.name

        by_network = {
            net: _NetworkRecords(
                names=_keyed(
                    {n: _Name(tuple(ips), n in shuffled[net]) for n, ips in addrs[net].items()}
                ),
                ptrs=_keyed(ptrs[net]),
            )
            for net in set(addrs) | set(ptrs)
        }
        return cls(by_network)

    def answer(self, name: str, qtype: int, networks: Iterable[str]) -> Answer | None:
        """Our answer for (name, qtype) as seen from a container on ``networks``, or None if
        the name is not ours (the caller forwards it upstream)."""
        key = wire_name(name)
        return None if key is None else self.answer_wire(key, qtype, networks)

    def answer_wire(self, key: bytes, qtype: int, networks: Iterable[str]) -> Answer | None:
        """``answer`` for a name already in wire form and lowercased."""
        for net in networks:
            records = self._by_network.get(net)
            if records is None:
                continue
            entry = records.names.get(key)
            if entry is not None:
                if qtype != TYPE_A:
                    return Answer()
                return Answer(addresses=_ordered(entry))
            target = records.ptrs.get(key)
            if target is not None:
                return Answer(ptr=target if qtype == TYPE_PTR else None)
        return None


def _keyed(by_name: Mapping[str, T]) -> dict[bytes, T]:
    keyed = {}
    for name, value in by_name.items():
        key = wire_name(name)
        if key is not None:  # a name no query can carry cannot be asked for either
            keyed[key] = value
    return keyed


def _service_networks(
    vips: Sequence[VirtualIP],
    tasks_by_service: dict[tuple[str, str], list[str]],
    service_id: str,
) -> set[str]:
    """A service is on a network if it has a VIP there or a running task there (dnsrr
    services have no VIPs)."""
    nets = {v.network_id for v in vips}
    nets.update(net for (net, sid) in tasks_by_service if sid == service_id)
    return nets


def _ordered(entry: _Name) -> tuple[str, ...]:
    if not entry.shuffle or len(entry.addresses) < 2:
        return entry.addresses
    ips = list(entry.addresses)
    random.shuffle(ips)
    return tuple(ips)
