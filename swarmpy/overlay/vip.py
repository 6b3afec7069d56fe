"""VIP balancing: in each container netns, DNAT from a service's VIP to its running tasks.

A nat chain on hook output (priority -100) sends ``ip daddr`` through a vmap to one chain per
VIP doing ``dnat to numgen inc mod N map {0: ip1, ...}``; conntrack keeps a session on the
backend it started with. A VIP with no running task is rejected so clients fail fast.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from swarmpy.model import EndpointMode, NetworkView
from swarmpy.overlay.nft import (
    Command,
    Nft,
    base_chain,
    chain,
    ip_set,
    match,
    payload,
    replace_table,
    rule,
)

FAMILY = "ip"
NAT_CHAIN = "vip-nat"
REJECT_CHAIN = "vip-reject"


@dataclass(frozen=True)
class VipRule:
    vip: str  # "10.0.1.2", no prefix
    backends: tuple[str, ...]  # sorted, so an unchanged view yields an equal rule


def vip_rules(view: NetworkView, network_ids: Iterable[str]) -> tuple[VipRule, ...]:
    """The VIPs a container on ``network_ids`` can reach, each with its backends there."""
    wanted = set(network_ids)
    backends: dict[tuple[str, str], list[str]] = defaultdict(list)
    for ep in view.endpoints:
        if not ep.reachable_only:
            backends[(ep.service_id, ep.network_id)].append(ep.ip)
    rules = [
        VipRule(vip.addr.split("/")[0], tuple(sorted(backends[(svc.service_id, vip.network_id)])))
        for svc in view.services
        if svc.endpoint_mode == EndpointMode.VIP
        for vip in svc.virtual_ips
        if vip.network_id in wanted
    ]
    return tuple(sorted(rules, key=lambda r: r.vip))


def _chain_name(vip: str) -> str:
    return "vip-" + vip.replace(".", "-")


def _dnat_to_backends(backends: tuple[str, ...]) -> Command:
    numgen = {"numgen": {"mode": "inc", "mod": len(backends), "offset": 0}}
    mapping = [[i, ip] for i, ip in enumerate(backends)]
    return {"dnat": {"addr": {"map": {"key": numgen, "data": {"set": mapping}}}}}


def vip_ruleset(table: str, rules: Iterable[VipRule]) -> list[Command]:
    """nftables JSON commands that atomically make ``table`` hold exactly ``rules``."""
    balanced = [r for r in rules if r.backends]
    empty = [r.vip for r in rules if not r.backends]
    body: list[Command] = []
    if balanced:
        body.append(base_chain(FAMILY, table, NAT_CHAIN, "nat", "output", -100))
        for r in balanced:
            body.append(chain(FAMILY, table, _chain_name(r.vip)))
            body.append(rule(FAMILY, table, _chain_name(r.vip), [_dnat_to_backends(r.backends)]))
        verdicts = [[r.vip, {"jump": {"target": _chain_name(r.vip)}}] for r in balanced]
        vmap = {"vmap": {"key": payload("ip", "daddr"), "data": {"set": verdicts}}}
        body.append(rule(FAMILY, table, NAT_CHAIN, [vmap]))
    if empty:
        # reject is not valid in a nat chain; a filter chain after nat sees only VIPs that
        # were not translated.
        body.append(base_chain(FAMILY, table, REJECT_CHAIN, "filter", "output", 0))
        reject = [match(payload("ip", "daddr"), ip_set(empty)), {"reject": None}]
        body.append(rule(FAMILY, table, REJECT_CHAIN, reject))
    return replace_table(FAMILY, table, body)


class VipTables:
    """The VIP table of every local sandbox, rewritten only when its rules change."""

    def __init__(self, table: str, open_nft: Callable[[str], Nft]) -> None:
        self._table = table
        self._open_nft = open_nft
        self._nft: dict[str, Nft] = {}
        self._applied: dict[str, tuple[VipRule, ...]] = {}

    def apply(self, sandbox: str, rules: tuple[VipRule, ...]) -> None:
        if self._applied.get(sandbox) == rules:
            return
        nft = self._nft.get(sandbox)
        if nft is None:
            nft = self._nft[sandbox] = self._open_nft(sandbox)
        nft.run(vip_ruleset(self._table, rules))
        self._applied[sandbox] = rules

    def forget(self, sandbox: str) -> None:
        """Drop our handle; the table goes away with the sandbox's netns."""
        self._nft.pop(sandbox, None)
        self._applied.pop(sandbox, None)
