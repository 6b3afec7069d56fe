"""Root CA, join tokens and node certificates (pure crypto, no network)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from swarmpy import tls
from swarmpy.ca import certificates as ca
from swarmpy.errors import InvalidArgument, PermissionDenied
from swarmpy.model import NodeRole

TOKEN_RE = re.compile(r"^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$")


@pytest.fixture(scope="module")
def root() -> ca.RootCA:
    return ca.create_root_ca()


def issue(root: ca.RootCA, node_id: str, role: NodeRole) -> tuple[str, str]:
    key = ca.generate_key()
    return key, ca.sign_node_csr(root, ca.create_csr(key), node_id, role, "cluster1")


def test_root_ca_is_a_20_year_p256_ca_named_swarm_ca(root: ca.RootCA) -> None:
    cert = ca.load_cert(root.cert_pem)
    assert cert.subject.rfc4514_string() == "CN=swarm-ca"
    assert cert.subject == cert.issuer
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime >= datetime.timedelta(days=20 * 365)


def test_tokens_have_dockers_format_and_differ_only_by_secret(root: ca.RootCA) -> None:
    tokens = ca.generate_join_tokens(root.cert_pem)
    assert TOKEN_RE.match(tokens.worker)
    assert TOKEN_RE.match(tokens.manager)
    worker, manager = ca.parse_join_token(tokens.worker), ca.parse_join_token(tokens.manager)
    assert worker.digest == manager.digest
    assert worker.secret != manager.secret


def test_digest_is_base36_sha256_of_the_ca_der_padded_to_50(root: ca.RootCA) -> None:
    der = ca.load_cert(root.cert_pem).public_bytes(serialization.Encoding.DER)
    value = int.from_bytes(hashlib.sha256(der).digest())
    digest = ca.ca_digest(root.cert_pem)
    assert len(digest) == 50
    assert int(digest, 36) == value
    assert ca.parse_join_token(ca.new_join_token(root.cert_pem)).digest == digest


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "SWMTKN-2-" + "0" * 50 + "-" + "0" * 25,
        "XXXXXX-1-" + "0" * 50 + "-" + "0" * 25,
        "SWMTKN-1-" + "0" * 49 + "-" + "0" * 25,
        "SWMTKN-1-" + "0" * 50 + "-" + "0" * 24,
        "SWMTKN-1-" + "A" * 50 + "-" + "0" * 25,
        "SWMTKN-1-" + "0" * 50 + "-" + "0" * 25 + "-extra",
    ],
)
def test_malformed_token_is_invalid(token: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^invalid join token$"):
        ca.parse_join_token(token)


def test_role_for_token_tells_worker_from_manager(root: ca.RootCA) -> None:
    tokens = ca.generate_join_tokens(root.cert_pem)
    assert ca.role_for_token(tokens.worker, tokens) is NodeRole.WORKER
    assert ca.role_for_token(tokens.manager, tokens) is NodeRole.MANAGER


def test_rotated_or_foreign_token_is_refused(root: ca.RootCA) -> None:
    tokens = ca.generate_join_tokens(root.cert_pem)
    with pytest.raises(PermissionDenied, match=r"^A valid join token is necessary to join this"):
        ca.role_for_token(ca.new_join_token(root.cert_pem), tokens)
    # Same secret, another cluster's CA digest.
    other = ca.parse_join_token(ca.new_join_token(ca.create_root_ca().cert_pem))
    secret = ca.parse_join_token(tokens.worker).secret
    with pytest.raises(PermissionDenied):
        ca.role_for_token(f"SWMTKN-1-{other.digest}-{secret}", tokens)


def test_token_matches_only_its_own_ca(root: ca.RootCA) -> None:
    token = ca.new_join_token(root.cert_pem)
    assert ca.token_matches_ca(token, root.cert_pem)
    assert not ca.token_matches_ca(token, ca.create_root_ca().cert_pem)


@pytest.mark.parametrize(
    ("role", "ou"), [(NodeRole.MANAGER, "swarm-manager"), (NodeRole.WORKER, "swarm-worker")]
)
def test_signed_node_certificate_carries_identity(root: ca.RootCA, role: NodeRole, ou: str) -> None:
    _, cert_pem = issue(root, "node1", role)
    cert = ca.load_cert(cert_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "node1"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == ou
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "cluster1"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [ou, "node1"]
    assert ca.cert_identity(cert_pem) == ca.NodeIdentity("node1", role, "cluster1")
    assert ca.is_signed_by(cert_pem, root.cert_pem)
    # Valid for 90 days from now, and backdated a little for peers whose clock lags.
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == ca.NODE_CERT_VALIDITY + ca.BACKDATE


def test_csr_subject_cannot_choose_the_identity(root: ca.RootCA) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "evil"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "swarm-manager"),
                ]
            )
        )
        .sign(key, hashes.SHA256())
    )
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    cert_pem = ca.sign_node_csr(root, pem, "node2", NodeRole.WORKER, "cluster1")
    assert ca.cert_identity(cert_pem) == ca.NodeIdentity("node2", NodeRole.WORKER, "cluster1")


def test_garbage_csr_is_invalid(root: ca.RootCA) -> None:
    with pytest.raises(InvalidArgument, match="certificate signing request"):
        ca.sign_node_csr(root, "not a csr", "n", NodeRole.WORKER, "c")


def test_certificate_from_another_ca_is_not_signed_by_ours(root: ca.RootCA) -> None:
    _, forged = issue(ca.create_root_ca(), "node1", NodeRole.MANAGER)
    assert not ca.is_signed_by(forged, root.cert_pem)


def test_root_ca_itself_is_not_a_node_certificate(root: ca.RootCA) -> None:
    with pytest.raises(InvalidArgument, match="not a swarm node certificate"):
        ca.cert_identity(root.cert_pem)


# ---------------------------------------------------------------- credentials on disk


def test_credentials_round_trip_with_private_key_mode_0600(root: ca.RootCA, tmp_path: Path) -> None:
    key, cert = issue(root, "node1", NodeRole.WORKER)
    creds = tls.NodeCredentials(key_pem=key, cert_pem=cert, ca_pem=root.cert_pem)
    directory = tmp_path / "certificates"
    assert tls.load_node_credentials(directory) is None
    tls.save_node_credentials(directory, creds)
    assert (directory / tls.KEY_FILE).stat().st_mode & 0o777 == 0o600
    loaded = tls.load_node_credentials(directory)
    assert loaded == creds
    assert loaded.identity == ca.NodeIdentity("node1", NodeRole.WORKER, "cluster1")
    tls.remove_node_credentials(directory)
    assert tls.load_node_credentials(directory) is None


def test_incomplete_or_mismatched_credentials_are_reported(root: ca.RootCA, tmp_path: Path) -> None:
    key, cert = issue(root, "node1", NodeRole.WORKER)
    tls.save_node_credentials(tmp_path, tls.NodeCredentials(key, cert, root.cert_pem))
    (tmp_path / tls.CA_FILE).write_text(ca.create_root_ca().cert_pem)
    with pytest.raises(InvalidArgument, match="not signed by its root CA"):
        tls.load_node_credentials(tmp_path)
    (tmp_path / tls.CERT_FILE).unlink()
    with pytest.raises(InvalidArgument, match="incomplete"):
        tls.load_node_credentials(tmp_path)


# ---------------------------------------------------------------- validity, chains, rotation


def test_a_short_lived_certificate_is_backdated_by_a_tenth_of_its_life(root: ca.RootCA) -> None:
    key = ca.generate_key()
    validity = datetime.timedelta(seconds=20)
    cert_pem = ca.sign_node_csr(
        root, ca.create_csr(key), "n1", NodeRole.WORKER, "c1", validity=validity
    )
    start, end = ca.cert_validity(cert_pem)
    assert end - start == validity + validity / 10
    assert end > datetime.datetime.now(datetime.UTC) + validity * 0.8


def test_bundles_split_and_join_without_duplicates(root: ca.RootCA) -> None:
    other = ca.create_root_ca()
    bundle = ca.join_pems([root.cert_pem, other.cert_pem, root.cert_pem])
    assert ca.split_pems(bundle) == [root.cert_pem, other.cert_pem]
    assert ca.same_certificates(bundle, other.cert_pem + "\n" + root.cert_pem)
    assert not ca.same_certificates(bundle, root.cert_pem)


def test_a_cross_signed_root_chains_new_certificates_to_the_old_root(root: ca.RootCA) -> None:
    new = ca.create_root_ca()
    cross = ca.cross_sign(new.cert_pem, root)
    key = ca.generate_key()
    leaf = ca.sign_node_csr(
        new, ca.create_csr(key), "n1", NodeRole.WORKER, "c1", intermediates=cross
    )
    assert len(ca.split_pems(leaf)) == 2
    assert ca.cert_identity(leaf).node_id == "n1"
    assert ca.chain_is_trusted(leaf, root.cert_pem)  # through the intermediate
    assert ca.chain_is_trusted(leaf, new.cert_pem)  # directly
    assert not ca.chain_is_trusted(leaf, ca.create_root_ca().cert_pem)
    bare_leaf = ca.split_pems(leaf)[0]
    assert not ca.chain_is_trusted(bare_leaf, root.cert_pem)


def test_a_node_certificate_cannot_act_as_an_intermediate(root: ca.RootCA) -> None:
    """A node holds a key its root signed; a leaf it signs must not pass as the cluster's."""
    node_key = ca.generate_key()
    node_cert = ca.sign_node_csr(root, ca.create_csr(node_key), "n1", NodeRole.WORKER, "c1")
    forged = ca.sign_node_csr(
        ca.RootCA(node_cert, node_key), ca.create_csr(ca.generate_key()), "m", NodeRole.MANAGER,
        "c1", intermediates=node_cert,
    )  # fmt: skip
    assert not ca.chain_is_trusted(forged, root.cert_pem)


