"""`swarmpy stack rm STACK...`: removes the stacks' services, secrets, configs and networks
(docker/cli's order and lines), waiting, once the services are gone, until their tasks have
stopped, so that the networks they were on can go too."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import typer

from swarmpy.cli import engine
from swarmpy.cli.engine import EngineClient
from swarmpy.cli.stack.common import by_name, check_name, objects, remove, stack_filter

# Past "running", a task's container is stopped (docker/cli's terminalState).
TERMINAL = {"complete", "shutdown", "failed", "rejected", "orphaned", "remove"}
WAIT_S = 120.0
POLL_S = 0.25


def tasks_done(tasks: Sequence[Mapping[str, Any]]) -> bool:
    return all(t.get("Status", {}).get("State") in TERMINAL for t in tasks)


def wait_on_tasks(api: EngineClient, namespace: str) -> bool:
    """Whether the stack's tasks all stopped within WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not tasks_done(api.get("/tasks", filters=stack_filter(namespace))):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)
    return True


def rm(stacks: list[str] = typer.Argument(..., metavar="STACK [STACK...]")) -> None:
    """Remove one or more stacks."""
    for name in stacks:
        check_name(name)
    api = engine.connect()
    errors = []
    for namespace in stacks:
        found = {kind: objects(api, kind, namespace) for kind in ("services", "networks")}
        for kind in ("secrets", "configs"):
            found[kind] = objects(api, kind, namespace)
        if not any(found.values()):
            typer.echo(f"Nothing found in stack: {namespace}", err=True)
            continue
        failed = remove(api, "services", by_name(found["services"]))
        if found["services"] and not wait_on_tasks(api, namespace):
            errors.append(f"failed to wait on tasks of stack: {namespace}: timed out")
        failed = remove(api, "secrets", found["secrets"]) or failed
        failed = remove(api, "configs", found["configs"]) or failed
        failed = remove(api, "networks", found["networks"]) or failed
        if failed:
            errors.append(f"Failed to remove some resources from stack: {namespace}")
    if errors:
        engine.fail(errors)
