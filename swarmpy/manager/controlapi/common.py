"""Checks and look-ups every object's control API shares."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from swarmpy.errors import InvalidArgument, NoLeader, NotFound
from swarmpy.manager.state.store import CLUSTERS, Snapshot, StoreObject, Table, Tx
from swarmpy.model import EndpointMode, now

Obj = TypeVar("Obj", bound=StoreObject)


@dataclass(frozen=True)
class RaftMember:
    addr: str
    leader: bool
    reachable: bool


def check_leader(members: Sequence[RaftMember]) -> None:
    """Refuse, as Docker does, when this manager knows no leader: its copy of the store may
    be stale, and it cannot tell."""
    if not any(m.leader for m in members):
        raise NoLeader()


def resolve(snapshot: Snapshot, table: Table[Obj], ref: str, name_of: Callable[[Obj], str]) -> Obj:
    """Find an object by id, then by name, then by unambiguous id prefix."""
    obj = snapshot.get(table, ref)
    if obj is not None:
        return obj
    rows = snapshot.all(table)
    named = [o for o in rows if name_of(o) == ref]
    if len(named) == 1:
        return named[0]
    prefixed = [o for o in rows if o.id.startswith(ref)] if ref else []
    if len(prefixed) == 1:
        return prefixed[0]
    if len(named) > 1 or len(prefixed) > 1:
        raise InvalidArgument(f"{ref} is ambiguous ({len(named) or len(prefixed)} matches found)")
    raise NotFound(f"No such {table.kind}: {ref}")


def serialise(tx: Tx) -> None:
    """Touch the cluster object, so two concurrent creates of one name cannot both commit."""
    cluster = tx.snapshot.cluster()
    if cluster is not None:
        tx.put(CLUSTERS, dataclasses.replace(cluster, updated_at=now()))


def endpoint_mode(value: str) -> EndpointMode:
    try:
        return EndpointMode(value)
    except ValueError:
        raise InvalidArgument(f"invalid endpoint mode {value!r}: expected vip or dnsrr") from None