def test_a_brought_root_ca_must_be_a_matching_valid_self_signed_ca(root: ca.RootCA) -> None:
    assert ca.check_root_ca(root.cert_pem, root.key_pem) == root
    other = ca.create_root_ca()
    with pytest.raises(InvalidArgument, match="does not match"):
        ca.check_root_ca(root.cert_pem, other.key_pem)
    with pytest.raises(InvalidArgument, match="exactly one"):
        ca.check_root_ca(root.cert_pem + other.cert_pem, root.key_pem)
    with pytest.raises(InvalidArgument, match="not a valid"):
        ca.check_root_ca(root.cert_pem, "garbage")
    key = ca.generate_key()
    leaf = ca.sign_node_csr(root, ca.create_csr(key), "n1", NodeRole.WORKER, "c1")
    with pytest.raises(InvalidArgument, match="not a CA"):
        ca.check_root_ca(leaf, key)
    cross = ca.cross_sign(other.cert_pem, root)
    with pytest.raises(InvalidArgument, match="self-signed"):
        ca.check_root_ca(cross, other.key_pem)


def test_tls_info_names_the_issuer_as_docker_does(root: ca.RootCA) -> None:
    info = ca.tls_info(root.cert_pem, root.cert_pem)
    cert = ca.load_cert(root.cert_pem)
    assert base64.b64decode(info.cert_issuer_subject) == cert.subject.public_bytes()
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert base64.b64decode(info.cert_issuer_public_key) == spki
    assert info.trust_root == root.cert_pem


def test_identity_cache_holds_a_swarm2k_sized_set_of_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 2,500 nodes' calls cycling through the cache: an LRU smaller than that evicts every
    # certificate just before it comes back, and each call checks a signature again.
    checked: list[str] = []

    def trusted(chain_pem: str, trust_pem: str) -> bool:
        checked.append(chain_pem)
        return True

    def identity(chain_pem: str) -> ca.NodeIdentity:
        return ca.NodeIdentity(node_id=chain_pem, role=NodeRole.WORKER, cluster_id="c")

    monkeypatch.setattr(ca, "chain_is_trusted", trusted)
    monkeypatch.setattr(ca, "cert_identity", identity)
    tls._verified_identity.cache_clear()
    try:
        chains = [f"leaf-{i}" for i in range(2_500)]
        for _ in range(3):
            for chain in chains:
                assert tls._verified_identity(chain, "roots") is not None
        assert len(checked) == len(chains)
    finally:
        tls._verified_identity.cache_clear()
