"""This node's certificate: how it gets one and renews it through a manager's NodeCA.

The private key never leaves the node: every issuance or renewal makes a new key and sends
only its CSR. What a manager answers besides the certificate (the role it signed, the roots
to trust now, the managers, for a manager its Raft membership) comes back with it as a
`NodeCert`. When to renew is swarmpy.renewal's decision.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc

from swarmpy import tls
from swarmpy.api import dispatcher_pb2, dispatcher_pb2_grpc
from swarmpy.ca import certificates as ca
from swarmpy.config import split_addr
from swarmpy.errors import PermissionDenied
from swarmpy.rpc import to_error

# How long a manager may take to sign: a new manager's renewal waits for a Raft membership
# change.
SIGN_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class NodeCert:
    """A certificate a manager signed for this node, and what it said with it."""

    creds: tls.NodeCredentials
    node_id: str
    cluster_id: str
    role: str
    managers: tuple[str, ...]
    raft_password: str
    raft_members: tuple[str, ...]
    data_key: str = ""
    data_keys: tuple[str, ...] = ()  # every data key, the current one first


def _node_cert(
    key_pem: str, trusted: str, reply: dispatcher_pb2.IssueNodeCertificateResponse
) -> NodeCert:
    """``trusted``: the roots the reply came under. The manager may name new ones (a root
    rotation), but only roots that vouch for the certificate it signed, and only with one
    of the roots we trust among them or vouching for it."""
    roots = reply.ca_pem or trusted
    if not ca.chain_is_trusted(reply.cert_pem, roots) or not (
        ca.chain_is_trusted(reply.cert_pem, trusted)
        or set(ca.split_pems(trusted)) & set(ca.split_pems(roots))
    ):
        raise PermissionDenied("the manager's certificate reply does not chain to a trusted root")
    return NodeCert(
        creds=tls.NodeCredentials(key_pem=key_pem, cert_pem=reply.cert_pem, ca_pem=roots),
        node_id=reply.node_id,
        cluster_id=reply.cluster_id,
        role=reply.role,
        managers=tuple(reply.managers),
        raft_password=reply.raft_password,
        raft_members=tuple(reply.raft_members),
        data_key=reply.data_key,
        data_keys=tuple(reply.data_keys) or ((reply.data_key,) if reply.data_key else ()),
    )


async def issue(
    token: str, remote_addr: str, hostname: str, addr: str, api_addr: str, raft_addr: str
) -> NodeCert:
    """A first certificate for a joining node, its join token as the credential.

    The root CA is the one whose digest the token names (pinning: a man in the middle
    cannot substitute its own CA).
    """
    parsed = ca.parse_join_token(token)
    remote_host, remote_port = split_addr(remote_addr)
    ca_pem = await asyncio.to_thread(tls.fetch_root_ca, remote_host, remote_port, parsed.digest)
    key = ca.generate_key()
    async with tls.secure_channel(f"{remote_host}:{remote_port}", ca_pem) as channel:
        try:
            reply = await dispatcher_pb2_grpc.NodeCAStub(channel).IssueNodeCertificate(
                dispatcher_pb2.IssueNodeCertificateRequest(
                    token=token,
                    csr_pem=ca.create_csr(key),
                    hostname=hostname,
                    addr=addr,
                    api_addr=api_addr,
                    raft_addr=raft_addr,
                ),
                timeout=SIGN_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as exc:
            raise to_error(exc, remote_addr) from None
    return _node_cert(key, ca_pem, reply)


async def renew(
    creds: tls.NodeCredentials, manager_addr: str, api_addr: str, raft_addr: str
) -> NodeCert:
    """A new certificate for the role the managers now give this node, from the root they
    sign with now, the current one as the credential. ``api_addr`` and ``raft_addr`` are
    where the node serves if the new role is manager."""
    key = ca.generate_key()
    async with tls.secure_channel(
        manager_addr, creds.ca_pem, creds.cert_pem, creds.key_pem
    ) as channel:
        try:
            reply = await dispatcher_pb2_grpc.NodeCAStub(channel).RenewNodeCertificate(
                dispatcher_pb2.RenewNodeCertificateRequest(
                    csr_pem=ca.create_csr(key), api_addr=api_addr, raft_addr=raft_addr
                ),
                timeout=SIGN_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as exc:
            raise to_error(exc, manager_addr) from None
    return _node_cert(key, creds.ca_pem, reply)
