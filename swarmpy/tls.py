"""Mutual TLS between nodes: gRPC credentials, peer identity, root CA bootstrap, cert files.

Why an "anonymous" client certificate: SwarmKit's managers accept connections with or without
a client certificate (the join call comes from a node that has none yet). Python's grpc can
only *require* client certificates or *never request* them. So servers require one and also
trust a fixed, deliberately public "anonymous" certificate, which nodes without credentials
present. It proves nothing: anyone can present it, and since anyone can derive its key they
can also sign other certificates with it. That is why ``peer_identity`` accepts a peer only
when the cluster root CA itself signed its leaf certificate; everything else is anonymous.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import socket
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import grpc
import grpc.aio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from swarmpy.ca import certificates as ca
from swarmpy.ca import keywrap
from swarmpy.ca.certificates import NodeIdentity
from swarmpy.errors import InvalidArgument, PermissionDenied, Unavailable
from swarmpy.fsutil import write_atomic
from swarmpy.model import NodeRole

PeerIdentity = NodeIdentity

# Clients verify every manager under this name, whatever address they dialled.
CHANNEL_OPTIONS: tuple[tuple[str, str], ...] = (("grpc.ssl_target_name_override", ca.MANAGER_NAME),)

KEY_FILE = "swarm-node.key"
CERT_FILE = "swarm-node.crt"
CA_FILE = "swarm-root-ca.crt"

_ANONYMOUS_SEED = b"swarmpy anonymous client certificate v1"
_ANONYMOUS_CN = "swarmpy-anonymous"


# ---------------------------------------------------------------- the anonymous credential


@dataclass(frozen=True)
class _KeyPair:
    key_pem: str
    cert_pem: str


@functools.cache
def _anonymous() -> _KeyPair:
    """The public client credential; byte-identical everywhere (derived key, fixed fields,
    deterministic ECDSA), so every server trusts exactly the certificate every client shows."""
    scalar = int.from_bytes(hashlib.sha256(_ANONYMOUS_SEED).digest())
    key = ec.derive_private_key(scalar, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _ANONYMOUS_CN)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return _KeyPair(
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )


# ---------------------------------------------------------------- gRPC credentials


def _with_root(cert_pem: str, ca_pem: str) -> str:
    """The chain a manager presents: leaf (+ intermediate) + roots, so a joiner can read (and
    pin) the root."""
    return ca.join_pems([cert_pem, ca_pem])


def _client_roots(ca_pem: str) -> bytes:
    return ca.join_pems([ca_pem, _anonymous().cert_pem]).encode()


def server_credentials(cert_pem: str, key_pem: str, ca_pem: str) -> grpc.ServerCredentials:
    """TLS for a manager's port: accepts cluster certificates and the anonymous one."""
    return grpc.ssl_server_credentials(
        [(key_pem.encode(), _with_root(cert_pem, ca_pem).encode())],
        root_certificates=_client_roots(ca_pem),
        require_client_auth=True,
    )


def _server_configuration(creds: NodeCredentials) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(creds.key_pem.encode(), _with_root(creds.cert_pem, creds.ca_pem).encode())],
        root_certificates=_client_roots(creds.ca_pem),
    )


def live_server_credentials(current: Callable[[], NodeCredentials]) -> grpc.ServerCredentials:
    """``server_credentials`` that follow ``current()``: each new connection is served with
    the credentials it returns then (a renewed certificate, new roots), without a restart."""
    served = current()

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        # gRPC asks before every handshake; None keeps the configuration it has.
        nonlocal served
        latest = current()
        if latest == served:
            return None
        served = latest
        return _server_configuration(latest)

    return grpc.dynamic_ssl_server_credentials(
        _server_configuration(served),
        # The stubs miss that the fetcher may return None.
        cast(Callable[[], grpc.ServerCertificateConfiguration], fetch),
        require_client_authentication=True,
    )


def channel_credentials(
    ca_pem: str, cert_pem: str | None = None, key_pem: str | None = None
) -> grpc.ChannelCredentials:
    """TLS for dialling a manager; without a node certificate the caller is anonymous.

    Use with ``CHANNEL_OPTIONS`` (the server name every manager certificate carries).
    """
    if (cert_pem is None) != (key_pem is None):
        raise InvalidArgument("a client certificate needs its key, and a key its certificate")
    pair = _KeyPair(key_pem, cert_pem) if key_pem and cert_pem else _anonymous()
    return grpc.ssl_channel_credentials(
        ca_pem.encode(), pair.key_pem.encode(), pair.cert_pem.encode()
    )


def secure_channel(
    target: str, ca_pem: str, cert_pem: str | None = None, key_pem: str | None = None
) -> grpc.aio.Channel:
    """An asyncio channel to a manager at host:port."""
    return grpc.aio.secure_channel(
        target, channel_credentials(ca_pem, cert_pem, key_pem), options=CHANNEL_OPTIONS
    )


# ---------------------------------------------------------------- who is calling


# Sized for the swarm, not for a few nodes: every node presents its own certificate on every
# call, and an LRU smaller than the set of callers cycling through it evicts each entry just
# before it is needed again (at 2,500 nodes a 1,024-entry cache missed on every call, and
# signature checks took a third of a busy manager's loop). 16,384 holds Swarm2k's 2,384
# nodes several times over, with a renewal's old and new certificate each; an entry is a
# leaf PEM (about 1 KiB) and an identity, so even full it is ~20 MiB.
IDENTITY_CACHE_SIZE = 16_384


@functools.lru_cache(maxsize=IDENTITY_CACHE_SIZE)
def _verified_identity(chain_pem: str, ca_pem: str) -> NodeIdentity | None:
    # Cached because every call re-presents the same certificates; a signature check
    # per RPC would be wasted work.
    if not ca.chain_is_trusted(chain_pem, ca_pem):
        return None
    try:
        return ca.cert_identity(chain_pem)
    except InvalidArgument:
        return None


