"""The node's two files of key material moved to a new unlock key: whatever write a crash
interrupts, the node still opens with the key `swarm unlock` is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmpy import keyfiles, tls
from swarmpy.ca import certificates as ca
from swarmpy.ca import keywrap
from swarmpy.config import SwarmState

STATE = SwarmState(
    "n1", "c1", "manager", "0.0.0.0:2377", "127.0.0.1", raft_password="pw", data_key="aa" * 32
)


class Node:
    """A node's data root: its state file and its TLS key, as the daemon keeps them."""

    def __init__(self, root: Path) -> None:
        self.state_file = root / "state.json"
        self.certs_dir = root / "certificates"
        self.creds = tls.NodeCredentials(key_pem=ca.generate_key(), cert_pem="c", ca_pem="a")

    def rekey(self, old: bytes | None, new: bytes | None) -> None:
        keyfiles.rekey(self.state_file, self.certs_dir, STATE, self.creds, old, new)

    def unlock(self, kek: bytes) -> tuple[SwarmState, str]:
        """What `swarm unlock` opens after a restart: the state and the TLS key."""
        loaded = SwarmState.load(self.state_file)
        assert loaded is not None
        state, previous = loaded.opened(kek)
        key_pem = (self.certs_dir / tls.KEY_FILE).read_text()
        return state, keyfiles.open_tls_key(key_pem, kek, previous)


def crash_on(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> None:
    """The process dies as ``target.name`` starts writing: nothing of that write lands."""

    def died(*_: object, **__: object) -> None:
        raise OSError("killed")

    monkeypatch.setattr(target, name, died)


def test_a_rotation_moves_both_files_and_leaves_no_old_key(tmp_path: Path) -> None:
    node, old, new = Node(tmp_path), keywrap.new_unlock_key(), keywrap.new_unlock_key()
    node.rekey(None, old)
    node.rekey(old, new)
    assert node.unlock(new) == (STATE, node.creds.key_pem)
    loaded = SwarmState.load(node.state_file)
    assert loaded is not None
    assert loaded.opened(new)[1] is None  # the old key is not kept once both moved
    with pytest.raises(keywrap.InvalidUnlockKey):
        node.unlock(old)


def test_a_rotation_stopped_before_the_tls_key_opens_with_the_new_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, old, new = Node(tmp_path), keywrap.new_unlock_key(), keywrap.new_unlock_key()
    node.rekey(None, old)
    crash_on(monkeypatch, tls, "save_node_credentials")
    with pytest.raises(OSError, match="killed"):
        node.rekey(old, new)
    # The state moved, the TLS key did not: the new key, the one `unlock-key --rotate`
    # printed, opens both.
    assert keywrap.key_is_encrypted((node.certs_dir / tls.KEY_FILE).read_text())
    assert node.unlock(new) == (STATE, node.creds.key_pem)


def test_turning_autolock_on_stopped_halfway_opens_with_the_new_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, kek = Node(tmp_path), keywrap.new_unlock_key()
    node.rekey(None, None)
    crash_on(monkeypatch, tls, "save_node_credentials")
    with pytest.raises(OSError, match="killed"):
        node.rekey(None, kek)
    assert node.unlock(kek) == (STATE, node.creds.key_pem)


def test_turning_autolock_off_stopped_halfway_opens_with_the_old_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, kek = Node(tmp_path), keywrap.new_unlock_key()
    node.rekey(None, kek)
    crash_on(monkeypatch, SwarmState, "save")
    with pytest.raises(OSError, match="killed"):
        node.rekey(kek, None)
    # The TLS key is in clear already; the state is still sealed, so the node is still
    # locked, and the key it was locked with opens it.
    assert not keywrap.key_is_encrypted((node.certs_dir / tls.KEY_FILE).read_text())
    assert node.unlock(kek) == (STATE, node.creds.key_pem)


def test_a_wrong_key_opens_nothing(tmp_path: Path) -> None:
    node, old, new = Node(tmp_path), keywrap.new_unlock_key(), keywrap.new_unlock_key()
    node.rekey(None, old)
    node.rekey(old, new)
    with pytest.raises(keywrap.InvalidUnlockKey):
        node.unlock(keywrap.new_unlock_key())
