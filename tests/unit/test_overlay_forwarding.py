from __future__ import annotations

from swarmpy.model import NetworkView, mac_for_ip
from swarmpy.overlay.forwarding import Peer, diff_peers, remote_peers
from tests.support.builders import endpoint

LOCAL = "198.51.100.11"
REMOTE = "198.51.100.12"


def test_only_remote_endpoints_on_the_network_become_peers() -> None:
    view = NetworkView(
        endpoints=(
            endpoint("10.0.1.5", node_addr=LOCAL),
            endpoint("10.0.1.6", node_addr=REMOTE),
            endpoint("10.0.2.6", node_addr=REMOTE, network_id="net2"),
        )
    )
    assert remote_peers(view, "net1", LOCAL) == {Peer("10.0.1.6", mac_for_ip("10.0.1.6"), REMOTE)}


def test_diff_adds_new_and_removes_gone_peers() -> None:
    kept = Peer("10.0.1.6", "02:42:0a:00:01:06", REMOTE)
    gone = Peer("10.0.1.7", "02:42:0a:00:01:07", REMOTE)
    new = Peer("10.0.1.8", "02:42:0a:00:01:08", REMOTE)
    change = diff_peers(frozenset({kept, new}), frozenset({kept, gone}))
    assert change.add == (new,)
    assert change.remove == (gone,)


def test_diff_of_equal_sets_is_empty() -> None:
    peers = frozenset({Peer("10.0.1.6", "02:42:0a:00:01:06", REMOTE)})
    assert not diff_peers(peers, peers)


def test_a_moved_address_is_removed_from_its_old_node_and_added_on_the_new() -> None:
    old = Peer("10.0.1.6", "02:42:0a:00:01:06", REMOTE)
    moved = Peer("10.0.1.6", "02:42:0a:00:01:06", "198.51.100.13")
    change = diff_peers(frozenset({moved}), frozenset({old}))
    assert (change.add, change.remove) == ((moved,), (old,))
