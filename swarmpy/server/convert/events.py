"""Docker's events (``docker events``): the swarm's from the store's change events, the
node's containers' from its engine, and their filters (daemon/events.go and
daemon/events/filter.go in Docker). Pure."""

from __future__ import annotations

from typing import Any

from swarmpy.manager.state.store import CONFIGS, NETWORKS, NODES, SECRETS, SERVICES, Event
from swarmpy.model import Network, Node, Service
from swarmpy.server.filters import Filters

EVENT_FILTERS = (
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
)

_ACTIONS = {"create": "create", "update": "update", "delete": "remove"}


def _changes(pairs: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Docker's ``<what>.old`` / ``<what>.new`` attributes of the values that changed."""
    out: dict[str, str] = {}
    for key, (old, new) in pairs.items():
        if old != new:
            out[f"{key}.old"], out[f"{key}.new"] = old, new
    return out


def _service_attributes(service: Service, old: Service | None) -> dict[str, str]:
    attributes = {"name": service.spec.name}
    if old is not None:
        state = service.update_status.state if service.update_status else ""
        old_state = old.update_status.state if old.update_status else ""
        attributes.update(
            _changes(
                {
                    "image": (old.spec.container.image, service.spec.container.image),
                    "replicas": (str(old.spec.replicas), str(service.spec.replicas)),
                    "updatestate": (str(old_state), str(state)),
                }
            )
        )
    return attributes


def _node_attributes(node: Node, old: Node | None) -> dict[str, str]:
    attributes = {"name": node.hostname}
    if old is not None:
        attributes.update(
            _changes(
                {
                    "state": (str(old.state), str(node.state)),
                    "availability": (str(old.availability), str(node.availability)),
                    "role": (str(old.role), str(node.role)),
                }
            )
        )
    return attributes


def docker_event(event: Event, at: float) -> dict[str, Any] | None:
    """The Docker event for a store event, or None for what Docker does not report (tasks,
    the cluster object) and for updates that change nothing Docker shows."""
    action = _ACTIONS[event.action]
    old = event.old if event.action == "update" else None
    if event.table is SERVICES:
        kind, attributes = "service", _service_attributes(event.obj, old)
    elif event.table is NODES:
        kind, attributes = "node", _node_attributes(event.obj, old)
        # A node's heartbeat rewrites it often: only a change Docker shows is an event, or
        # one of its spec's labels (`node update --label-add`, an update event in Docker).
        if old is not None and len(attributes) == 1 and old.labels == event.obj.labels:
            return None
    elif event.table is NETWORKS:
        network: Network = event.obj
        kind, attributes = "network", {"name": network.name, "type": network.driver}
    elif event.table is SECRETS or event.table is CONFIGS:
        kind = "secret" if event.table is SECRETS else "config"
        attributes = {"name": event.obj.name}
    else:
        return None
    nanos = int(at * 1_000_000_000)
    return {
        "Type": kind,
        "Action": action,
        "Actor": {"ID": event.obj.id, "Attributes": attributes},
        "scope": "swarm",
        "time": nanos // 1_000_000_000,
        "timeNano": nanos,
    }


def local_event(
    kind: str, action: str, actor: str, attributes: dict[str, str], at: float
) -> dict[str, Any]:
    """Docker's event for this node's engine (a container, an image): local in scope, with
    the status/id/from fields Docker's older clients read (an image has no from)."""
    nanos = int(at * 1_000_000_000)
    legacy = {"status": action, "id": actor}
    if kind == "container":
        legacy["from"] = attributes.get("image", "")
    return {
        **legacy,
        "Type": kind,
        "Action": action,
        "Actor": {"ID": actor, "Attributes": attributes},
        "scope": "local",
        "time": nanos // 1_000_000_000,
        "timeNano": nanos,
    }


def _exact(filters: Filters, key: str, value: str) -> bool:
    """Docker's filters.ExactMatch: no values for ``key`` pass everything."""
    return key not in filters or value in filters.get(key)


def _fuzzy(filters: Filters, key: str, source: str) -> bool:
    """Docker's filters.FuzzyMatch: a value equal to ``source`` or a prefix of it."""
    return key not in filters or any(source.startswith(v) for v in filters.get(key))


# Objects a filter names by ID or name (prefixes too), whatever the event's type: Docker's
# fuzzyMatchName (daemon/events/filter.go).
_BY_NAME = ("daemon", "container", "plugin", "volume", "network", "node", "service", "secret")
_FUZZY_EVENTS = {"health_status", "exec_create", "exec_start"}


def _match_event(filters: Filters, action: str) -> bool:
    if _FUZZY_EVENTS & set(filters.get("event")):
        return _fuzzy(filters, "event", action)
    return _exact(filters, "event", action)


def _match_name(filters: Filters, key: str, actor: dict[str, Any]) -> bool:
    if key not in filters:
        return True
    name = str(actor["Attributes"].get("name", ""))
    return _fuzzy(filters, key, str(actor["ID"])) or _fuzzy(filters, key, name)


def _match_image(filters: Filters, event: dict[str, Any]) -> bool:
    if "image" not in filters:
        return True
    actor = event["Actor"]
    name = str(actor["Attributes"].get("name" if event["Type"] == "image" else "image", ""))
    candidates = {actor["ID"], name, _strip_tag(actor["ID"]), _strip_tag(name)}
    return bool(candidates & set(filters.get("image")))


def _strip_tag(image: str) -> str:
    """reference.FamiliarName of an image name: without its tag or digest."""
    name = image.split("@", 1)[0]
    repo, sep, tag = name.rpartition(":")
    if sep and "/" not in tag:
        name = repo
    return name.removeprefix("docker.io/").removeprefix("library/")


def event_matches(filters: Filters, event: dict[str, Any]) -> bool:
    """Docker's events Filter.Include: every key's values OR-ed, the keys AND-ed."""
    actor = event["Actor"]
    return (
        _match_event(filters, str(event["Action"]))
        and _exact(filters, "type", str(event["Type"]))
        and _exact(filters, "scope", str(event.get("scope", "")))
        and all(_match_name(filters, key, actor) for key in (*_BY_NAME, "config"))
        and _match_image(filters, event)
        and filters.labels("label", actor["Attributes"])
    )
