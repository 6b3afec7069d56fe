"""The cluster's root CA, its join tokens and the node certificates it signs.

Pure crypto over PEM strings, no I/O, so both sides can use it: a manager creates the root CA
and signs CSRs; a joining node makes its key and CSR, parses the join token and reads its own
identity back from the certificate it was given (see swarmpy.tls for the gRPC/file edges).

A node's identity lives in its certificate, as in SwarmKit: CN = node id, OU = role,
O = cluster id. Clients always verify a manager under the name "swarm-manager", so every
manager certificate carries that DNS SAN.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from swarmpy.errors import InvalidArgument, PermissionDenied
from swarmpy.model import DEFAULT_NODE_CERT_EXPIRY_S, JoinTokens, NodeRole, TLSInfo

ROOT_CA_CN = "swarm-ca"
ROOT_CA_VALIDITY = datetime.timedelta(days=20 * 365)
NODE_CERT_VALIDITY = datetime.timedelta(seconds=DEFAULT_NODE_CERT_EXPIRY_S)
# Certificates start a little in the past so a peer whose clock lags still accepts them;
# never more than a tenth of their life, so a short-lived certificate is mostly future.
BACKDATE = datetime.timedelta(minutes=5)
BACKDATE_SHARE = 10

MANAGER_NAME = "swarm-manager"  # also the TLS target name every client verifies
WORKER_NAME = "swarm-worker"
ROLE_OU: dict[NodeRole, str] = {NodeRole.MANAGER: MANAGER_NAME, NodeRole.WORKER: WORKER_NAME}

TOKEN_PREFIX = "SWMTKN"
TOKEN_VERSION = "1"
DIGEST_LEN = 50  # base 36 of a 256-bit number fits in 50 digits
SECRET_LEN = 25  # base 36 of 128 random bits fits in 25 digits
SECRET_BYTES = 16
BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"

INVALID_TOKEN = "invalid join token"
# SwarmKit's words (ca/server.go), capital and all: `docker swarm join` prints them as they are.
WRONG_TOKEN = "A valid join token is necessary to join this cluster"


@dataclass(frozen=True)
class RootCA:
    cert_pem: str
    key_pem: str


@dataclass(frozen=True)
class NodeIdentity:
    """Who a certificate says its holder is."""

    node_id: str
    role: NodeRole
    cluster_id: str


@dataclass(frozen=True)
class JoinToken:
    digest: str  # base-36 sha256 of the root CA certificate (DER), 50 chars
    secret: str  # 25 base-36 chars; the only part that differs between roles


# ---------------------------------------------------------------- keys and certificates


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def generate_key() -> str:
    """A new ECDSA P-256 private key, PEM (PKCS#8, unencrypted: the file mode protects it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _load_key(key_pem: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InvalidArgument("the private key is not an ECDSA key")
    return key


def load_cert(cert_pem: str) -> x509.Certificate:
    """The first certificate in a PEM string (a leaf, when the string is a chain)."""
    try:
        return x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError as exc:
        raise InvalidArgument(f"invalid certificate: {exc}") from None


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


_PEM_END = "-----END CERTIFICATE-----"


def split_pems(bundle: str) -> list[str]:
    """The certificates of a PEM bundle (a chain or a set of roots), each as its own PEM."""
    return [part.strip() + "\n" + _PEM_END + "\n" for part in bundle.split(_PEM_END)[:-1]]


def join_pems(pems: Sequence[str]) -> str:
    """One bundle of certificates, each once, in order; the inverse of ``split_pems``."""
    seen: list[str] = []
    for pem in pems:
        for one in split_pems(pem):
            if one not in seen:
                seen.append(one)
    return "".join(seen)


def same_certificates(a: str, b: str) -> bool:
    """Whether two bundles hold the same certificates, whatever their order or spacing."""
    return set(split_pems(a)) == set(split_pems(b))


def cert_validity(cert_pem: str) -> tuple[datetime.datetime, datetime.datetime]:
    """When a certificate (the leaf of a chain) starts and stops being valid, UTC."""
    cert = load_cert(cert_pem)
    return cert.not_valid_before_utc, cert.not_valid_after_utc


def _key_usage(signs_certificates: bool) -> x509.KeyUsage:
    """Signing only: certificates and CRLs for the root, nothing more for a node."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_builder(
    subject: x509.Name, public_key: ec.EllipticCurvePublicKey, start: datetime.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def create_root_ca() -> RootCA:
    """The self-signed root of a new cluster (``swarm init``, ``swarm ca --rotate``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ROOT_CA_CN)])
    start = _utcnow() - BACKDATE
    cert = (
        _ca_builder(name, key.public_key(), start)
        .issuer_name(name)
        .not_valid_after(start + ROOT_CA_VALIDITY)
        .sign(key, hashes.SHA256())
    )
    return RootCA(
        cert_pem=_cert_pem(cert),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    )