def peer_identity(context: grpc.aio.ServicerContext[Any, Any], ca_pem: str) -> PeerIdentity | None:
    """The calling node, or None for an anonymous caller (no certificate of this cluster).

    ``ca_pem`` holds the cluster roots: only a leaf one of them signed counts, directly or
    through the cross-signed root a rotation adds to the chain (see the module docstring).
    """
    auth = context.auth_context()
    leaf = next(iter(auth.get("x509_pem_cert", ())), None)
    if leaf is None:
        return None
    chain = next(iter(auth.get("x509_pem_cert_chain", ())), b"")
    # The leaf first: what the chain holds besides it may only vouch for it.
    return _verified_identity(ca.join_pems([leaf.decode(), chain.decode()]), ca_pem)


def require_role(
    context: grpc.aio.ServicerContext[Any, Any],
    ca_pem: str,
    *roles: NodeRole,
    action: str = "make this call",
) -> PeerIdentity:
    """The caller's identity if it holds one of ``roles``; else PermissionDenied.

    ``action`` completes the refusal, e.g. "call the control API" gives
    "permission denied: a worker certificate cannot call the control API".
    """
    peer = peer_identity(context, ca_pem)
    if peer is None:
        raise PermissionDenied(f"permission denied: only swarm nodes can {action}")
    if peer.role not in roles:
        raise PermissionDenied(f"permission denied: a {peer.role} certificate cannot {action}")
    return peer


# ---------------------------------------------------------------- bootstrap: fetching the root CA


def _anonymous_client_context() -> ssl.SSLContext:
    """A TLS context that trusts nothing yet and shows the anonymous certificate (servers
    require a client certificate; ssl only loads one from files)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    with tempfile.TemporaryDirectory(prefix="swarmpy-anon-") as tmp:
        cert, key = Path(tmp, "anon.crt"), Path(tmp, "anon.key")
        cert.write_text(_anonymous().cert_pem)
        key.write_text(_anonymous().key_pem)
        context.load_cert_chain(cert, key)
    return context


def _presented_chain(host: str, port: int, timeout: float) -> list[str]:
    where = f"{host}:{port}"
    context = _anonymous_client_context()
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=ca.MANAGER_NAME) as tls,
        ):
            # Private API, present since 3.10; 3.13 makes it public. The chain is only
            # read here, and trusted solely through the digest check that follows.
            chain = tls._sslobj.get_unverified_chain()  # type: ignore[attr-defined]
    except TimeoutError:
        raise Unavailable(f"timed out connecting to the manager at {where}") from None
    except ssl.SSLError as exc:
        raise Unavailable(f"TLS handshake with {where} failed: {exc.reason}") from None
    except OSError as exc:
        raise Unavailable(
            f"cannot connect to the manager at {where}: {exc.strerror or exc}"
        ) from None
    return [str(c.public_bytes()) for c in chain or ()]


def fetch_root_ca(host: str, port: int, expected_digest: str, timeout: float = 5.0) -> str:
    """The cluster root CA (PEM) from a manager, pinned to a join token's digest.

    Nothing is trusted before this call, so the manager's chain is read unverified; the
    digest from the token is what makes it safe: a root that does not match is refused.
    """
    for pem in _presented_chain(host, port, timeout):
        if ca.ca_digest(pem) == expected_digest:
            return pem
    raise PermissionDenied(f"the root CA presented by {host}:{port} does not match the join token")


# ---------------------------------------------------------------- credentials on disk


@dataclass(frozen=True)
class NodeCredentials:
    key_pem: str
    cert_pem: str  # the leaf, then any intermediate (during a root rotation)
    ca_pem: str  # the roots this node trusts: one, or two during a root rotation

    @property
    def identity(self) -> NodeIdentity:
        return ca.cert_identity(self.cert_pem)


def save_node_credentials(
    directory: Path, creds: NodeCredentials, kek: bytes | None = None
) -> None:
    """Store key (0600), certificate and root CA under ``<data-root>/certificates``; with
    ``kek`` (autolock) the key encrypted under it (swarmpy.ca.keywrap)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_pem = creds.key_pem if kek is None else keywrap.encrypt_key_pem(creds.key_pem, kek)
    write_atomic(directory / CA_FILE, creds.ca_pem, 0o644)
    write_atomic(directory / KEY_FILE, key_pem, 0o600)
    write_atomic(directory / CERT_FILE, creds.cert_pem, 0o644)


def load_node_credentials(directory: Path) -> NodeCredentials | None:
    """The stored credentials, or None when this node has never joined a swarm. The key may
    be encrypted (autolock: ``keywrap.key_is_encrypted``) until the node is unlocked."""
    paths = [directory / name for name in (KEY_FILE, CERT_FILE, CA_FILE)]
    present = [p.exists() for p in paths]
    if not any(present):
        return None
    if not all(present):
        missing = ", ".join(str(p) for p, ok in zip(paths, present, strict=True) if not ok)
        raise InvalidArgument(f"node credentials are incomplete: missing {missing}")
    key_pem, cert_pem, ca_pem = (p.read_text() for p in paths)
    if not ca.chain_is_trusted(cert_pem, ca_pem):
        raise InvalidArgument(f"the node certificate in {directory} is not signed by its root CA")
    return NodeCredentials(key_pem=key_pem, cert_pem=cert_pem, ca_pem=ca_pem)


def remove_node_credentials(directory: Path) -> None:
    """Forget the node's identity (``swarm leave``)."""
    for name in (KEY_FILE, CERT_FILE, CA_FILE):
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
