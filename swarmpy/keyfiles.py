"""The node's key material on disk under autolock's unlock key (the KEK): the swarm state's
keys (state.json) and the node's TLS private key, two files that move to a new unlock key
together (`swarm update --autolock`, `swarm unlock-key --rotate`).

Two files cannot be replaced in one step, and a crash may fall between the writes. The order
makes every such moment one that the new key (or, before anything moved, the old one)
unlocks, as SwarmKit keeps a pending key beside its TLS key for the same reason:

- to a key (from none or from another): the state first, sealed under the new key with the
  old one inside it; then the TLS key under the new key; then the state again without the old
  key. A node stopped after the first write is unlocked with the new key, which opens the
  state and, with the old key found there, the TLS key (``open_tls_key``);
- to none (autolock off): the TLS key first, in clear; then the state, in clear. A node
  stopped between them is still locked (its state is sealed) and opens with the old key.
"""

from __future__ import annotations

from pathlib import Path

from swarmpy import tls
from swarmpy.ca import keywrap
from swarmpy.config import SwarmState


def rekey(
    state_file: Path,
    certs_dir: Path,
    state: SwarmState | None,
    creds: tls.NodeCredentials | None,
    old: bytes | None,
    new: bytes | None,
) -> None:
    """Write the state and the TLS key again under ``new`` (None: in clear), from ``old``,
    in the order above. Each write is durable before the next starts (fsutil.write_atomic);
    an OSError leaves the files as the last finished write left them."""
    if new is None:
        if creds is not None:
            tls.save_node_credentials(certs_dir, creds, None)
        if state is not None:
            state.save(state_file, None)
        return
    carry_old = old is not None and old != new and creds is not None
    if state is not None:
        state.save(state_file, new, previous_kek=old if carry_old else None)
    if creds is not None:
        tls.save_node_credentials(certs_dir, creds, new)
    if state is not None and carry_old:
        state.save(state_file, new)


def open_tls_key(key_pem: str, kek: bytes, previous: bytes | None) -> str:
    """The node's TLS key opened with the unlock key, or with the one it was under before a
    rotation that stopped halfway (``SwarmState.opened``); ``keywrap.InvalidUnlockKey`` if
    neither opens it. A key in clear is returned as it is."""
    if not keywrap.key_is_encrypted(key_pem):
        return key_pem
    try:
        return keywrap.decrypt_key_pem(key_pem, kek)
    except keywrap.InvalidUnlockKey:
        if previous is None:
            raise
        return keywrap.decrypt_key_pem(key_pem, previous)
