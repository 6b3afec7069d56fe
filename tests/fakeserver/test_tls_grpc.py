"""Mutual TLS over a real grpc.aio server on 127.0.0.1: who may call what, and CA pinning."""

from __future__ import annotations

import asyncio
import datetime
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import grpc.aio
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from swarmpy import tls
from swarmpy.ca import certificates as ca
from swarmpy.errors import PermissionDenied, SwarmpyError, Unavailable
from swarmpy.model import NodeRole
from swarmpy.tls import NodeCredentials
from tests.support.builders import CLUSTER, node_credentials

pytestmark = pytest.mark.fakeserver


@pytest.fixture(scope="module")
def root() -> ca.RootCA:
    return ca.create_root_ca()


@pytest.fixture(scope="module")
def manager(root: ca.RootCA) -> NodeCredentials:
    return node_credentials(root, "mgr1", NodeRole.MANAGER)


@pytest.fixture(scope="module")
def worker(root: ca.RootCA) -> NodeCredentials:
    return node_credentials(root, "wrk1", NodeRole.WORKER)


def probe_service(ca_pem: str) -> grpc.GenericRpcHandler[Any, Any]:
    """Open: anyone, answers who the caller is. ManagersOnly: needs a manager certificate."""

    async def guarded(context: grpc.aio.ServicerContext[Any, Any], *roles: NodeRole) -> bytes:
        try:
            if roles:
                tls.require_role(context, ca_pem, *roles, action="call ManagersOnly")
        except SwarmpyError as exc:
            await context.abort(exc.grpc_code, exc.message)
        peer = tls.peer_identity(context, ca_pem)
        return b"anonymous" if peer is None else f"{peer.role}:{peer.node_id}".encode()

    async def open_(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        return await guarded(context)

    async def managers_only(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        return await guarded(context, NodeRole.MANAGER)

    return grpc.method_handlers_generic_handler(
        "test.Probe",
        {
            "Open": grpc.unary_unary_rpc_method_handler(open_),
            "ManagersOnly": grpc.unary_unary_rpc_method_handler(managers_only),
        },
    )


@asynccontextmanager
async def serving(root: ca.RootCA, node: NodeCredentials) -> AsyncIterator[int]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([probe_service(root.cert_pem)])
    port = server.add_secure_port(
        "127.0.0.1:0", tls.server_credentials(node.cert_pem, node.key_pem, root.cert_pem)
    )
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)


async def call(port: int, method: str, ca_pem: str, client: NodeCredentials | None = None) -> str:
    cert, key = (client.cert_pem, client.key_pem) if client else (None, None)
    async with tls.secure_channel(f"127.0.0.1:{port}", ca_pem, cert, key) as channel:
        # Raw bytes both ways: no serializers needed for a probe.
        stub = channel.unary_unary(f"/test.Probe/{method}", None, None)
        reply: bytes = await stub(b"", timeout=5)
    return reply.decode()


async def call_error(
    port: int, method: str, ca_pem: str, client: NodeCredentials | None = None
) -> Any:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(port, method, ca_pem, client)
    return info.value


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ---------------------------------------------------------------- who may call what


def test_call_without_certificate_works_only_where_allowed(
    root: ca.RootCA, manager: NodeCredentials
) -> None:
    async def scenario() -> None:
        async with serving(root, manager) as port:
            assert await call(port, "Open", root.cert_pem) == "anonymous"
            err = await call_error(port, "ManagersOnly", root.cert_pem)
            assert err.code() == grpc.StatusCode.PERMISSION_DENIED
            assert err.details() == "permission denied: only swarm nodes can call ManagersOnly"

    run(scenario())


def test_worker_certificate_is_refused_where_manager_is_required(
    root: ca.RootCA, manager: NodeCredentials, worker: NodeCredentials
) -> None:
    async def scenario() -> None:
        async with serving(root, manager) as port:
            assert await call(port, "Open", root.cert_pem, worker) == "worker:wrk1"
            err = await call_error(port, "ManagersOnly", root.cert_pem, worker)
            assert err.code() == grpc.StatusCode.PERMISSION_DENIED
            assert err.details() == (
                "permission denied: a worker certificate cannot call ManagersOnly"
            )
            assert await call(port, "ManagersOnly", root.cert_pem, manager) == "manager:mgr1"

    run(scenario())


def test_certificate_from_another_ca_is_refused(root: ca.RootCA, manager: NodeCredentials) -> None:
    intruder = node_credentials(ca.create_root_ca(), "mgr1", NodeRole.MANAGER)

    async def scenario() -> None:
        async with serving(root, manager) as port:
            err = await call_error(port, "Open", root.cert_pem, intruder)
            assert err.code() == grpc.StatusCode.UNAVAILABLE

    run(scenario())


def test_client_refuses_a_server_of_another_ca(root: ca.RootCA, manager: NodeCredentials) -> None:
    async def scenario() -> None:
        async with serving(root, manager) as port:
            err = await call_error(port, "Open", ca.create_root_ca().cert_pem)
            assert err.code() == grpc.StatusCode.UNAVAILABLE

    run(scenario())


def test_certificate_minted_with_the_public_anonymous_key_stays_anonymous(
    root: ca.RootCA, manager: NodeCredentials
) -> None:
    # The anonymous key is public by design; a "manager" cert it signs must grant nothing.
    anon = tls._anonymous()
    anon_key = serialization.load_pem_private_key(anon.key_pem.encode(), password=None)
    assert isinstance(anon_key, ec.EllipticCurvePrivateKey)
    forged_key = ec.generate_private_key(ec.SECP256R1())
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    forged_cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "evil"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "swarm-manager"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, CLUSTER),
                ]
            )
        )
        .issuer_name(ca.load_cert(anon.cert_pem).subject)
        .public_key(forged_key.public_key())
        .serial_number(2)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1))
        .sign(anon_key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    forger = NodeCredentials(
        key_pem=forged_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        cert_pem=forged_cert,
        ca_pem=root.cert_pem,
    )

    async def scenario() -> None:
        async with serving(root, manager) as port:
            try:
                seen_as: object = await call(port, "Open", root.cert_pem, forger)
            except grpc.aio.AioRpcError as exc:  # refusing the handshake is fine too
                seen_as = exc.code()
            assert seen_as in ("anonymous", grpc.StatusCode.UNAVAILABLE)
            err = await call_error(port, "ManagersOnly", root.cert_pem, forger)
            assert err.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAVAILABLE)

    run(scenario())


