"""Docker's service templates (``--hostname "{{.Node.Hostname}}-{{.Task.Slot}}"``): fields of
the service, node and task, filled in by the agent when it makes the task's container.

A subset of Go's text/template, as SwarmKit's template package is used in practice: only
``{{.Group.Field}}`` placeholders. Pure functions; the control API checks a template, the
agent expands it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from swarmpy.errors import InvalidArgument

_PLACEHOLDER = re.compile(r"\{\{\s*\.(\w+)\.(\w+)\s*\}\}")
FIELDS = (
    "Service.ID",
    "Service.Name",
    "Node.ID",
    "Node.Hostname",
    "Task.ID",
    "Task.Name",
    "Task.Slot",
)


def check(text: str, what: str) -> None:
    """Refuse a template with a placeholder swarmpy cannot fill."""
    rest = _PLACEHOLDER.sub("", text)
    for group, name in _PLACEHOLDER.findall(text):
        if f"{group}.{name}" not in FIELDS:
            raise InvalidArgument(
                f"invalid {what} template {text!r}: unknown field .{group}.{name} "
                f"(use {', '.join('.' + f for f in FIELDS)})"
            )
    # "}}" alone is text to Go's templates; only "{{" opens an action.
    if "{{" in rest:
        raise InvalidArgument(f"invalid {what} template {text!r}: expected {{{{.Group.Field}}}}")


def expand(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each placeholder replaced by its value in ``values`` ("Task.Slot": "1")."""
    return _PLACEHOLDER.sub(lambda m: values.get(f"{m.group(1)}.{m.group(2)}", ""), text)


def sample(text: str) -> str:
    """The template as a plain value of the same shape, for checks of the result's syntax."""
    return _PLACEHOLDER.sub("x", text)
