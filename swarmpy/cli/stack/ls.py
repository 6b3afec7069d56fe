"""`swarmpy stack ls`: the stacks, by the namespace label of their services (docker/cli
20.10's columns: NAME SERVICES ORCHESTRATOR)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from swarmpy.cli import engine, output
from swarmpy.cli.task import natural_key
from swarmpy.compose import LABEL_NAMESPACE
from swarmpy.errors import SwarmpyError

COLUMNS = [("NAME", "Name"), ("SERVICES", "Services"), ("ORCHESTRATOR", "Orchestrator")]


def stack_rows(services: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per stack, naturally sorted, with its number of services."""
    counts: dict[str, int] = {}
    for service in services:
        labels = service["Spec"].get("Labels") or {}
        if LABEL_NAMESPACE not in labels:
            raise SwarmpyError(f"cannot get label {LABEL_NAMESPACE} for service {service['ID']}")
        counts[labels[LABEL_NAMESPACE]] = counts.get(labels[LABEL_NAMESPACE], 0) + 1
    return [
        # Namespace is Kubernetes' in docker 20.10, empty for a swarm stack (shown by json).
        {"Name": name, "Services": str(count), "Orchestrator": "Swarm", "Namespace": ""}
        for name, count in sorted(counts.items(), key=lambda item: natural_key(item[0]))
    ]


def ls(fmt: str = output.format_option()) -> None:
    """List stacks."""
    services = engine.connect().get(
        "/services", filters=engine.filters_json({"label": [LABEL_NAMESPACE]})
    )
    output.emit(
        COLUMNS, stack_rows(services), fmt, quiet_key="Name", headers={"Namespace": "NAMESPACE"}
    )
