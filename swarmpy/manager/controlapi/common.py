"""Checks and look-ups every object's control API shares."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from swarmpy.errors import Conflict, InvalidArgument, NoLeader, NotFound
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


def not_found(table: Table[Any], ref: str) -> NotFound:
    """dockerd's words for a ref it cannot find (daemon/cluster/helpers.go), which docker's
    CLI 23+ prints as they are: "service web not found"."""
    return NotFound(f"{table.kind} {ref} not found")


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
        count = len(named) or len(prefixed)
        raise InvalidArgument(f"{table.kind} {ref} is ambiguous ({count} matches found)")
    raise not_found(table, ref)


def check_sequence(
    client_version: int | None, current_version: int, spec_changed_after: int
) -> None:
    """Refuse an update based on a read of an older spec ("update out of sequence").

    ``client_version`` is the object's version the client read (None: an update from inside
    the swarm, based on the transaction's own read). SwarmKit refuses any version but the
    current one, but there the allocator's and other loops' writes land within milliseconds of
    a create; here they may land while a client (the docker CLI's `service scale` right after
    `service create`) reads and sends back the spec, which those writes did not change. So a
    read is stale only if the spec changed after it, or it names a version not yet written.
    """
    if client_version is None:
        return
    if client_version > current_version or client_version <= spec_changed_after:
        raise Conflict("update out of sequence")


class SpecVersioned(StoreObject, Protocol):
    @property
    def spec_changed_after(self) -> int: ...


def sequenced(tx: Tx, table: Table[Any], current: SpecVersioned, client_version: int | None) -> int:
    """Check ``client_version`` against ``current`` as ``tx`` reads it (check_sequence), and
    return ``current``'s version: what its spec_changed_after becomes if its spec changes."""
    version = tx.snapshot.version(table, current.id)
    assert version is not None, "current was read in tx"
    check_sequence(client_version, version, current.spec_changed_after)
    return version


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
