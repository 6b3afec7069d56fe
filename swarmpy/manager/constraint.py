"""Placement constraints (``node.labels.zone==east``): parsing and matching against a node.

Shared by the control API (which refuses a bad constraint), the scheduler's constraint filter
and the global orchestrator (which places one task on every matching node), so the three can
never disagree about what a constraint means.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from swarmpy.errors import InvalidArgument
from swarmpy.model import Node

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


# What a constraint that slipped past the control API becomes: it matches no node.
_NEVER = (Constraint("node.id", "==", ""),)


def parse(expr: str) -> Constraint:
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


def parse_all(exprs: Sequence[str]) -> tuple[Constraint, ...]:
    return tuple(parse(e) for e in exprs)


def parse_stored(exprs: Sequence[str]) -> tuple[Constraint, ...]:
    """The constraints of a spec already in the store: the control API refuses bad ones, so
    one that slipped in anyway places nothing rather than failing a whole reconciliation."""
    try:
        return parse_all(exprs)
    except InvalidArgument:
        return _NEVER


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


def node_attribute(key: str, node: Node) -> str:
    """A node's value of ``node.labels.zone``, ``node.hostname``, ... ("" when it has none):
    what constraints compare and placement preferences spread over."""
    return _node_value(key, node)


def valid_attribute(key: str) -> bool:
    return key in _PLAIN_KEYS or (
        key.startswith(_LABEL_PREFIXES) and not key.endswith(".") and key not in _LABEL_PREFIXES
    )


def node_matches(constraints: Sequence[Constraint], node: Node) -> bool:
    for c in constraints:
        # SwarmKit compares values case-insensitively (labels' keys stay case-sensitive).
        equal = _node_value(c.key, node).lower() == c.value.lower()
        if equal != (c.op == "=="):
            return False
    return True
