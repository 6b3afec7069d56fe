"""Renewed certificates and a rotating root over a real grpc.aio server on 127.0.0.1: a
manager's port serves new credentials without a restart, and during a root rotation nodes
that trust only the old root, both roots, or only the new root all reach each other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import grpc
import grpc.aio
import pytest

from swarmpy import tls
from swarmpy.ca import certificates as ca
from swarmpy.ca import rotation
from swarmpy.model import Cluster, NodeRole
from swarmpy.tls import NodeCredentials
from tests.support.builders import CLUSTER

pytestmark = pytest.mark.fakeserver


def issue(cluster: Cluster, node_id: str, role: NodeRole) -> NodeCredentials:
    """Credentials as a manager of ``cluster`` hands them out now (signer, chain, roots)."""
    signer, intermediates = rotation.signer(cluster)
    key = ca.generate_key()
    cert = ca.sign_node_csr(
        signer, ca.create_csr(key), node_id, role, CLUSTER, intermediates=intermediates
    )
    return NodeCredentials(key_pem=key, cert_pem=cert, ca_pem=rotation.trust_root(cluster))


def whoami_service(trust: Callable[[], str]) -> grpc.GenericRpcHandler[Any, Any]:
    async def whoami(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        peer = tls.peer_identity(context, trust())
        return b"anonymous" if peer is None else peer.node_id.encode()

    return grpc.method_handlers_generic_handler(
        "test.Probe", {"WhoAmI": grpc.unary_unary_rpc_method_handler(whoami)}
    )


@asynccontextmanager
async def serving(current: Callable[[], NodeCredentials]) -> AsyncIterator[int]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([whoami_service(lambda: current().ca_pem)])
    port = server.add_secure_port("127.0.0.1:0", tls.live_server_credentials(current))
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)


async def whoami(port: int, client: NodeCredentials) -> str:
    async with tls.secure_channel(
        f"127.0.0.1:{port}", client.ca_pem, client.cert_pem, client.key_pem
    ) as channel:
        stub = channel.unary_unary("/test.Probe/WhoAmI", None, None)
        reply: bytes = await stub(b"", timeout=5)
    return reply.decode()


def served_serial(port: int, ca_pem: str) -> int:
    chain = tls._presented_chain("127.0.0.1", port, timeout=5)
    return ca.load_cert(chain[0]).serial_number


def new_cluster() -> Cluster:
    root = ca.create_root_ca()
    return Cluster(id=CLUSTER, root_ca_cert=root.cert_pem, root_ca_key=root.key_pem)


def test_a_renewed_certificate_is_served_to_new_connections_without_a_restart() -> None:
    cluster = new_cluster()
    holder = {"creds": issue(cluster, "mgr1", NodeRole.MANAGER)}
    worker = issue(cluster, "wrk1", NodeRole.WORKER)

    async def scenario() -> None:
        async with serving(lambda: holder["creds"]) as port:
            first = await asyncio.to_thread(served_serial, port, cluster.root_ca_cert)
            assert await whoami(port, worker) == "wrk1"
            holder["creds"] = issue(cluster, "mgr1", NodeRole.MANAGER)
            second = await asyncio.to_thread(served_serial, port, cluster.root_ca_cert)
            assert second != first
            assert second == ca.load_cert(holder["creds"].cert_pem).serial_number
            assert await whoami(port, worker) == "wrk1"

    asyncio.run(scenario())


def test_old_and_new_root_nodes_reach_each_other_through_a_rotation() -> None:
    before = new_cluster()
    during = rotation.start_rotation(before, ca.create_root_ca())
    after = rotation.finish_rotation(during)
    old = {role: issue(before, f"old-{role}", role) for role in NodeRole}
    mid = {role: issue(during, f"mid-{role}", role) for role in NodeRole}
    new = {role: issue(after, f"new-{role}", role) for role in NodeRole}
    assert old[NodeRole.WORKER].ca_pem == before.root_ca_cert
    assert len(ca.split_pems(mid[NodeRole.WORKER].ca_pem)) == 2
    assert len(ca.split_pems(mid[NodeRole.WORKER].cert_pem)) == 2  # leaf + cross-signed

    async def reach(server: NodeCredentials, client: NodeCredentials) -> None:
        async with serving(lambda: server) as port:
            assert await whoami(port, client) == client.identity.node_id

    async def scenario() -> None:
        # During the rotation: old-root and rotating nodes, either side serving.
        for server in (old[NodeRole.MANAGER], mid[NodeRole.MANAGER]):
            for client in (old[NodeRole.WORKER], mid[NodeRole.WORKER]):
                await reach(server, client)
        # After it: nodes that renewed during the rotation and those renewed after it.
        for server in (mid[NodeRole.MANAGER], new[NodeRole.MANAGER]):
            for client in (mid[NodeRole.WORKER], new[NodeRole.WORKER]):
                await reach(server, client)

    asyncio.run(scenario())


def test_after_a_rotation_the_old_root_is_no_longer_trusted() -> None:
    before = new_cluster()
    after = rotation.finish_rotation(rotation.start_rotation(before, ca.create_root_ca()))
    stale = issue(before, "stale", NodeRole.WORKER)
    manager = issue(after, "mgr", NodeRole.MANAGER)
    assert not ca.chain_is_trusted(stale.cert_pem, manager.ca_pem)

    async def scenario() -> None:
        async with serving(lambda: manager) as port:
            # The stale node cannot verify the manager, nor the manager the stale node.
            with pytest.raises(grpc.aio.AioRpcError):
                await whoami(port, stale)
            trusting = replace(stale, ca_pem=manager.ca_pem)
            with pytest.raises(grpc.aio.AioRpcError):
                await whoami(port, trusting)

    asyncio.run(scenario())
