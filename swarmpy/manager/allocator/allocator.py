"""The allocator loop (leader only): writes the addresses ``network.py`` decides.

NEW tasks get an address on each of their networks and move to PENDING, where the scheduler
takes them; services get their VIPs and published ports; nodes an address for their ingress
sandbox.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from swarmpy.manager.allocator.network import needs_allocation, plan_allocation
from swarmpy.manager.controlloop import ControlLoop
from swarmpy.manager.state.store import (
    NETWORKS,
    NODES,
    SERVICES,
    TASKS,
    Event,
    Tx,
    write_chunked,
)
from swarmpy.model import (
    NetworkAttachment,
    Node,
    PortConfig,
    Service,
    Task,
    TaskState,
    TaskStatus,
    VirtualIP,
    now,
)

PENDING_MESSAGE = "pending task scheduling"

log = logging.getLogger(__name__)


class Allocator(ControlLoop):
    """Leader-only loop: allocates NEW tasks (→ PENDING) and service VIPs."""

    name = "allocator"
    tables = (SERVICES, NETWORKS, TASKS, NODES)
    # The nodes already warned about (no ingress sandbox address), with the reason: a
    # thousand nodes beyond the ingress subnet were a thousand warnings per tick.
    _warned: dict[str, str] | None = None

    def wants(self, event: Event) -> bool:
        if event.table in (SERVICES, NETWORKS):
            return True
        if event.table == NODES:
            # A new node needs an ingress sandbox address; most node updates are heartbeats.
            return event.action != "update"
        if event.table != TASKS:
            return False
        # A new task to allocate, or an ended/deleted one whose address a waiting task wants.
        task: Task = event.obj
        return event.action == "delete" or needs_allocation(task) or task.status.state.terminal

    async def tick(self, events: Sequence[Event]) -> float | None:
        snapshot = self.store.view()
        tasks = snapshot.all(TASKS)
        plan = plan_allocation(
            snapshot.all(NETWORKS), snapshot.all(SERVICES), tasks, snapshot.all(NODES)
        )
        stamp = now()
        errs = {t.id: t.status.err for t in tasks}
        warned = self._warned if self._warned is not None else {}
        for node_id, why in plan.ingress_failed.items():
            if warned.get(node_id) != why:
                log.warning("no ingress sandbox address: %s", why)
        self._warned = dict(plan.ingress_failed)

        def set_vips(tx: Tx, item: tuple[str, tuple[VirtualIP, ...]]) -> None:
            service: Service | None = tx.get(SERVICES, item[0])
            if service is not None:
                tx.put(SERVICES, dataclasses.replace(service, virtual_ips=item[1]))

        def set_ports(tx: Tx, item: tuple[str, tuple[PortConfig, ...]]) -> None:
            service: Service | None = tx.get(SERVICES, item[0])
            if service is not None:
                tx.put(SERVICES, dataclasses.replace(service, endpoint_ports=item[1]))

        def set_ingress_addr(tx: Tx, item: tuple[str, str]) -> None:
            node: Node | None = tx.get(NODES, item[0])
            if node is not None:
                tx.put(NODES, dataclasses.replace(node, ingress_addr=item[1]))

        def attach(tx: Tx, item: tuple[str, tuple[NetworkAttachment, ...]]) -> None:
            task: Task | None = tx.get(TASKS, item[0])
            if task is None or not needs_allocation(task):
                return
            status = TaskStatus(TaskState.PENDING, stamp, PENDING_MESSAGE)
            tx.put(TASKS, dataclasses.replace(task, networks=item[1], status=status))

        def report(tx: Tx, item: tuple[str, str]) -> None:
            task: Task | None = tx.get(TASKS, item[0])
            if task is not None and needs_allocation(task):
                status = dataclasses.replace(task.status, err=item[1], timestamp=stamp)
                tx.put(TASKS, dataclasses.replace(task, status=status))

        await write_chunked(self.store, list(plan.vips.items()), set_vips)
        await write_chunked(self.store, list(plan.ports.items()), set_ports)
        await write_chunked(self.store, list(plan.ingress_addrs.items()), set_ingress_addr)
        await write_chunked(self.store, list(plan.tasks.items()), attach)
        failed = [(k, v) for k, v in plan.failed.items() if errs.get(k) != v]
        await write_chunked(self.store, failed, report)
        return None
