"""The control loops the leader runs, and the pure checks the control API borrows from them."""

from __future__ import annotations

from collections.abc import Sequence

from swarmpy.manager.allocator import Allocator, allocate_network
from swarmpy.manager.orchestrator.loop import ControlLoop
from swarmpy.manager.orchestrator.orchestrator import Orchestrator
from swarmpy.manager.scheduler.filters import parse_constraints
from swarmpy.manager.scheduler.scheduler import Scheduler
from swarmpy.manager.store import Store
from swarmpy.manager.taskreaper import TaskReaper

__all__ = ["allocate_network", "leader_loops", "validate_constraints"]


def leader_loops(store: Store) -> list[ControlLoop]:
    """In the order of a task's life: services → tasks, addresses, nodes."""
    return [Orchestrator(store), Allocator(store), Scheduler(store), TaskReaper(store)]


def validate_constraints(exprs: Sequence[str]) -> None:
    parse_constraints(exprs)
