"""The steps that replace the Raft transport's secret, as pure decisions over the cluster."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from swarmpy.manager.raftsecret import Step, plan, probe_keys, record_holder, ring_for, take_step
from swarmpy.manager.state.store import CLUSTERS, LocalLog, Store
from swarmpy.model import Cluster, RaftKeys

A, B, C = "10.0.0.1:2378", "10.0.0.2:2378", "10.0.0.3:2378"


def cluster(**keys: Any) -> Cluster:
    return Cluster(id="c1", raft_secret="old", raft_keys=RaftKeys(**keys))


def test_a_departed_holder_starts_a_rotation_that_ends_without_it() -> None:
    start = cluster(holders=(A, B, C))
    assert plan(start, [A, B, C]) is Step.NOTHING
    assert plan(start, [A, B]) is Step.INTRODUCE

    introduced = take_step(start, Step.INTRODUCE, [A, B], fresh="new")
    assert introduced.raft_secret == "old"
    assert introduced.raft_keys == RaftKeys(epoch=0, next="new", holders=(A, B))
    assert plan(introduced, [A, B]) is Step.SWITCH

    switched = take_step(introduced, Step.SWITCH, [A, B], fresh="")
    assert switched.raft_secret == "new"
    assert switched.raft_keys == RaftKeys(epoch=1, previous="old", holders=(A, B))
    assert plan(switched, [A, B]) is Step.DROP

    dropped = take_step(switched, Step.DROP, [A, B], fresh="")
    assert dropped.raft_secret == "new"
    assert dropped.raft_keys == RaftKeys(epoch=1, holders=(A, B))
    assert plan(dropped, [A, B]) is Step.NOTHING


def test_new_members_are_remembered_first_and_a_later_departure_rotates_again() -> None:
    start = cluster(holders=(A,))
    assert plan(start, [A, B]) is Step.REMEMBER
    remembered = take_step(start, Step.REMEMBER, [A, B], fresh="")
    assert remembered.raft_keys.holders == (A, B)
    # B leaves while the secret is being switched: the switch ends first, then another starts.
    switching = dataclasses.replace(remembered, raft_keys=RaftKeys(next="n1", holders=(A, B)))
    assert plan(switching, [A]) is Step.SWITCH
    done = take_step(take_step(switching, Step.SWITCH, [A], ""), Step.DROP, [A], "")
    assert plan(done, [A]) is Step.INTRODUCE


def test_probes_ask_for_the_next_key_then_for_the_current_one_alone() -> None:
    switching = cluster(next="new", holders=(A,))
    ring = probe_keys(switching, Step.SWITCH)
    assert ring is not None
    assert (ring.send, ring.accepted) == ("new", ("new", "old"))
    dropping = Cluster(id="c1", raft_secret="new", raft_keys=RaftKeys(previous="old"))
    ring = probe_keys(dropping, Step.DROP)
    assert ring is not None
    assert ring.accepted == ("new",)
    assert probe_keys(switching, Step.INTRODUCE) is None


def test_a_manager_behind_in_its_store_keeps_the_secret_it_already_sends() -> None:
    stale = cluster(epoch=1, next="newer")
    # Restarted after it had switched to epoch 2's secret: the store has not caught up.
    assert ring_for(stale, (2, "newest")) == ("newest", ("newest", "old", "newer"))
    # Caught up (or never switched): the store decides.
    assert ring_for(stale, (1, "old")) == ("old", ("old", "newer"))
    assert ring_for(stale, None) == ("old", ("old", "newer"))


def test_a_manager_handed_the_secret_is_a_holder_even_if_demoted_before_the_next_look() -> None:
    async def scenario() -> Cluster | None:
        store = Store(LocalLog())
        await store.update(lambda tx: tx.create(CLUSTERS, cluster(holders=(A, B))))
        handed = await store.update(lambda tx: record_holder(tx, C))
        assert handed == "old"
        return store.view().cluster()

    after = asyncio.run(scenario())
    assert after is not None
    assert after.raft_keys.holders == (A, B, C)
    # C leaves Raft before the leader ever saw it a member: the secret it holds still goes.
    assert plan(after, [A, B]) is Step.INTRODUCE
