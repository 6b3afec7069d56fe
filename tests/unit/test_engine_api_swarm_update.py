"""/swarm/update: Docker's SwarmSpec mapped to the control API's cluster update, as Docker's
daemon merges it (zero durations keep a setting, ForceRotate and a signing CA rotate)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from swarmpy.ca import certificates as ca
from swarmpy.ca import rotation
from swarmpy.dockerjson.fields import NANOS
from swarmpy.errors import InvalidArgument
from swarmpy.manager.controlapi.cluster import apply_update, checked
from swarmpy.model import Cluster
from swarmpy.server.convert.swarm import swarm_json, swarm_update

ROOT = ca.create_root_ca()
CLUSTER = Cluster(id="c1", root_ca_cert=ROOT.cert_pem, root_ca_key=ROOT.key_pem)


def shown(cluster: Cluster = CLUSTER) -> dict[str, Any]:
    """The spec as a client reads it from GET /swarm (through JSON, as it travels)."""
    spec: dict[str, Any] = json.loads(json.dumps(swarm_json(cluster, 1)["Spec"]))
    return spec


def applied(spec: dict[str, Any], cluster: Cluster = CLUSTER) -> Cluster:
    update, root = checked(swarm_update(spec, cluster))
    return apply_update(cluster, update, root)


def test_the_spec_sent_back_unchanged_changes_nothing() -> None:
    assert not swarm_update(shown(), CLUSTER).rotate_ca
    assert applied(shown()) == CLUSTER
    # Docker's zero values (a Go client's struct with nothing set) keep every setting too.
    zeros = {"Name": "", "Labels": {}, "Orchestration": {}, "Raft": {"ElectionTick": 0},
             "Dispatcher": {"HeartbeatPeriod": 0}, "CAConfig": {"NodeCertExpiry": 0},
             "TaskDefaults": {}, "EncryptionConfig": {"AutoLockManagers": False}}  # fmt: skip
    assert applied(zeros) == CLUSTER


def test_settings_are_mapped_from_dockers_units() -> None:
    spec = shown()
    spec["CAConfig"]["NodeCertExpiry"] = 100 * 3600 * NANOS
    spec["Orchestration"]["TaskHistoryRetentionLimit"] = 3
    spec["Dispatcher"]["HeartbeatPeriod"] = 10 * NANOS
    out = applied(spec)
    assert (out.node_cert_expiry_s, out.task_history_limit, out.heartbeat_period_s) == (
        100 * 3600.0,
        3,
        10.0,
    )
    assert out.root_rotation is None
    again = swarm_json(out, 2)["Spec"]
    assert again["CAConfig"]["NodeCertExpiry"] == 100 * 3600 * NANOS
    assert again["Dispatcher"]["HeartbeatPeriod"] == 10 * NANOS
    assert again["Orchestration"]["TaskHistoryRetentionLimit"] == 3


def test_a_new_force_rotate_counter_starts_a_rotation_and_is_shown_back() -> None:
    spec = shown()
    assert spec["CAConfig"]["ForceRotate"] == 0
    spec["CAConfig"]["ForceRotate"] = 1
    rotating = applied(spec)
    assert rotating.root_rotation is not None
    assert rotating.force_rotate == 1
    assert shown(rotating)["CAConfig"]["ForceRotate"] == 1
    # Docker's CLI follows the rotation by the issuer the swarm shows: the new root's.
    tls = swarm_json(rotating, 2)["TLSInfo"]
    assert tls["TrustRoot"] == rotation.cluster_tls_info(CLUSTER).trust_root
    target = rotation.rotation_tls_info(rotating)
    assert target is not None
    assert tls["CertIssuerPublicKey"] == target.cert_issuer_public_key
    assert tls["CertIssuerSubject"] == target.cert_issuer_subject
    assert target != rotation.cluster_tls_info(CLUSTER)
    # The same counter sent again (any other update) starts no new rotation.
    assert applied(shown(rotating), rotating) == rotating


def test_a_signing_ca_is_the_root_to_rotate_to_and_never_shown() -> None:
    new = ca.create_root_ca()
    spec = shown()
    spec["CAConfig"].update(SigningCACert=new.cert_pem, SigningCAKey=new.key_pem)
    rotating = applied(spec)
    assert rotating.root_rotation is not None
    assert rotating.root_rotation.ca_cert == new.cert_pem
    assert rotating.force_rotate == 0
    ca_config = shown(rotating)["CAConfig"]
    assert "SigningCACert" not in ca_config
    assert "SigningCAKey" not in ca_config


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("CAConfig.NodeCertExpiry", 30 * 60 * NANOS, "minimum certificate expiry time is"),
        ("Dispatcher.HeartbeatPeriod", -NANOS, "heartbeat time period cannot be a negative"),
        ("Dispatcher.HeartbeatPeriod", 1, "invalid dispatcher heartbeat period"),
        ("Orchestration.TaskHistoryRetentionLimit", -2, "invalid task history limit"),
        ("CAConfig.SigningCAKey", "key", "the signing CA cert must also be provided"),
        ("CAConfig.SigningCACert", "cert", "needs both its certificate and its key"),
        ("CAConfig.ForceRotate", -1, "invalid CAConfig.ForceRotate"),
        ("Name", "other", "modification of cluster name is not allowed"),
        ("Labels", {"a": "b"}, "unsupported field Labels"),
        ("Raft.SnapshotInterval", 10000, "unsupported field Raft.SnapshotInterval"),
        ("CAConfig.ExternalCAs", [{"URL": "https://ca"}], "unsupported field CAConfig.ExternalCAs"),
        ("TaskDefaults.LogDriver", {"Name": "syslog"}, "unsupported field TaskDefaults.LogDriver"),
        ("EncryptionConfig.AutoLockManagers", 1, "EncryptionConfig.AutoLockManagers"),
        ("Dispatcher.Period", 5, "unknown field Dispatcher.Period"),
    ],
)
def test_what_cannot_be_honoured_is_refused_before_anything_changes(
    path: str, value: Any, message: str
) -> None:
    spec = shown()
    *parents, last = path.split(".")
    target = spec
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value
    with pytest.raises(InvalidArgument, match=message):
        checked(swarm_update(spec, CLUSTER))
