"""When certificates renew, what `swarm update` accepts, and the steps of a root rotation
(pure decisions: swarmpy.renewal, swarmpy.ca.rotation, the cluster control API's checks)."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import random
from dataclasses import replace
from typing import Any

import pytest

from swarmpy import tls
from swarmpy.ca import certificates as ca
from swarmpy.ca import rotation
from swarmpy.cli.swarm import rotation_progress
from swarmpy.errors import InvalidArgument, Unavailable
from swarmpy.manager.controlapi.cluster import ClusterUpdate, apply_update, checked
from swarmpy.model import Cluster, Node, NodeRole
from swarmpy.renewal import RETRY_MAX_S, CertRenewer, renewal_delay, retry_delay
from swarmpy.server.convert.node import node_json
from swarmpy.server.convert.swarm import swarm_json

START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def test_renewal_falls_between_half_and_four_fifths_of_the_life() -> None:
    rng = random.Random(7)
    end = START + datetime.timedelta(days=90)
    delays = [renewal_delay(START, end, START, rng) for _ in range(2000)]
    life = (end - START).total_seconds()
    assert min(delays) >= 0.5 * life
    assert max(delays) <= 0.8 * life
    # Spread, not one point: nodes that joined together do not renew together.
    assert max(delays) - min(delays) > 0.25 * life


def test_renewal_of_an_overdue_or_expired_certificate_is_immediate() -> None:
    rng = random.Random(1)
    end = START + datetime.timedelta(seconds=20)
    assert renewal_delay(START, end, START + datetime.timedelta(seconds=17), rng) == 0.0
    assert renewal_delay(START, end, START + datetime.timedelta(hours=1), rng) == 0.0


def test_retries_back_off_exponentially_up_to_a_ceiling() -> None:
    rng = random.Random(3)
    first, fifth = retry_delay(1, rng), retry_delay(5, rng)
    assert 0.5 <= first <= 1.0
    assert 8.0 <= fifth <= 16.0
    assert retry_delay(10_000, rng) <= RETRY_MAX_S


def cluster() -> Cluster:
    root = ca.create_root_ca()
    return Cluster(id="c1", root_ca_cert=root.cert_pem, root_ca_key=root.key_pem)


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (ClusterUpdate(node_cert_expiry_s=3599), "minimum certificate expiry time is 1h0m0s"),
        (ClusterUpdate(node_cert_expiry_s=1e12), "maximum certificate expiry"),
        (ClusterUpdate(heartbeat_period_s=0), "must be positive"),
        (ClusterUpdate(heartbeat_period_s=-5), "must be positive"),
        (ClusterUpdate(heartbeat_period_s=float("inf")), "must be positive"),
        (ClusterUpdate(heartbeat_period_s=0.01), "between 100ms and 24h"),
        (ClusterUpdate(heartbeat_period_s=1e9), "between 100ms and 24h"),
        (ClusterUpdate(task_history_limit=-2), "invalid task history limit"),
        (ClusterUpdate(task_history_limit=10**12), "invalid task history limit"),
        (ClusterUpdate(ca_cert="x", ca_key="y"), "only taken to rotate"),
        (ClusterUpdate(rotate_ca=True, ca_cert="x"), "needs both"),
    ],
)
def test_bad_cluster_updates_are_refused_in_one_line(update: ClusterUpdate, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message) as info:
        checked(update)
    assert "\n" not in info.value.message


def test_a_cluster_update_changes_only_what_it_names() -> None:
    before = cluster()
    update, root = checked(ClusterUpdate(node_cert_expiry_s=7200, heartbeat_period_s=2))
    after = apply_update(before, update, root)
    assert root is None
    assert after.node_cert_expiry_s == 7200
    assert after.heartbeat_period_s == 2
    assert after.task_history_limit == before.task_history_limit
    assert after.root_rotation is None
    assert rotation.node_cert_validity(after) == datetime.timedelta(hours=2)


def test_the_test_only_validity_overrides_the_clusters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(rotation.TEST_EXPIRY_ENV, "20")
    assert rotation.node_cert_validity(cluster()) == datetime.timedelta(seconds=20)


def node(node_id: str, c: Cluster | None) -> Node:
    return Node(
        id=node_id,
        hostname=node_id,
        role=NodeRole.WORKER,
        tls_info=rotation.issued_tls_info(c) if c else None,
    )


def test_a_rotation_trusts_both_roots_signs_with_the_new_and_ends_when_all_moved() -> None:
    before = cluster()
    new_root = ca.create_root_ca()
    assert checked(ClusterUpdate(rotate_ca=True))[1] is not None  # a new root, made once
    during = rotation.start_rotation(before, new_root)
    assert during.root_rotation is not None
    assert ca.split_pems(rotation.trust_root(during)) == [before.root_ca_cert, new_root.cert_pem]
    signer, intermediate = rotation.signer(during)
    assert signer.cert_pem == new_root.cert_pem
    assert ca.is_signed_by(intermediate, before.root_ca_cert)
    # The cluster's TLSInfo stays the old root until the end (as Docker's); the rotation's
    # names where it goes. Nodes count once they hold a new certificate.
    assert rotation.cluster_tls_info(during).trust_root == before.root_ca_cert
    target = rotation.rotation_tls_info(during)
    assert target is not None
    assert target.trust_root == new_root.cert_pem
    assert rotation.rotation_tls_info(before) is None
    moved, stale = node("a", during), node("b", before)
    assert not rotation.rotation_converged(during, [moved, stale])
    assert not rotation.rotation_converged(during, [moved, node("c", None)])
    assert rotation.rotation_converged(during, [moved])
    after = rotation.finish_rotation(during)
    assert after.root_rotation is None
    assert after.root_ca_cert == new_root.cert_pem
    assert ca.token_matches_ca(after.tokens.worker, new_root.cert_pem)
    assert rotation.trust_root(after) == new_root.cert_pem
    # Not rotating: nothing to converge.
    assert not rotation.rotation_converged(after, [moved])


def test_rotating_again_to_the_same_root_or_back_to_the_current_one() -> None:
    before = cluster()
    new_root = ca.create_root_ca()
    during = rotation.start_rotation(before, new_root)
    assert rotation.start_rotation(during, new_root) == during
    back = ca.RootCA(before.root_ca_cert, before.root_ca_key)
    assert rotation.start_rotation(during, back).root_rotation is None
    again = rotation.start_rotation(during, ca.create_root_ca())
    assert again.root_rotation is not None
    assert again.root_rotation.ca_cert != new_root.cert_pem
    assert ca.is_signed_by(again.root_rotation.cross_signed_ca_cert, before.root_ca_cert)


def test_the_renewer_retries_a_failed_renewal_and_renews_at_once_for_new_roots() -> None:
    root, other = ca.create_root_ca(), ca.create_root_ca()
    key = ca.generate_key()
    cert = ca.sign_node_csr(root, ca.create_csr(key), "n1", NodeRole.WORKER, "c1")
    held = {"creds": tls.NodeCredentials(key_pem=key, cert_pem=cert, ca_pem=root.cert_pem)}
    calls: list[str] = []
    done = asyncio.Event()

    async def renew() -> None:
        calls.append("renew")
        if len(calls) == 1:
            raise Unavailable("no manager answered")
        held["creds"] = replace(held["creds"], ca_pem=ca.join_pems([root.cert_pem, other.cert_pem]))
        done.set()

    async def scenario() -> None:
        renewer = CertRenewer(renew, lambda: held["creds"], random.Random(5))
        renewer.start()
        # A 90-day certificate is not due; the roots changed, so it renews now, and retries.
        renewer.renew_soon(ca.join_pems([root.cert_pem, other.cert_pem]))
        await asyncio.wait_for(done.wait(), timeout=10)
        await renewer.stop()

    asyncio.run(scenario())
    assert calls == ["renew", "renew"]


def test_rotation_progress_is_dockers_two_counts() -> None:
    """From what /swarm and /nodes show, as Docker's CLI follows `swarm ca --rotate`."""
    before = cluster()
    during = rotation.start_rotation(before, ca.create_root_ca())
    after = rotation.finish_rotation(during)

    def nodes(*held: tuple[str, Cluster]) -> list[dict[str, Any]]:
        return [node_json(node(node_id, c), 1) for node_id, c in held]

    target = swarm_json(during, 1)
    assert target["RootRotationInProgress"]
    lines, done = rotation_progress(
        target["TLSInfo"], nodes(("a", during), ("b", before)), in_progress=True
    )
    assert lines[1:] == [
        "  rotated TLS certificates: 1/2 nodes",
        "  rotated CA certificates:  0/2 nodes",
    ]
    # The root the swarm trusts until the rotation ends is the old one, as Docker shows it.
    old_digest = hashlib.sha256(before.root_ca_cert.encode()).hexdigest()
    assert lines[0] == f"desired root digest: sha256:{old_digest}"
    assert not done
    final = swarm_json(after, 2)["TLSInfo"]
    lines, done = rotation_progress(final, nodes(("a", during), ("b", during)), in_progress=False)
    assert lines[2] == "  rotated CA certificates:  0/2 nodes"  # both still trust two roots
    assert not done
    lines, done = rotation_progress(final, nodes(("a", after), ("b", after)), False)
    assert lines[1:] == [
        "  rotated TLS certificates: 2/2 nodes",
        "  rotated CA certificates:  2/2 nodes",
    ]
    assert done
    # A node that shows no TLS information yet counts as not rotated.
    lines, done = rotation_progress(final, [{"ID": "c"}, *nodes(("a", after))], False)
    assert lines[1] == "  rotated TLS certificates: 1/2 nodes"
    assert not done
    # On a terminal, Docker's bars: 50 wide past 110 columns, only the counts below.
    lines, done = rotation_progress(final, [{"ID": "c"}, *nodes(("a", after))], False, 120)
    assert lines[1] == "  rotated TLS certificates:  [" + "=" * 25 + ">" + " " * 25 + "] 1/2 nodes"
    assert lines[2] == "  rotated CA certificates:   [>" + " " * 50 + "] 0/2 nodes"
    assert lines[0].endswith(" ")
    assert not done
    lines, done = rotation_progress(final, nodes(("a", after), ("b", after)), False, 80)
    assert lines[1:] == [
        "  rotated TLS certificates:  2/2 nodes",
        "  rotated CA certificates:   2/2 nodes",
    ]
    assert done
