"""Docker's swarm events (``docker events``) from the store's change events, and their
filters (daemon/events.go and daemon/events/filter.go in Docker). Pure."""

from __future__ import annotations

from typing import Any

from swarmpy.manager.state.store import NETWORKS, NODES, SERVICES, Event
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
        # A node's heartbeat rewrites it often: only a change Docker shows is an event.
        if old is not None and len(attributes) == 1:
            return None
    elif event.table is NETWORKS:
        network: Network = event.obj
        kind, attributes = "network", {"name": network.name, "type": network.driver}
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


def event_matches(filters: Filters, event: dict[str, Any]) -> bool:
    kind = event["Type"]
    actor = event["Actor"]
    names = {actor["ID"], actor["Attributes"].get("name", "")}

    def about(key: str) -> bool:
        # A filter on one kind of object (service=web) keeps only events of that kind.
        return key not in filters or (kind == key and bool(names & set(filters.get(key))))

    return (
        filters.any("type", (kind == v for v in filters.get("type")))
        and filters.any("event", (event["Action"] == v for v in filters.get("event")))
        and filters.any("scope", (event["scope"] == v for v in filters.get("scope")))
        and all(about(k) for k in ("service", "node", "network", "container", "image"))
        and not any(k in filters for k in ("config", "secret", "plugin", "volume", "daemon"))
        and filters.labels("label", actor["Attributes"])
    )
