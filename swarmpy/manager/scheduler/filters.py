"""Node filters: can this node run this task? And, when no node can, why not.

As in SwarmKit, a node is checked against the filters in order and the first one that rejects
it is the one blamed, so the reason a task stays pending reads like Docker's
``no suitable node (1 node not available for new tasks; 2 nodes not satisfying constraints)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from swarmpy.errors import InvalidArgument
from swarmpy.model import Node, NodeAvailability, NodeState, Task

OPERATORS = ("==", "!=")
_KEY = re.compile(r"^[a-zA-Z0-9_.\-]+$")
_VALUE = re.compile(r"^[a-zA-Z0-9_.\-:/@*]+$")
_PLAIN_KEYS = ("node.id", "node.hostname", "node.role")
_LABEL_PREFIXES = ("node.labels.", "engine.labels.")


@dataclass(frozen=True)
class Constraint:
    key: str
    op: str  # "==" or "!="
    value: str


def parse_constraint(expr: str) -> Constraint:
    """Parse ``node.labels.zone==east``; InvalidArgument with a fixable message if bad."""
    for op in OPERATORS:
        if op in expr:
            key, _, value = (part.strip() for part in expr.partition(op))
            break
    else:
        raise InvalidArgument(
            f'invalid constraint "{expr}": constraint expected one operator from '
            + ", ".join(OPERATORS)
        )
    if not _KEY.match(key):
        raise InvalidArgument(f"invalid constraint \"{expr}\": key '{key}' is invalid")
    if not _VALUE.match(value):
        raise InvalidArgument(f"invalid constraint \"{expr}\": value '{value}' is invalid")
    label = next((p for p in _LABEL_PREFIXES if key.startswith(p)), None)
    if key not in _PLAIN_KEYS and (label is None or key == label):
        raise InvalidArgument(
            f"invalid constraint \"{expr}\": key '{key}' is not supported (use node.id, "
            "node.hostname, node.role, node.labels.<label> or engine.labels.<label>)"
        )
    if key == "node.role" and value.lower() not in ("manager", "worker"):
        raise InvalidArgument(f'invalid constraint "{expr}": node.role is either manager or worker')
    return Constraint(key, op, value)


def parse_constraints(exprs: Sequence[str]) -> tuple[Constraint, ...]:
    return tuple(parse_constraint(e) for e in exprs)


def _node_value(key: str, node: Node) -> str:
    if key == "node.id":
        return node.id
    if key == "node.hostname":
        return node.hostname
    if key == "node.role":
        return str(node.role)
    if key.startswith("node.labels."):
        # A missing label compares as empty, as in SwarmKit: `!=` matches, `==` does not.
        return node.label_dict().get(key[len("node.labels.") :], "")
    return ""  # engine.labels: nodes report none


def constraints_match(constraints: Sequence[Constraint], node: Node) -> bool:
    for c in constraints:
        # SwarmKit compares values case-insensitively (labels' keys stay case-sensitive).
        equal = _node_value(c.key, node).lower() == c.value.lower()
        if equal != (c.op == "=="):
            return False
    return True


@dataclass
class NodeLoad:
    """The scheduler's running tally for one node: what it already runs and reserves."""

    node: Node
    tasks: int = 0
    tasks_by_service: dict[str, int] = field(default_factory=dict)
    nano_cpus: int = 0
    memory_bytes: int = 0

    def add(self, task: Task) -> None:
        self.tasks += 1
        self.tasks_by_service[task.service_id] = self.tasks_by_service.get(task.service_id, 0) + 1
        reserved = task.spec.resources.reservations
        self.nano_cpus += reserved.nano_cpus
        self.memory_bytes += reserved.memory_bytes


class Filter(Protocol):
    def check(self, node: Node, task: Task, ctx: NodeLoad) -> bool: ...

    def explain(self, count: int) -> str: ...


def _nodes(count: int) -> str:
    return "1 node" if count == 1 else f"{count} nodes"


class ReadyFilter:
    """Only READY, ACTIVE nodes take new tasks (SwarmKit folds both checks into one)."""

    def check(self, node: Node, task: Task, ctx: NodeLoad) -> bool:
        return node.state == NodeState.READY and node.availability == NodeAvailability.ACTIVE

    def explain(self, count: int) -> str:
        return f"{_nodes(count)} not available for new tasks"


class ConstraintFilter:
    def __init__(self) -> None:
        self._parsed: dict[tuple[str, ...], tuple[Constraint, ...]] = {}

    def constraints(self, task: Task) -> tuple[Constraint, ...]:
        exprs = task.spec.constraints
        if exprs not in self._parsed:
            try:
                self._parsed[exprs] = parse_constraints(exprs)
            except InvalidArgument:
                # The control API rejects these; one that slipped in matches nothing.
                self._parsed[exprs] = (Constraint("node.id", "==", ""),)
        return self._parsed[exprs]

    def check(self, node: Node, task: Task, ctx: NodeLoad) -> bool:
        return constraints_match(self.constraints(task), node)

    def explain(self, count: int) -> str:
        return f"scheduling constraints not satisfied on {_nodes(count)}"


class ResourceFilter:
    """Reservations of the tasks already there plus this one must fit the node."""

    def check(self, node: Node, task: Task, ctx: NodeLoad) -> bool:
        want = task.spec.resources.reservations
        have = node.resources
        if want.nano_cpus and ctx.nano_cpus + want.nano_cpus > have.nano_cpus:
            return False
        return not (want.memory_bytes and ctx.memory_bytes + want.memory_bytes > have.memory_bytes)

    def explain(self, count: int) -> str:
        return f"insufficient resources on {_nodes(count)}"


def default_filters() -> tuple[Filter, ...]:
    return (ReadyFilter(), ConstraintFilter(), ResourceFilter())


def first_failing(filters: Sequence[Filter], node: Node, task: Task, ctx: NodeLoad) -> int:
    """Index of the first filter rejecting the node, or -1 if it passes them all."""
    for i, f in enumerate(filters):
        if not f.check(node, task, ctx):
            return i
    return -1


def explain(filters: Sequence[Filter], failures: dict[int, int]) -> str:
    """Docker's pending reason from how many nodes each filter rejected."""
    parts = [filters[i].explain(n) for i, n in sorted(failures.items()) if n]
    return "no suitable node" + (f" ({'; '.join(parts)})" if parts else "")
