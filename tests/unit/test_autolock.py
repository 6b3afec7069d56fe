"""Autolock's keys: the unlock key's format, what it wraps, and the data key ring."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest

from swarmpy.ca import certificates as ca
from swarmpy.ca import keywrap
from swarmpy.config import SwarmState
from swarmpy.errors import InvalidArgument
from swarmpy.manager import sealing
from swarmpy.manager.autolock import (
    KeyKeeper,
    Step,
    leader_step,
    missing_key,
    renamed,
    wanted_kek,
)
from swarmpy.manager.controlapi.cluster import ClusterUpdate, apply_update, unlock_key_of
from swarmpy.manager.controlapi.controlapi import ControlAPI
from swarmpy.manager.state.store import CLUSTERS, LocalLog, Store
from swarmpy.model import Cluster


def test_unlock_key_reads_back_as_swarmkit_writes_it() -> None:
    key = keywrap.new_unlock_key()
    text = keywrap.human_readable(key)
    # SwarmKit's HumanReadableKey: the prefix, then unpadded standard base64 of 32 bytes.
    assert text.startswith("SWMKEY-1-")
    assert len(text) == len("SWMKEY-1-") + 43
    assert "=" not in text
    assert keywrap.parse_human_readable(text) == key
    for bad in ("", "SWMKEY-2-" + text[9:], text + "=", "SWMKEY-1-!!!!", text[:-1] + "*"):
        with pytest.raises(InvalidArgument, match="invalid key string"):
            keywrap.parse_human_readable(bad)


def test_wrapped_data_opens_only_with_its_key_and_label() -> None:
    kek, other = keywrap.new_unlock_key(), keywrap.new_unlock_key()
    wrapped = keywrap.wrap(kek, b"raft password", "label")
    assert b"raft password" not in wrapped.encode()
    assert keywrap.unwrap(kek, wrapped, "label") == b"raft password"
    with pytest.raises(keywrap.InvalidUnlockKey, match="invalid key provided"):
        keywrap.unwrap(other, wrapped, "label")
    with pytest.raises(keywrap.InvalidUnlockKey):
        keywrap.unwrap(kek, wrapped, "another label")


def test_a_tls_key_encrypted_under_the_unlock_key() -> None:
    key_pem = ca.generate_key()
    kek = keywrap.new_unlock_key()
    locked = keywrap.encrypt_key_pem(key_pem, kek)
    assert keywrap.key_is_encrypted(locked)
    assert not keywrap.key_is_encrypted(key_pem)
    assert keywrap.decrypt_key_pem(locked, kek) == key_pem
    with pytest.raises(keywrap.InvalidUnlockKey):
        keywrap.decrypt_key_pem(locked, keywrap.new_unlock_key())


def test_the_state_file_keeps_its_keys_wrapped_under_the_unlock_key(tmp_path: Path) -> None:
    state = SwarmState(
        "n1", "c1", "manager", "0.0.0.0:2377", "127.0.0.1", raft_password="pw", data_key="aa" * 32
    ).with_data_key("bb" * 32)
    assert state.data_keys == ("bb" * 32, "aa" * 32)
    path = tmp_path / "state.json"
    kek = keywrap.new_unlock_key()
    state.save(path, kek)
    text = path.read_text()
    assert "pw" not in json.loads(text)["raft_password"]
    assert "aa" * 32 not in text
    loaded = SwarmState.load(path)
    assert loaded is not None
    assert loaded.locked
    assert loaded.data_keys == ()
    with pytest.raises(keywrap.InvalidUnlockKey):
        loaded.unlocked(keywrap.new_unlock_key())
    assert loaded.unlocked(kek) == state
    state.save(path)  # autolock off: back in clear
    assert SwarmState.load(path) == state


def test_data_sealed_before_a_rotation_stays_readable() -> None:
    old, new = sealing.new_data_key(), sealing.new_data_key()
    before = sealing.seal(old, "s1", b"before")
    after = sealing.seal((new, old), "s2", b"after")
    assert sealing.unseal((new, old), "s1", before) == b"before"
    assert sealing.unseal((new, old), "s2", after) == b"after"
    with pytest.raises(sealing.SealingError):
        sealing.unseal(old, "s2", after)  # sealed with the new key only
    with pytest.raises(sealing.SealingError, match="no data key"):
        sealing.seal((), "s3", b"x")


def test_autolock_on_makes_a_key_and_asks_for_a_new_data_key() -> None:
    key = sealing.new_data_key()
    cluster = Cluster(id="c", data_key_id=sealing.key_id(key))
    fresh = keywrap.new_unlock_key()
    on = apply_update(cluster, ClusterUpdate(autolock=True), None, fresh, (key,))
    assert on.autolock
    assert on.rotate_data_key
    assert unlock_key_of(on, key) == fresh
    # Sent again (the spec read back): the same key, no new rotation.
    again = apply_update(
        dataclasses.replace(on, rotate_data_key=False),
        ClusterUpdate(autolock=True),
        None,
        keywrap.new_unlock_key(),
        (key,),
    )
    assert unlock_key_of(again, key) == fresh
    assert not again.rotate_data_key
    rotated = apply_update(again, ClusterUpdate(rotate_unlock_key=True), None, b"k" * 32, (key,))
    assert unlock_key_of(rotated, key) == b"k" * 32
    off = apply_update(rotated, ClusterUpdate(autolock=False), None, fresh, (key,))
    assert not off.autolock
    assert unlock_key_of(off, key) is None
    # A rotation asked with autolock off changes nothing (as SwarmKit).
    assert apply_update(off, ClusterUpdate(rotate_unlock_key=True), None, fresh, (key,)) == off


def test_the_leader_names_makes_or_fetches_the_data_key() -> None:
    key = sealing.new_data_key()
    legacy = Cluster(id="c")  # a swarm from before data keys
    assert leader_step(legacy, ()) is Step.ROTATE
    assert leader_step(legacy, (key,)) is Step.NAME
    named = renamed(legacy, (key,), key)
    assert leader_step(named, (key,)) is Step.NOTHING
    assert leader_step(named, ()) is Step.FETCH
    assert missing_key(named, ())
    asked = dataclasses.replace(named, rotate_data_key=True)
    assert leader_step(asked, (key,)) is Step.ROTATE


def test_a_new_data_key_seals_the_unlock_key_again() -> None:
    old, new = sealing.new_data_key(), sealing.new_data_key()
    kek = keywrap.new_unlock_key()
    cluster = apply_update(
        Cluster(id="c", data_key_id=sealing.key_id(old)), ClusterUpdate(autolock=True), None, kek,
        (old,),
    )  # fmt: skip
    after = renamed(cluster, (old,), new)
    assert after.data_key_id == sealing.key_id(new)
    assert not after.rotate_data_key
    assert unlock_key_of(after, (new,)) == kek  # the new key alone opens it
    # A manager that does not hold the new key yet cannot tell the unlock key.
    assert wanted_kek(after, (old,)) == (False, None)
    assert wanted_kek(after, (new, old)) == (True, kek)


class FakeNode:
    """The daemon's side of the keepers: its keys in memory, and where they were written."""

    def __init__(self, keys: tuple[str, ...], peer: FakeNode | None = None) -> None:
        self.keys = keys
        self.written_under: list[bytes | None] = []
        self.peer = peer  # the manager a certificate renewal reaches
        self.fetches = 0

    def data_keys(self) -> tuple[str, ...]:
        return self.keys

    def add_data_key(self, key: str) -> None:
        self.keys = (key, *self.keys)

    def kek(self) -> bytes | None:
        return self.written_under[-1] if self.written_under else None

    def use_kek(self, kek: bytes | None) -> None:
        self.written_under.append(kek)

    async def fetch_data_keys(self) -> None:
        self.fetches += 1
        if self.peer is not None:
            self.keys = (*self.peer.keys, *(k for k in self.keys if k not in self.peer.keys))


