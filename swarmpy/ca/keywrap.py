"""Autolock's keys: the unlock key (a key-encrypting key, KEK) and what it wraps. Pure.

With autolock on (``swarm init --autolock``, ``swarm update --autolock=true``), a manager's
key material on disk is encrypted under the cluster's unlock key, so a manager that restarts
comes up locked until ``swarm unlock`` gives the key back (SwarmKit's manager/encryption and
ca/keyreadwriter.go):

- the node's TLS key (``certificates/swarm-node.key``): PKCS#8 encrypted with the KEK as its
  password, so ``openssl pkey`` opens it with the key too;
- the Raft password and the data keys in ``swarm/state.json``: one AES-256-GCM box
  (``wrap``), the state file keeping only what is not secret in clear.

The unlock key is 32 random bytes, shown as SwarmKit shows it: ``SWMKEY-1-`` and the
unpadded standard base64 of the bytes.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from swarmpy.errors import InvalidArgument, SwarmpyError

HUMAN_PREFIX = "SWMKEY-1-"
KEY_BYTES = 32
NONCE_BYTES = 12
WRAP_VERSION = "1"
ENCRYPTED_PEM = "-----BEGIN ENCRYPTED PRIVATE KEY-----"


class InvalidUnlockKey(SwarmpyError):
    """A well-formed unlock key that opens nothing (the Engine API answers Docker's 401)."""

    grpc_status = "UNAUTHENTICATED"

    def __init__(self, message: str = "swarm could not be unlocked: invalid key provided") -> None:
        super().__init__(message)


def new_unlock_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def human_readable(key: bytes) -> str:
    return HUMAN_PREFIX + base64.b64encode(key).decode().rstrip("=")


def parse_human_readable(text: str) -> bytes:
    """The key's bytes; Docker's "invalid key string" (a 400) for anything else."""
    if not text.startswith(HUMAN_PREFIX):
        raise InvalidArgument("invalid key string")
    body = text[len(HUMAN_PREFIX) :]
    if len(body) % 4 == 1 or "=" in body:
        raise InvalidArgument("invalid key string")
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument("invalid key string") from None


def wrap(kek: bytes, plaintext: bytes, label: str) -> str:
    """``plaintext`` sealed under ``kek`` (AES-256-GCM, ``label`` as associated data), as text
    a JSON file can hold: ``1:<base64 nonce+ciphertext+tag>``."""
    if len(kek) != KEY_BYTES:
        raise InvalidUnlockKey()
    nonce = os.urandom(NONCE_BYTES)
    box = nonce + AESGCM(kek).encrypt(nonce, plaintext, label.encode())
    return f"{WRAP_VERSION}:{base64.b64encode(box).decode()}"


def unwrap(kek: bytes, wrapped: str, label: str) -> bytes:
    """What ``wrap`` sealed; ``InvalidUnlockKey`` for another key (or damaged data)."""
    version, _, body = wrapped.partition(":")
    if version != WRAP_VERSION:
        raise SwarmpyError(f"unknown key wrapping version {version!r}")
    try:
        box = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidUnlockKey() from None
    if len(kek) != KEY_BYTES or len(box) < NONCE_BYTES:
        raise InvalidUnlockKey()
    try:
        return AESGCM(kek).decrypt(box[:NONCE_BYTES], box[NONCE_BYTES:], label.encode())
    except InvalidTag:
        raise InvalidUnlockKey() from None


def key_is_encrypted(key_pem: str) -> bool:
    return key_pem.lstrip().startswith(ENCRYPTED_PEM)


def encrypt_key_pem(key_pem: str, kek: bytes) -> str:
    """The private key PEM encrypted under the KEK (PKCS#8, the best encryption available)."""
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(kek),
    ).decode()


def decrypt_key_pem(key_pem: str, kek: bytes) -> str:
    """An encrypted private key PEM opened with the KEK, as an unencrypted PKCS#8 PEM."""
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=kek)
    except (ValueError, TypeError):
        raise InvalidUnlockKey() from None
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
