"""What each node learns of the routing mesh: the ingress network on every node, every
node's ingress sandbox as an endpoint there, and the services' ingress-mode ports."""

from __future__ import annotations

import asyncio
import dataclasses

from swarmpy.manager.allocator.network import ingress_network
from swarmpy.manager.dispatcher.netview import INGRESS_SANDBOX, ViewBuilder
from swarmpy.manager.state.store import NETWORKS, NODES, SERVICES, TASKS, LocalLog, Store, Tx
from swarmpy.model import NetworkAttachment, NetworkView, PortConfig, PublishMode, TaskState
from tests.support.builders import node, service, task


def test_every_node_sees_the_sandboxes_the_backends_and_the_ports() -> None:
    ingress = ingress_network()
    a = node("a", addr="198.51.100.1", ingress_addr="10.0.0.2/24")
    b = node("b", addr="198.51.100.2", ingress_addr="10.0.0.3/24")
    c = node("c", addr="198.51.100.3", ingress_addr="10.0.0.4/24")
    ports = (PortConfig(80, 8080), PortConfig(81, 9090, publish_mode=PublishMode.HOST))
    web = dataclasses.replace(service("web", ports=ports), endpoint_ports=ports)
    running = dataclasses.replace(
        task(web, 1, TaskState.RUNNING, node_id=a.id),
        networks=(NetworkAttachment(ingress.id, ("10.0.0.5/24",), "02:42:0a:00:00:05"),),
    )
    starting = dataclasses.replace(
        task(web, 2, TaskState.STARTING, node_id=b.id),
        networks=(NetworkAttachment(ingress.id, ("10.0.0.6/24",), "02:42:0a:00:00:06"),),
    )

    def fill(tx: Tx) -> None:
        tx.create(NETWORKS, ingress)
        for obj in (a, b, c):
            tx.create(NODES, obj)
        tx.create(SERVICES, web)
        for t in (running, starting):
            tx.create(TASKS, t)

    async def views() -> tuple[NetworkView, NetworkView]:
        store = Store(LocalLog())
        await store.update(fill)
        builder = ViewBuilder(store.view())
        return builder.view_for(a.id), builder.view_for(c.id)

    on_a, on_c = asyncio.run(views())
    # A node without tasks has the ingress network all the same.
    for view in (on_a, on_c):
        assert [n.id for n in view.networks] == [ingress.id]
        # Only the ingress-mode port is the mesh's.
        assert [s.ports for s in view.services] == [(PortConfig(80, 8080),)]
    # The tasks everywhere, the starting one reachable but no backend yet; every sandbox where
    # a task on ingress runs (its replies go back to them), only its own elsewhere.
    assert sorted((e.container_name, e.ip, e.reachable_only) for e in on_a.endpoints) == [
        (INGRESS_SANDBOX, "10.0.0.2", False),
        (INGRESS_SANDBOX, "10.0.0.3", False),
        (INGRESS_SANDBOX, "10.0.0.4", False),
        (running.name, "10.0.0.5", False),
        (starting.name, "10.0.0.6", True),
    ]
    assert sorted((e.container_name, e.ip, e.reachable_only) for e in on_c.endpoints) == [
        (INGRESS_SANDBOX, "10.0.0.4", False),
        (running.name, "10.0.0.5", False),
        (starting.name, "10.0.0.6", True),
    ]
