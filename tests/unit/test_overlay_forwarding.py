from __future__ import annotations

from swarmpy.model import Endpoint, NetworkView, mac_for_ip
from swarmpy.overlay.forwarding import Peer, diff_peers, remote_peers

LOCAL = "198.51.100.11"
REMOTE = "198.51.100.12"


def endpoint(ip: str, node_addr: str, network_id: str = "net1", service: str = "web") -> Endpoint:
    return Endpoint(
        task_id=f"task-{ip}",
        service_id=service,
        service_name="web",
        container_name=f"web.1.task-{ip}",
        slot=1,
        node_id=f"node-{node_addr}",
        node_addr=node_addr,
        network_id=network_id,
        ip=ip,
        mac=mac_for_ip(ip),
    )


def test_only_remote_endpoints_on_the_network_become_peers() -> None:
    view = NetworkView(
        endpoints=(
            endpoint("10.0.1.5", LOCAL),
            endpoint("10.0.1.6", REMOTE),
            endpoint("10.0.2.6", REMOTE, network_id="net2"),
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
