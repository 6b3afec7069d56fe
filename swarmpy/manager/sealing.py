"""Sealing a secret's data before it enters the store: AES-256-GCM under the cluster's data key.

The store is the Raft journal and its snapshots on every manager's disk, so what goes into it
must already be unreadable. The data key is 32 random bytes made at `swarm init`, handed to
each manager with its certificate (``IssueNodeCertificateResponse.data_key``, as the Raft
password is) and kept in the node's 0600 state file, never in the store. Sealed data is
``VERSION || nonce (12 bytes) || ciphertext+tag``; the secret's id is the associated data, so
sealed bytes copied onto another secret do not open.
"""

from __future__ import annotations

import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from swarmpy.errors import SwarmpyError

VERSION = b"\x01"
NONCE_BYTES = 12


class SealingError(SwarmpyError):
    pass


def new_data_key() -> str:
    """A fresh data key, as the node's state file keeps it (hex)."""
    return secrets.token_hex(32)


def _aead(data_key: str) -> AESGCM:
    if not data_key:
        raise SealingError(
            "this manager has no data key to seal secrets with (its swarm predates secrets)"
        )
    return AESGCM(bytes.fromhex(data_key))


def seal(data_key: str, object_id: str, data: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return VERSION + nonce + _aead(data_key).encrypt(nonce, data, object_id.encode())


def unseal(data_key: str, object_id: str, sealed: bytes) -> bytes:
    if not sealed.startswith(VERSION) or len(sealed) < 1 + NONCE_BYTES:
        raise SealingError(f"secret {object_id}: sealed data is malformed")
    nonce = sealed[1 : 1 + NONCE_BYTES]
    try:
        return _aead(data_key).decrypt(nonce, sealed[1 + NONCE_BYTES :], object_id.encode())
    except InvalidTag:
        raise SealingError(
            f"secret {object_id}: cannot be opened with this manager's key"
        ) from None
