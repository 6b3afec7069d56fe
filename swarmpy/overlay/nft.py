"""Driving nftables in a given netns, plus the JSON building blocks our rulesets share.

libnftables (Debian's ``python3-nftables``, not on PyPI) costs ~0.14 ms per update and binds
to the netns of the thread that creates its context, so we make one context per netns in a
thread that entered it. ``nft -j -f -`` under nsenter (~16 ms) is the fallback.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any, Protocol

from swarmpy.errors import RuntimeFailure
from swarmpy.netns import netns_path
from swarmpy.overlay.netlink import run_in_netns

log = logging.getLogger(__name__)

_DEBIAN_DIST_PACKAGES = "/usr/lib/python3/dist-packages"

Command = dict[str, Any]


class Nft(Protocol):
    def run(self, commands: list[Command]) -> None:
        """Apply ``commands`` as one atomic transaction."""


class LibNft:
    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx

    def run(self, commands: list[Command]) -> None:
        rc, _out, err = self._ctx.json_cmd({"nftables": commands})
        if rc != 0:
            raise RuntimeFailure(f"nftables rejected the update: {str(err).strip()}")


class CliNft:
    def __init__(self, netns: str | None) -> None:
        self._prefix = ["nsenter", f"--net={netns_path(netns)}"] if netns else []

    def run(self, commands: list[Command]) -> None:
        proc = subprocess.run(
            [*self._prefix, "nft", "-j", "-f", "-"],
            input=json.dumps({"nftables": commands}),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeFailure(f"nftables rejected the update: {proc.stderr.strip()}")


def _load_libnftables() -> Any:
    if _DEBIAN_DIST_PACKAGES not in sys.path:
        # Appended, not prepended: the venv's own packages must win.
        sys.path.append(_DEBIAN_DIST_PACKAGES)
    import nftables

    return nftables


def open_nft(netns: str | None) -> Nft:
    """An nftables driver bound to ``netns`` (None: this process's netns)."""
    try:
        module = _load_libnftables()
        return LibNft(run_in_netns(netns, module.Nftables))
    except (ImportError, OSError) as e:
        log.info("libnftables unavailable (%s); falling back to the nft command", e)
        return CliNft(netns)


# ---------------------------------------------------------------- JSON building blocks


def replace_table(family: str, table: str, body: list[Command]) -> list[Command]:
    """Commands that atomically swap table ``table`` for one holding ``body``.

    add-then-delete makes the delete valid whether or not the table existed; an empty body
    leaves no table behind.
    """
    ref = {"family": family, "name": table}
    commands: list[Command] = [{"add": {"table": ref}}, {"delete": {"table": ref}}]
    if body:
        commands += [{"add": {"table": ref}}, *body]
    return commands


def delete_table(family: str, table: str) -> list[Command]:
    return replace_table(family, table, [])


def base_chain(family: str, table: str, name: str, type_: str, hook: str, prio: int) -> Command:
    chain = {"family": family, "table": table, "name": name}
    return {
        "add": {"chain": {**chain, "type": type_, "hook": hook, "prio": prio, "policy": "accept"}}
    }


def chain(family: str, table: str, name: str) -> Command:
    return {"add": {"chain": {"family": family, "table": table, "name": name}}}


def rule(family: str, table: str, chain_name: str, expr: list[Command]) -> Command:
    return {"add": {"rule": {"family": family, "table": table, "chain": chain_name, "expr": expr}}}


def payload(protocol: str, field: str) -> Command:
    return {"payload": {"protocol": protocol, "field": field}}


def match(left: Command, right: Any, op: str = "==") -> Command:
    return {"match": {"op": op, "left": left, "right": right}}


def ip_set(addresses: list[str]) -> Command:
    return {"set": list(addresses)}