def check_root_ca(cert_pem: str, key_pem: str) -> RootCA:
    """A root CA a user brought (``swarm ca --rotate --ca-cert --ca-key``), or InvalidArgument
    saying what is wrong with it: one self-signed, valid CA certificate and its ECDSA key."""
    pems = split_pems(cert_pem)
    if len(pems) != 1:
        raise InvalidArgument("the CA certificate must be exactly one PEM certificate")
    cert = load_cert(pems[0])
    try:
        key = _load_key(key_pem)
    except ValueError:
        raise InvalidArgument("the CA key is not a valid unencrypted PEM private key") from None
    except TypeError:
        raise InvalidArgument("the CA key is encrypted: give it without a passphrase") from None
    if key.public_key() != cert.public_key():
        raise InvalidArgument("the CA key does not match the CA certificate")
    try:
        ca_flag = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        ca_flag = False
    if not ca_flag:
        raise InvalidArgument("the CA certificate is not a CA (basic constraints CA:FALSE)")
    if not is_signed_by(pems[0], pems[0]):
        raise InvalidArgument("the CA certificate must be a self-signed root")
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if not start <= _utcnow() < end - datetime.timedelta(days=1):
        raise InvalidArgument("the CA certificate is expired, not yet valid, or expires in a day")
    return RootCA(cert_pem=pems[0], key_pem=key_pem)


def cross_sign(new_root_pem: str, old_root: RootCA) -> str:
    """The new root's subject and key, signed by the old root: an intermediate through which
    nodes that trust only the old root accept certificates the new root issues (SwarmKit's
    ``CrossSignCACertificate``)."""
    new_cert = load_cert(new_root_pem)
    old_cert = load_cert(old_root.cert_pem)
    public_key = new_cert.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise InvalidArgument("the new root CA's key is not an ECDSA key")
    cert = (
        _ca_builder(new_cert.subject, public_key, new_cert.not_valid_before_utc)
        .issuer_name(old_cert.subject)
        .not_valid_after(min(new_cert.not_valid_after_utc, old_cert.not_valid_after_utc))
        # Names the old key: both roots are "swarm-ca", and without it a verifier could
        # take the intermediate for self-signed.
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                _load_key(old_root.key_pem).public_key()
            ),
            critical=False,
        )
        .sign(_load_key(old_root.key_pem), hashes.SHA256())
    )
    return _cert_pem(cert)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tls_info(trust_root: str, issuer_pem: str) -> TLSInfo:
    """Docker's TLSInfo of a node: what it trusts, and who issued its certificate (raw
    subject and SubjectPublicKeyInfo of the issuer, base64 as Docker's JSON shows []byte)."""
    issuer = load_cert(issuer_pem)
    return TLSInfo(
        trust_root=trust_root,
        cert_issuer_subject=_b64(issuer.subject.public_bytes()),
        cert_issuer_public_key=_b64(
            issuer.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ),
    )


def create_csr(key_pem: str) -> str:
    """A CSR for the node's key. Its subject is ignored: the manager decides the identity."""
    key = _load_key(key_pem)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _node_sans(node_id: str, role: NodeRole) -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName([x509.DNSName(ROLE_OU[role]), x509.DNSName(node_id)])


