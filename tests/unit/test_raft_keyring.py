"""The Raft transport's key ring: what it accepts, what it refuses, and that it never repeats
a nonce."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet, InvalidToken
from pysyncobj.encryptor import getEncryptor

from swarmpy.manager.state.raft.keyring import _HEADER, KeyRing


def opened(ring: KeyRing, token: bytes) -> tuple[int, bytes]:
    """What pysyncobj's connection does with a token: its timestamp, then its plaintext."""
    return ring.extract_timestamp(token), ring.decrypt(token)


def test_a_peer_with_the_same_secret_reads_the_message_and_its_timestamp() -> None:
    token = KeyRing("s1").encrypt_at_time(b"append_entries", 1234)
    assert opened(KeyRing("s1"), token) == (1234, b"append_entries")


def test_a_peer_without_the_secret_cannot_read_it() -> None:
    token = KeyRing("s1").encrypt_at_time(b"vote for me", 1)
    with pytest.raises(InvalidToken):
        KeyRing("s2").extract_timestamp(token)
    with pytest.raises(InvalidToken):
        KeyRing("s2").decrypt(token)


def test_during_a_rotation_the_old_secret_is_still_accepted() -> None:
    token = KeyRing("old").encrypt_at_time(b"x", 1)
    assert opened(KeyRing("new", ["old"]), token) == (1, b"x")


def test_a_forged_timestamp_is_refused() -> None:
    token = bytearray(KeyRing("s1").encrypt_at_time(b"x", 5))
    stamp_at = _HEADER.size - 12 - 8  # the timestamp sits before the nonce
    token[stamp_at + 7] ^= 1
    with pytest.raises(InvalidToken):
        KeyRing("s1").extract_timestamp(bytes(token))


def test_a_tampered_body_is_refused() -> None:
    token = bytearray(KeyRing("s1").encrypt_at_time(b"hello", 5))
    token[-1] ^= 1
    with pytest.raises(InvalidToken):
        KeyRing("s1").decrypt(bytes(token))


def test_every_message_of_a_sender_has_its_own_nonce_and_senders_their_own_salt() -> None:
    ring = KeyRing("s1")
    headers = [_HEADER.unpack_from(ring.encrypt_at_time(b"x", 1)) for _ in range(1000)]
    assert len({h[3] for h in headers}) == 1000
    assert len({h[1] for h in headers}) == 1
    other = _HEADER.unpack_from(KeyRing("s1").encrypt_at_time(b"x", 1))
    assert other[1] != headers[0][1]


def test_a_peer_still_on_fernet_is_understood() -> None:
    fernet: Fernet = getEncryptor("s1")
    token = fernet.encrypt_at_time(b"from an older manager", 77)
    assert opened(KeyRing("s1"), token) == (77, b"from an older manager")
    with pytest.raises(InvalidToken):
        KeyRing("s2").decrypt(token)