def test_keepers_name_rotate_fetch_and_lock() -> None:
    async def scenario() -> None:
        store = Store(LocalLog())
        await store.update(lambda tx: tx.create(CLUSTERS, Cluster(id="c")))  # from before keys
        leader = FakeNode(())
        follower = FakeNode((), peer=leader)
        leading = KeyKeeper(store, leader, lambda: True)
        following = KeyKeeper(store, follower, lambda: False)

        async def settle() -> Cluster:
            for _ in range(3):
                for keeper in (leading, following):
                    await keeper.follow(store.view().cluster())
                if following._fetching is not None:
                    await following._fetching
            cluster = store.view().cluster()
            assert cluster is not None
            return cluster

        # A swarm from before data keys gets one; the follower fetches it.
        cluster = await settle()
        assert len(leader.keys) == 1
        assert cluster.data_key_id == sealing.key_id(leader.keys[0])
        assert follower.keys == leader.keys
        assert follower.fetches == 1
        # Autolock on: both write their keys under the unlock key; the data key rotates and
        # the follower keeps the old one behind the new.
        api = ControlAPI(store, lambda: [], data_key=leader.data_keys)
        await api.cluster.update(ClusterUpdate(autolock=True))
        cluster = await settle()
        first = leader.keys[-1]
        assert len(leader.keys) == 2
        assert follower.keys == leader.keys
        assert follower.keys[1] == first
        kek = unlock_key_of(cluster, leader.keys)
        assert kek is not None
        assert leader.kek() == follower.kek() == kek
        # A rotation of the unlock key reaches both; autolock off writes them in clear.
        await api.cluster.update(ClusterUpdate(autolock=True, rotate_unlock_key=True))
        cluster = await settle()
        assert follower.kek() == unlock_key_of(cluster, leader.keys) != kek
        await api.cluster.update(ClusterUpdate(autolock=False))
        await settle()
        assert leader.kek() is follower.kek() is None

    asyncio.run(scenario())
