"""Tasks as docker's task formatter shows them (cli/command/task), shared by `service ps`
and `node ps`: names ``service.slot`` (``service.node`` for a global service), a slot's
tasks together, newest first, older ones indented in a table."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from swarmpy.cli import output
from swarmpy.humanize import human_duration

MAX_ERROR_LENGTH = 30  # docker's maxErrLength
SHORT_ID = 12

COLUMNS = [
    ("ID", "ID"),
    ("NAME", "Name"),
    ("IMAGE", "Image"),
    ("NODE", "Node"),
    ("DESIRED STATE", "DesiredState"),
    ("CURRENT STATE", "CurrentState"),
    ("ERROR", "Error"),
    ("PORTS", "Ports"),
]


def pretty(word: str) -> str:
    """docker's command.PrettyPrint: the first letter upper-cased."""
    return word[:1].upper() + word[1:]


def natural_key(text: str) -> list[tuple[int, Any]]:
    """sortorder.NaturalLess: runs of digits compare as numbers (web.2 < web.10)."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text)]


def familiar(name: str) -> str:
    """reference.FamiliarString: without docker.io/ and library/."""
    if name.startswith("docker.io/"):
        name = name.removeprefix("docker.io/").removeprefix("library/")
    return name


def display_image(image: str, trunc: bool) -> str:
    """docker's task Image(): truncated, a tagged reference loses its digest."""
    if not trunc:
        return image
    name = image.split("@", 1)[0]
    repo, sep, tag = name.rpartition(":")
    if not sep or "/" in tag or not repo:
        return image  # no tag: docker keeps the reference as it is
    return familiar(name)


def error_text(err: str, trunc: bool) -> str:
    if trunc and len(err) > MAX_ERROR_LENGTH:
        err = err[: MAX_ERROR_LENGTH - 1] + "…"
    return f'"{err}"' if err else ""


def current_state(task: Mapping[str, Any], now: float | None = None) -> str:
    status = task.get("Status") or {}
    at = output.parse_iso(status.get("Timestamp", ""))
    ago = max(0.0, (time.time() if now is None else now) - at)
    return f"{pretty(str(status.get('State', '')))} {human_duration(ago).lower()} ago"


def ports_text(task: Mapping[str, Any]) -> str:
    ports = ((task.get("Status") or {}).get("PortStatus") or {}).get("Ports") or []
    return ",".join(
        f"*:{p.get('PublishedPort', 0)}->{p.get('TargetPort', 0)}/{p.get('Protocol', '')}"
        for p in ports
    )


def task_name(task: Mapping[str, Any], service_names: Mapping[str, str]) -> str:
    service = str(task.get("ServiceID", ""))
    service = service_names.get(service, service)
    slot = task.get("Slot")
    return f"{service}.{slot}" if slot else f"{service}.{task.get('NodeID', '')}"


def rows(
    tasks: Sequence[Mapping[str, Any]],
    service_names: Mapping[str, str],
    node_names: Mapping[str, str],
    trunc: bool,
    table: bool = True,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """docker's task.Print over Task documents: sorted by name (naturally), a slot's newest
    first; in a table the older tasks of a slot are indented with `` \\_ ``."""
    named = [(task_name(t, service_names), t) for t in tasks]
    named.sort(key=lambda nt: output.parse_iso(str(nt[1].get("CreatedAt", ""))), reverse=True)
    named.sort(key=lambda nt: natural_key(nt[0]))
    out: list[dict[str, Any]] = []
    previous = ""
    for name, t in named:
        node = str(t.get("NodeID", ""))
        task_id = str(t.get("ID", ""))
        image = str(((t.get("Spec") or {}).get("ContainerSpec") or {}).get("Image", ""))
        out.append(
            {
                "ID": task_id[:SHORT_ID] if trunc else task_id,
                "Name": f" \\_ {name}" if table and name == previous else name,
                "Image": display_image(image, trunc),
                "Node": node_names.get(node, node),
                "DesiredState": pretty(str(t.get("DesiredState", ""))),
                "CurrentState": current_state(t, now),
                "Error": error_text(str((t.get("Status") or {}).get("Err", "")), trunc),
                "Ports": ports_text(t),
            }
        )
        previous = name
    return out


def is_table(fmt: str, quiet: bool) -> bool:
    return not quiet and (not fmt or fmt.startswith(output.TABLE_PREFIX))


def names(api: Any, no_resolve: bool) -> tuple[dict[str, str], dict[str, str]]:
    """Service and node names by id (docker's idresolver), none with --no-resolve."""
    if no_resolve:
        return {}, {}
    services = {s["ID"]: s.get("Spec", {}).get("Name", "") for s in api.get("/services")}
    nodes = {n["ID"]: n.get("Description", {}).get("Hostname", "") for n in api.get("/nodes")}
    return services, nodes


def node_reference(api: Any, ref: str) -> str:
    """docker's node.Reference: "self" is this daemon's node (/info's Swarm.NodeID)."""
    if ref != "self":
        return ref
    node_id = str(api.get("/info").get("Swarm", {}).get("NodeID", ""))
    if not node_id:
        from swarmpy.errors import InvalidArgument

        raise InvalidArgument("node ID not found in /info")
    return node_id


def emit(
    api: Any,
    tasks: Sequence[Mapping[str, Any]],
    fmt: str,
    quiet: bool,
    trunc: bool,
    no_resolve: bool,
) -> None:
    service_names, node_names = names(api, no_resolve)
    listed = rows(tasks, service_names, node_names, trunc, is_table(fmt, quiet))
    output.emit(COLUMNS, listed, fmt, quiet)
