"""Sealing a secret's data before it enters the store: AES-256-GCM under the cluster's data key.

The store is the Raft journal and its snapshots on every manager's disk, so what goes into it
must already be unreadable. The data key is 32 random bytes made at `swarm init`, handed to
each manager with its certificate (``IssueNodeCertificateResponse.data_key``, as the Raft
password is) and kept in the node's 0600 state file, never in the store. Sealed data is
``VERSION || key id (8 bytes) || nonce (12 bytes) || ciphertext+tag``; the secret's id is the
associated data, so sealed bytes copied onto another secret do not open.

The key rotates (``swarm update --autolock=true`` makes a new one, as SwarmKit rotates its
Raft DEK then; a swarm from before data keys gets its first): a manager keeps every key the
cluster had (a *ring*, the current one first), seals with the current one and opens with the
one the key id names, so data sealed before a rotation stays readable. Version 1 (no key id)
is what swarmpy wrote before rotation; it is opened by trying the ring.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from swarmpy.errors import SwarmpyError

VERSION_1 = b"\x01"
VERSION = b"\x02"
KEY_ID_BYTES = 8
NONCE_BYTES = 12

# The keys a manager holds, the current one first (hex, as the state file keeps them), or
# where to read them now: a rotation changes them while the manager runs.
KeyRing = Sequence[str]
KeySource = str | KeyRing | Callable[[], KeyRing]


class SealingError(SwarmpyError):
    pass


def new_data_key() -> str:
    """A fresh data key, as the node's state file keeps it (hex)."""
    return secrets.token_hex(32)


def key_id(data_key: str) -> str:
    """A key's public name (hex): the first bytes of its SHA-256, never the key."""
    return hashlib.sha256(bytes.fromhex(data_key)).hexdigest()[: 2 * KEY_ID_BYTES]


def ring(keys: KeySource) -> tuple[str, ...]:
    """The ring a source names now: a single key, a ring, or a callable returning one."""
    if isinstance(keys, str):
        return (keys,) if keys else ()
    if callable(keys):
        keys = keys()
    return tuple(k for k in keys if k)


def _aead(data_key: str) -> AESGCM:
    return AESGCM(bytes.fromhex(data_key))


def seal(keys: KeySource, object_id: str, data: bytes) -> bytes:
    held = ring(keys)
    if not held:
        raise SealingError(
            "this manager has no data key to seal secrets with yet; try again in a moment"
        )
    current = held[0]
    nonce = os.urandom(NONCE_BYTES)
    return (
        VERSION
        + bytes.fromhex(key_id(current))
        + nonce
        + _aead(current).encrypt(nonce, data, object_id.encode())
    )


def unseal(keys: KeySource, object_id: str, sealed: bytes) -> bytes:
    held = ring(keys)
    if sealed.startswith(VERSION) and len(sealed) >= 1 + KEY_ID_BYTES + NONCE_BYTES:
        wanted = sealed[1 : 1 + KEY_ID_BYTES].hex()
        candidates = [k for k in held if key_id(k) == wanted]
        body = sealed[1 + KEY_ID_BYTES :]
    elif sealed.startswith(VERSION_1) and len(sealed) >= 1 + NONCE_BYTES:
        candidates, body = list(held), sealed[1:]
    else:
        raise SealingError(f"secret {object_id}: sealed data is malformed")
    for key in candidates:
        try:
            return _aead(key).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], object_id.encode())
        except InvalidTag:
            continue
    raise SealingError(f"secret {object_id}: cannot be opened with this manager's keys")
