"""User-defined node resources (GPUs, FPGAs, disks), as SwarmKit's api/genericresource.

A node advertises units of a kind by name (``gpu=UUID1``: NamedResourceSpec) or a count of it
(``SSD=3``: DiscreteResourceSpec); a service reserves counts (``--generic-resource gpu=1``).
The scheduler takes a node only if what its tasks left is enough, and gives each task the units
it took, which its container gets as ``DOCKER_RESOURCE_<KIND>=<names or count>``. Pure
functions over plain data, shared by the daemon's flag, the CLI, the scheduler and the agent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from swarmpy.errors import InvalidArgument
from swarmpy.model import GenericResource

ENV_PREFIX = "DOCKER_RESOURCE"

# Go's strconv.ParseInt(s, 10, 64): an optional sign and decimal digits, within int64.
_INT = re.compile(r"[+-]?[0-9]+")
_INT64 = 1 << 63


def _error(message: str) -> InvalidArgument:
    return InvalidArgument(f"could not parse GenericResource: {message}")


def _discrete(text: str) -> int | None:
    if not _INT.fullmatch(text):
        return None
    value = int(text)
    return value if -_INT64 <= value < _INT64 else None


def named(kind: str, value: str) -> GenericResource:
    return GenericResource(kind=kind, value=value, named=True)


def discrete(kind: str, count: int) -> GenericResource:
    return GenericResource(kind=kind, count=count)


def check_term(term: str, what: str) -> None:
    """docker's ValidateSingleGenericResource, run as each flag value is read (``what``:
    "generic-resource" for the CLI, "node-generic-resource" for the daemon)."""
    if "=" not in term:
        raise InvalidArgument(f"invalid {what} format `{term}` expected `name=value`")


def parse(terms: Iterable[str]) -> tuple[GenericResource, ...]:
    """SwarmKit's genericresource.Parse: ``kind=N`` once is a count, ``kind=name`` (repeated)
    are named units; a kind with both is refused. Kinds in order, for stable specs (Go's map
    order is random there)."""
    tokens: dict[str, list[str]] = {}
    for term in terms:
        parts = term.split("=")
        if len(parts) != 2:
            raise _error(f"incorrect term {term}, missing '=' or malformed expression")
        tokens.setdefault(parts[0].strip(), []).append(parts[1].strip())
    out: list[GenericResource] = []
    for kind in sorted(tokens):
        values = tokens[kind]
        count = _discrete(values[0]) if len(values) == 1 else None
        if count is not None:
            if count < 0:
                raise _error(f"cannot ask for negative resource {kind}")
            out.append(discrete(kind, count))
        elif all(_discrete(v) is None for v in values):
            out += [named(kind, v) for v in values]
        else:
            raise _error(
                f"mixed discrete and named resources in expression '{kind}=[{' '.join(values)}]'"
            )
    return tuple(out)


def parse_request(terms: Sequence[str]) -> tuple[GenericResource, ...]:
    """docker/cli's ParseGenericResources: what `service create|update` may reserve (counts
    only), in its words."""
    try:
        resources = parse(terms)
    except InvalidArgument as e:
        raise InvalidArgument(f"invalid generic resource specification: {e}") from None
    for r in resources:
        if r.named:
            raise InvalidArgument(
                f"invalid generic-resource request `{r.kind}={r.value}`, Named Generic "
                "Resources is not supported for service create or update"
            )
    return resources


def update_request(
    current: Sequence[GenericResource], add: Sequence[str], remove: Sequence[str]
) -> tuple[GenericResource, ...]:
    """docker/cli's addGenericResources then removeGenericResources: an added kind replaces
    the reserved one; a kind removed must be reserved."""
    by_kind: dict[str, GenericResource] = {}
    for r in current:
        if r.named:
            raise InvalidArgument(f"invalid generic-resource `{r.kind}={r.value}` for service task")
        if r.kind in by_kind:
            raise InvalidArgument(f"duplicate generic-resource `{r.kind}` for service task")
        by_kind[r.kind] = r
    for r in parse_request(add) if add else ():
        by_kind[r.kind] = r
    for kind in remove:
        if kind not in by_kind:
            raise InvalidArgument(f"could not find generic-resource `{kind}` to remove it")
        del by_kind[kind]
    return tuple(by_kind[k] for k in sorted(by_kind))


def has_enough(available: Sequence[GenericResource], want: GenericResource) -> bool:
    """SwarmKit's HasEnough: the node has the kind, and enough of it (a count, or as many
    named units). A named reservation is never enough: a task reserves counts only."""
    if want.named:
        return False
    same = [r for r in available if r.kind == want.kind]
    if not same:
        return False
    if same[0].named:
        return want.count <= len(same)
    return want.count <= same[0].count


def has_unit(available: Sequence[GenericResource], unit: GenericResource) -> bool:
    """SwarmKit's HasResource: a unit a task was given is still on the node (that named unit,
    or at least that count of the kind, its type unchanged)."""
    for have in available:
        if have.kind != unit.kind:
            continue
        if not have.named:
            return not unit.named and unit.count <= have.count
        if not unit.named:
            return False
        if unit.value == have.value:
            return True
    return False


def consume(available: list[GenericResource], taken: Sequence[GenericResource]) -> None:
    """SwarmKit's ConsumeNodeResources: ``taken`` leaves ``available`` (in place)."""
    if not taken:
        return
    kept: list[GenericResource] = []
    for have in available:
        gone = False
        for r in taken:
            if r.kind != have.kind or r.named != have.named:
                continue  # another kind, or a kind that changed type
            if have.named:
                if r.value == have.value:
                    gone = True
                    break
            else:
                have = replace(have, count=have.count - r.count)
                if have.count <= 0:
                    gone = True
                    break
        if not gone:
            kept.append(have)
    available[:] = kept


def claim(
    available: list[GenericResource], wanted: Sequence[GenericResource]
) -> tuple[GenericResource, ...]:
    """SwarmKit's Claim: the units a task reserving ``wanted`` takes from ``available``
    (which loses them): named units in the node's order, or the count of a discrete kind."""
    selected: list[GenericResource] = []
    for want in wanted:
        picked: list[GenericResource] = []
        for have in available:
            if have.kind != want.kind:
                continue
            if not have.named:
                if have.count >= want.count and want.count:
                    picked.append(discrete(want.kind, want.count))
                break
            picked.append(have)
            if len(picked) == want.count:
                break
        selected += picked
    consume(available, selected)
    return tuple(selected)


def env(assigned: Sequence[GenericResource]) -> tuple[str, ...]:
    """SwarmKit's EnvFormat: one ``DOCKER_RESOURCE_<KIND>=v1,v2`` per kind (kinds in order)."""
    values: dict[str, list[str]] = {}
    for r in assigned:
        values.setdefault(r.kind, []).append(r.value if r.named else str(r.count))
    return tuple(
        f"{ENV_PREFIX}_{kind}".upper() + "=" + ",".join(vals)
        for kind, vals in sorted(values.items())
    )


def to_json(resources: Sequence[GenericResource]) -> list[dict[str, object]]:
    """Docker's GenericResources JSON."""
    return [
        {"NamedResourceSpec": {"Kind": r.kind, "Value": r.value}}
        if r.named
        else {"DiscreteResourceSpec": {"Kind": r.kind, "Value": r.count}}
        for r in resources
    ]