# ---------------------------------------------------------------- bootstrap: pinning the root CA


def test_fetch_root_ca_returns_the_ca_matching_the_token(
    root: ca.RootCA, manager: NodeCredentials
) -> None:
    digest = ca.parse_join_token(ca.new_join_token(root.cert_pem)).digest

    async def scenario() -> None:
        async with serving(root, manager) as port:
            pem = await asyncio.to_thread(tls.fetch_root_ca, "127.0.0.1", port, digest, 5.0)
            assert ca.load_cert(pem) == ca.load_cert(root.cert_pem)
            # The fetched root is enough to talk to the manager, still without a certificate.
            assert await call(port, "Open", pem) == "anonymous"

    run(scenario())


def test_fetch_root_ca_refuses_a_forged_ca(root: ca.RootCA) -> None:
    # An impostor manager with its own CA, reached with a token of the real cluster.
    forged_root = ca.create_root_ca()
    impostor = node_credentials(forged_root, "mgr1", NodeRole.MANAGER)
    digest = ca.ca_digest(root.cert_pem)

    async def scenario() -> None:
        async with serving(forged_root, impostor) as port:
            with pytest.raises(PermissionDenied, match=f"127.0.0.1:{port} does not match"):
                await asyncio.to_thread(tls.fetch_root_ca, "127.0.0.1", port, digest, 5.0)

    run(scenario())


def test_fetch_root_ca_from_nowhere_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the dial: connection refused
    with pytest.raises(Unavailable, match=f"cannot connect to the manager at 127.0.0.1:{port}"):
        tls.fetch_root_ca("127.0.0.1", port, "0" * 50, timeout=2.0)


def test_fetch_root_ca_times_out_on_a_silent_peer() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts the TCP connection but never speaks TLS
        port = listener.getsockname()[1]
        with pytest.raises(Unavailable, match="timed out"):
            tls.fetch_root_ca("127.0.0.1", port, "0" * 50, timeout=0.5)