def sign_node_csr(
    root: RootCA,
    csr_pem: str,
    node_id: str,
    role: NodeRole,
    cluster_id: str,
    validity: datetime.timedelta = NODE_CERT_VALIDITY,
    intermediates: str = "",
) -> str:
    """Issue the node's certificate; the identity comes from the manager, never the CSR.

    ``intermediates`` (a cross-signed root during a rotation) follow the leaf in the PEM
    returned, so the node presents the whole chain.
    """
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError:
        raise InvalidArgument("invalid certificate signing request") from None
    if not csr.is_signature_valid:
        raise InvalidArgument("the certificate signing request has an invalid signature")
    ca_cert = load_cert(root.cert_pem)
    ca_key = _load_key(root.key_pem)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, node_id),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ROLE_OU[role]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
        ]
    )
    issued = _utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(issued - min(BACKDATE, validity / BACKDATE_SHARE))
        .not_valid_after(min(issued + validity, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        # Every node is both a client (of managers) and possibly a server (once promoted).
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(_node_sans(node_id, role), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return join_pems([_cert_pem(cert), intermediates])


def cert_identity(cert_pem: str) -> NodeIdentity:
    """Read node id, role and cluster id from a node certificate (the leaf of a chain)."""
    subject = load_cert(cert_pem).subject

    def one(oid: x509.ObjectIdentifier) -> str:
        attrs = subject.get_attributes_for_oid(oid)
        return str(attrs[0].value) if attrs else ""

    node_id, ou, cluster_id = (
        one(NameOID.COMMON_NAME),
        one(NameOID.ORGANIZATIONAL_UNIT_NAME),
        one(NameOID.ORGANIZATION_NAME),
    )
    roles = {ou_name: role for role, ou_name in ROLE_OU.items()}
    if not node_id or not cluster_id or ou not in roles:
        raise InvalidArgument("the certificate is not a swarm node certificate")
    return NodeIdentity(node_id=node_id, role=roles[ou], cluster_id=cluster_id)


def is_signed_by(cert_pem: str, ca_pem: str) -> bool:
    """Whether the CA directly issued this certificate (signature and issuer name match)."""
    try:
        load_cert(cert_pem).verify_directly_issued_by(load_cert(ca_pem))
    except (ValueError, TypeError, InvalidSignature, InvalidArgument):
        return False
    return True


def _is_ca(cert_pem: str) -> bool:
    try:
        return bool(
            load_cert(cert_pem).extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        )
    except x509.ExtensionNotFound:
        return False


def chain_is_trusted(chain_pem: str, trust_pem: str) -> bool:
    """Whether the chain's leaf was issued by one of the trusted roots, directly or through
    one CA certificate of the chain that such a root issued (the cross-signed root of a
    rotation: the only intermediate a swarm ever has)."""
    chain = split_pems(chain_pem)
    roots = split_pems(trust_pem)
    if not chain or not roots:
        return False
    leaf, intermediates = chain[0], chain[1:]
    if any(is_signed_by(leaf, root) for root in roots):
        return True
    return any(
        _is_ca(mid) and is_signed_by(leaf, mid) and any(is_signed_by(mid, r) for r in roots)
        for mid in intermediates
    )


# ---------------------------------------------------------------- join tokens


def _base36(n: int) -> str:
    digits = []
    while n:
        n, rem = divmod(n, 36)
        digits.append(BASE36[rem])
    return "".join(reversed(digits)) or "0"


def ca_digest(ca_pem: str) -> str:
    """SwarmKit's token digest: base-36 sha256 of the root CA certificate, zero-padded to 50."""
    der = load_cert(ca_pem).public_bytes(serialization.Encoding.DER)
    return _base36(int.from_bytes(hashlib.sha256(der).digest())).zfill(DIGEST_LEN)


def new_join_token(ca_pem: str) -> str:
    """A fresh token for this CA: ``SWMTKN-1-<digest>-<secret>``."""
    secret = _base36(int.from_bytes(secrets.token_bytes(SECRET_BYTES))).zfill(SECRET_LEN)
    return f"{TOKEN_PREFIX}-{TOKEN_VERSION}-{ca_digest(ca_pem)}-{secret}"


def generate_join_tokens(ca_pem: str) -> JoinTokens:
    return JoinTokens(worker=new_join_token(ca_pem), manager=new_join_token(ca_pem))


def _is_base36(text: str, length: int) -> bool:
    return len(text) == length and all(c in BASE36 for c in text)


def parse_join_token(token: str) -> JoinToken:
    """Split a token; raise InvalidArgument("invalid join token") unless it is well formed."""
    parts = token.strip().split("-")
    if (
        len(parts) != 4
        or parts[0] != TOKEN_PREFIX
        or parts[1] != TOKEN_VERSION
        or not _is_base36(parts[2], DIGEST_LEN)
        or not _is_base36(parts[3], SECRET_LEN)
    ):
        raise InvalidArgument(INVALID_TOKEN)
    return JoinToken(digest=parts[2], secret=parts[3])


def token_matches_ca(token: str, ca_pem: str) -> bool:
    """Whether a (well-formed) token was made for this root CA."""
    return hmac.compare_digest(parse_join_token(token).digest, ca_digest(ca_pem))


def role_for_token(token: str, tokens: JoinTokens) -> NodeRole:
    """The role a presented token grants, comparing in constant time.

    Raises InvalidArgument for a malformed token and PermissionDenied for one that is not
    the cluster's current worker or manager token (wrong CA, rotated or guessed secret).
    """
    presented = parse_join_token(token)
    granted: NodeRole | None = None
    # Compare against both tokens always, so timing does not tell which one nearly matched.
    for role, current in ((NodeRole.WORKER, tokens.worker), (NodeRole.MANAGER, tokens.manager)):
        if current and hmac.compare_digest(
            f"{presented.digest}-{presented.secret}", "-".join(current.split("-")[2:])
        ):
            granted = role
    if granted is None:
        raise PermissionDenied(WRONG_TOKEN)
    return granted
