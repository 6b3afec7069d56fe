"""The cluster's CA as the managers run it: what they sign with, what nodes must trust, and
the steps of a root rotation. Pure functions over the `Cluster` object and the nodes.

A root rotation (``swarm ca --rotate``), as SwarmKit does it:

1. ``start_rotation`` keeps the current root and records the new one with a cross-signed
   copy (the new root's name and key, signed by the old root). From then on the managers
   sign with the new key and hand out leaf + cross-signed certificate, and every node is
   told to trust both roots (``trust_root``). A node that still trusts only the old root
   verifies the new certificates through the intermediate; one that already has a new
   certificate is verified by the old-root nodes the same way; old certificates stay valid.
2. Nodes see the trust change in their session and renew at once; the manager records
   what it issued to each (``Node.tls_info``).
3. When every node's certificate comes from the new key (``rotation_converged``),
   ``finish_rotation`` makes the new root the only one, with new join tokens (their digest
   names the root). Nodes see the trust change again and renew: now they trust only the new
   root and hold certificates it signed directly.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Iterable
from dataclasses import replace

from swarmpy.ca import certificates as ca
from swarmpy.errors import InvalidArgument
from swarmpy.model import Cluster, Node, RootRotation, TLSInfo

log = logging.getLogger(__name__)

# Docker's bounds: node certificates live at least an hour (`swarm update --cert-expiry`).
MIN_NODE_CERT_EXPIRY_S = 3600.0
# Test only: a node certificate validity in seconds that the managers of this process use
# instead of the cluster's, below the one-hour minimum (certificates that expire in seconds
# let a test watch several renewals). Never set it in production.
TEST_EXPIRY_ENV = "SWARMPY_TEST_NODE_CERT_EXPIRY_S"


def check_node_cert_expiry(seconds: float) -> float:
    """The validity a user asked for, or InvalidArgument in Docker's words."""
    if not seconds >= MIN_NODE_CERT_EXPIRY_S:
        raise InvalidArgument("minimum certificate expiry time is 1h0m0s")
    if seconds > ca.ROOT_CA_VALIDITY.total_seconds():
        raise InvalidArgument("maximum certificate expiry time is the root CA's life (20 years)")
    return seconds


def node_cert_validity(cluster: Cluster) -> datetime.timedelta:
    override = os.environ.get(TEST_EXPIRY_ENV, "")
    if override:
        try:
            return datetime.timedelta(seconds=float(override))
        except ValueError:
            log.warning("ignoring %s=%r: not a number of seconds", TEST_EXPIRY_ENV, override)
    return datetime.timedelta(seconds=cluster.node_cert_expiry_s)


def trust_root(cluster: Cluster) -> str:
    """The roots every node must trust now: the cluster's, and the next one while rotating."""
    rotation = cluster.root_rotation
    return ca.join_pems([cluster.root_ca_cert, rotation.ca_cert if rotation else ""])


def signer(cluster: Cluster) -> tuple[ca.RootCA, str]:
    """The CA new certificates come from, and the intermediate that goes with them."""
    rotation = cluster.root_rotation
    if rotation is None:
        return ca.RootCA(cluster.root_ca_cert, cluster.root_ca_key), ""
    return ca.RootCA(rotation.ca_cert, rotation.ca_key), rotation.cross_signed_ca_cert


def issued_tls_info(cluster: Cluster) -> TLSInfo:
    """What a node holds once it got a certificate from the managers now."""
    return ca.tls_info(trust_root(cluster), signer(cluster)[0].cert_pem)


def root_tls_info(root_pem: str) -> TLSInfo:
    """A root as Docker's ClusterInfo.TLSInfo shows it: trusted alone, and the issuer."""
    return ca.tls_info(ca.join_pems([root_pem]), root_pem)


def cluster_tls_info(cluster: Cluster) -> TLSInfo:
    """Docker's ClusterInfo.TLSInfo: the swarm's root, the old one until a rotation ends."""
    return root_tls_info(cluster.root_ca_cert)


def rotation_tls_info(cluster: Cluster) -> TLSInfo | None:
    """Where a rotation goes: what every node holds once it has ended; None if none runs."""
    rotation = cluster.root_rotation
    return root_tls_info(rotation.ca_cert) if rotation is not None else None


def same_issuer(a: TLSInfo | None, b: TLSInfo) -> bool:
    return (
        a is not None
        and a.cert_issuer_subject == b.cert_issuer_subject
        and a.cert_issuer_public_key == b.cert_issuer_public_key
    )


def start_rotation(cluster: Cluster, new_root: ca.RootCA) -> Cluster:
    """The cluster rotating to ``new_root``; unchanged if that is already where it goes.

    A rotation started while another runs replaces it: the cross-signature always comes from
    the current root, which every node still trusts.
    """
    target = cluster.root_rotation.ca_cert if cluster.root_rotation else cluster.root_ca_cert
    if ca.same_certificates(target, new_root.cert_pem):
        return cluster
    if ca.same_certificates(cluster.root_ca_cert, new_root.cert_pem):
        # Back to the current root: the rotation is simply abandoned.
        return replace(cluster, root_rotation=None)
    old = ca.RootCA(cluster.root_ca_cert, cluster.root_ca_key)
    rotation = RootRotation(
        ca_cert=new_root.cert_pem,
        ca_key=new_root.key_pem,
        cross_signed_ca_cert=ca.cross_sign(new_root.cert_pem, old),
    )
    return replace(cluster, root_rotation=rotation)


def rotation_converged(cluster: Cluster, nodes: Iterable[Node]) -> bool:
    """Whether every node holds a certificate from the new root (a node that is down holds
    the rotation back, as in SwarmKit: remove it to go on)."""
    if cluster.root_rotation is None:
        return False
    wanted = issued_tls_info(cluster)
    return all(same_issuer(n.tls_info, wanted) for n in nodes)


def finish_rotation(cluster: Cluster) -> Cluster:
    """The new root as the only one, with join tokens that name it."""
    rotation = cluster.root_rotation
    assert rotation is not None
    return replace(
        cluster,
        root_ca_cert=rotation.ca_cert,
        root_ca_key=rotation.ca_key,
        root_rotation=None,
        tokens=ca.generate_join_tokens(rotation.ca_cert),
    )
