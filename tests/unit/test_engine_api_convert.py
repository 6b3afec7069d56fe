"""Docker's JSON <-> swarmpy.model for the Engine API: round trips, and refusal by name of
what swarmpy cannot honour."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from swarmpy.ca import certificates as ca
from swarmpy.dockerjson.common import timestamp
from swarmpy.dockerjson.service import service_json, service_spec, service_spec_json
from swarmpy.errors import InvalidArgument
from swarmpy.model import (
    Cluster,
    ContainerSpec,
    EndpointMode,
    FailureAction,
    Mount,
    MountType,
    Network,
    NodeAvailability,
    NodeRole,
    ResourceRequirements,
    Resources,
    RestartCondition,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    Ulimit,
    UpdateConfig,
    UpdateOrder,
)
from swarmpy.server.convert.network import network_create, network_json
from swarmpy.server.convert.node import node_change, node_json
from swarmpy.server.convert.swarm import init_request, join_request, swarm_json, swarm_update
from swarmpy.server.convert.task import task_json
from tests.support.builders import node, service, task

FULL_SPEC = ServiceSpec(
    name="web",
    container=ContainerSpec(
        image="busybox:latest",
        command=("httpd",),
        args=("-f", "-p", "80"),
        env=("A=1",),
        labels=(("c", "d"),),
        hostname="h",
        workdir="/srv",
        user="nobody",
        mounts=(
            Mount(MountType.BIND, "/data", "/srv/data", readonly=True, bind_propagation="rslave"),
            Mount(MountType.TMPFS, "/scratch", tmpfs_size=1 << 20, tmpfs_mode=0o700),
        ),
        cap_add=("NET_ADMIN",),
        cap_drop=("CHOWN",),
        stop_grace_s=3.5,
        stop_signal="SIGUSR1",
        tty=True,
        read_only=True,
        init=True,
        dns_nameservers=("10.0.0.53",),
        dns_search=("example.org",),
        dns_options=("ndots:2",),
        hosts=("10.1.2.3 db db.local",),
        sysctls=(("net.core.somaxconn", "1024"),),
        ulimits=(Ulimit("nofile", 1024, 2048),),
        groups=("staff", "1001"),
    ),
    labels=(("a", "b"),),
    mode=ServiceMode.REPLICATED,
    replicas=3,
    restart=RestartPolicy(RestartCondition.ON_FAILURE, 2.0, 4, 60.0),
    update=UpdateConfig(2, 1.5, FailureAction.ROLLBACK, 7.0, 0.25, UpdateOrder.START_FIRST),
    rollback=UpdateConfig(3, 0.5, FailureAction.CONTINUE, 1.0, 0.5, UpdateOrder.STOP_FIRST),
    constraints=("node.role==manager",),
    resources=ResourceRequirements(
        limits=Resources(nano_cpus=500_000_000, memory_bytes=64 << 20, pids=100),
        reservations=Resources(nano_cpus=100_000_000, memory_bytes=8 << 20),
    ),
    networks=("net1",),
    endpoint_mode=EndpointMode.DNSRR,
    force_update=2,
    placement_prefs=("node.labels.zone",),
    max_replicas=2,
)

# What Debian's docker CLI 20.10 sends for `service create --replicas 2 --network overnet
# --name web busybox httpd -f -p 80` (zero values included, as Go's encoder writes them).
DOCKER_CLI_CREATE: dict[str, Any] = {
    "Name": "web",
    "Labels": {},
    "TaskTemplate": {
        "ContainerSpec": {
            "Image": "busybox:latest",
            "Args": ["httpd", "-f", "-p", "80"],
            "Init": False,
            "DNSConfig": {},
            "Isolation": "default",
        },
        "Resources": {"Limits": {}, "Reservations": {}},
        "Placement": {},
        "Networks": [{"Target": "overnet"}],
        "ForceUpdate": 0,
    },
    "Mode": {"Replicated": {"Replicas": 2}},
    "UpdateConfig": {
        "Parallelism": 1,
        "FailureAction": "pause",
        "MaxFailureRatio": 0,
        "Order": "stop-first",
    },
    "RollbackConfig": {
        "Parallelism": 1,
        "FailureAction": "pause",
        "MaxFailureRatio": 0,
        "Order": "stop-first",
    },
    "EndpointSpec": {"Mode": "vip"},
}


def test_a_full_spec_round_trips_through_docker_json() -> None:
    as_json = json.loads(json.dumps(service_spec_json(FULL_SPEC)))
    assert service_spec(as_json) == FULL_SPEC


def test_the_docker_json_of_a_spec_round_trips_too() -> None:
    once = service_spec_json(service_spec(DOCKER_CLI_CREATE))
    assert service_spec_json(service_spec(once)) == once


def test_what_docker_cli_sends_is_read_as_meant() -> None:
    spec = service_spec(DOCKER_CLI_CREATE)
    assert spec.force_update == 0
    assert spec.name == "web"
    assert spec.container.image == "busybox:latest"
    assert spec.container.args == ("httpd", "-f", "-p", "80")
    assert spec.replicas == 2
    assert spec.networks == ("overnet",)
    assert spec.update.parallelism == 1
    assert spec.restart == RestartPolicy()


def test_docker_defaults_apply_when_objects_are_absent() -> None:
    spec = service_spec({"Name": "x", "TaskTemplate": {"ContainerSpec": {"Image": "a"}}})
    assert spec == ServiceSpec("x", ContainerSpec("a"))


def test_global_mode_and_force_update() -> None:
    body = {
        "Name": "g",
        "TaskTemplate": {"ContainerSpec": {"Image": "a"}, "ForceUpdate": 3},
        "Mode": {"Global": {}},
    }
    spec = service_spec(body)
    assert spec.mode == ServiceMode.GLOBAL
    assert spec.force_update == 3
    # Shown as it is, so the next `docker service update --force` counts on from it.
    assert service_spec_json(spec)["TaskTemplate"]["ForceUpdate"] == 3


def _with(path: str, value: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(DOCKER_CLI_CREATE))
    *parents, last = path.split(".")
    target = body
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (
            "TaskTemplate.ContainerSpec.Privileges",
            {"SELinuxContext": {"Disable": True}},
            "unsupported field TaskTemplate.ContainerSpec.Privileges",
        ),
        (
            "TaskTemplate.ContainerSpec.Secrets",
            [{"SecretName": "s", "Sekret": 1}],
            "ContainerSpec.Secrets[0].Sekret".replace("[0]", "\\[0\\]"),
        ),
        (
            "TaskTemplate.ContainerSpec.Configs",
            [{"ConfigName": "c", "Runtime": {"x": 1}}],
            "unknown field TaskTemplate.ContainerSpec.Configs[0].Runtime.x".replace(
                "[0]", "\\[0\\]"
            ),
        ),
        (
            "TaskTemplate.Resources.Reservations.GenericResources",
            [{"DiscreteResourceSpec": {"Kind": "gpu", "Value": "one"}}],
            "GenericResources[0].DiscreteResourceSpec.Value".replace("[0]", "\\[0\\]"),
        ),
        (
            "TaskTemplate.ContainerSpec.Imagee",
            "x",
            "unknown field TaskTemplate.ContainerSpec.Imagee",
        ),
        ("TaskTemplate.LogDriver", {"Name": "syslog"}, "TaskTemplate.LogDriver"),
        ("TaskTemplate.Placement.Preferences", [{"Spread": {}}], "Placement.Preferences"),
        (
            "EndpointSpec.Ports",
            [{"TargetPort": 80, "Protocol": "icmp"}],
            "Protocol 'icmp': expected one of tcp, udp, sctp",
        ),
        ("Replicas", 3, "unknown field Replicas"),
        ("TaskTemplate.ContainerSpec.Args", "httpd", "expected an array of strings"),
        ("UpdateConfig.Order", "sideways", "invalid UpdateConfig.Order 'sideways'"),
        ("TaskTemplate.Runtime", "plugin", "only container"),
        ("TaskTemplate.ForceUpdate", -1, "invalid TaskTemplate.ForceUpdate"),
        ("TaskTemplate.ForceUpdate", 1.5, "expected an integer"),
    ],
)
def test_what_swarmpy_cannot_honour_is_refused_by_name(path: str, value: Any, named: str) -> None:
    with pytest.raises(InvalidArgument, match=named.replace(".", r"\.")):
        service_spec(_with(path, value))


def test_a_spec_without_a_container_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="image reference must be provided"):
        service_spec({"Name": "x"})


def test_service_json_carries_version_status_and_update_state() -> None:
    svc = dataclasses.replace(service("web"), created_at=1.5)
    out = service_json(svc, 7, (1, 2, 0))
    assert out["Version"] == {"Index": 7}
    assert out["CreatedAt"] == "1970-01-01T00:00:01.5Z"
    assert out["ServiceStatus"] == {"RunningTasks": 1, "DesiredTasks": 2, "CompletedTasks": 0}
    assert "UpdateStatus" not in out


def test_go_times() -> None:
    assert timestamp(0) == "0001-01-01T00:00:00Z"
    assert timestamp(1_700_000_000.0) == "2023-11-14T22:13:20Z"
    assert timestamp(1_700_000_000.25) == "2023-11-14T22:13:20.25Z"


def test_task_json_names_states_as_docker() -> None:
    svc = service("web")
    net = Network(id="net1", name="overnet", subnet="10.0.0.0/24", vni=4097)
    t = task(svc, slot=2, node_id="n1")
    out = task_json(t, 3, {"net1": net})
    assert out["Status"]["State"] == "pending"
    assert out["DesiredState"] == "running"
    assert out["Slot"] == 2
    assert out["Spec"]["ContainerSpec"]["Image"] == "busybox"


def test_node_json_and_changes() -> None:
    n = node("host1", labels=(("zone", "a"), ("old", "x")))
    out = node_json(n, 4)
    assert out["Spec"] == {"Labels": {"zone": "a", "old": "x"}, "Role": "worker",
                           "Availability": "active"}  # fmt: skip
    assert out["Status"]["State"] == "ready"
    assert "ManagerStatus" not in out
    # What `docker node inspect --pretty` lists under Plugins, sorted as dockerd sorts them.
    plugins = [(p["Type"], p["Name"]) for p in out["Description"]["Engine"]["Plugins"]]
    networks = [("Network", name) for name in ("bridge", "host", "null", "overlay")]
    assert plugins == [("Log", "json-file"), *networks, ("Volume", "local")]
    spec = dict(out["Spec"], Labels={"zone": "b", "new": "y"}, Availability="drain",
                Role="manager")  # fmt: skip
    change = node_change(spec, n)
    assert change.availability == NodeAvailability.DRAIN
    assert change.role == NodeRole.MANAGER
    assert change.label_add == {"zone": "b", "new": "y"}
    assert change.label_rm == ("old",)
    assert node_change(out["Spec"], n).label_add == {}
    with pytest.raises(InvalidArgument, match="Availability"):
        node_change({"Availability": "asleep"}, n)


def test_network_create_and_json() -> None:
    wanted = network_create(
        {
            "Name": "overnet",
            "CheckDuplicate": True,
            "Driver": "overlay",
            "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": "10.9.0.0/24"}]},
            "Options": {"com.docker.network.driver.mtu": "1400"},
            "Labels": {"a": "b"},
        }
    )
    assert (wanted.name, wanted.subnet, wanted.labels) == ("overnet", "10.9.0.0/24", {"a": "b"})
    assert wanted.options == {"com.docker.network.driver.mtu": "1400"}
    with pytest.raises(InvalidArgument, match="EnableIPv6"):
        network_create({"Name": "x", "EnableIPv6": True})
    out = network_json(Network(id="n", name="overnet", subnet="10.0.0.0/24", gateway="10.0.0.1",
                               vni=4097))  # fmt: skip
    assert out["Scope"] == "swarm"
    assert out["IPAM"]["Config"] == [{"Subnet": "10.0.0.0/24", "Gateway": "10.0.0.1"}]


def test_swarm_init_and_update() -> None:
    init = init_request(
        {
            "ListenAddr": "0.0.0.0:2377",
            "AdvertiseAddr": "10.0.0.1",
            "SubnetSize": 24,
            "Spec": {"Orchestration": {"TaskHistoryRetentionLimit": 3}, "Raft": {"ElectionTick": 0},
                     "EncryptionConfig": {"AutoLockManagers": False}},
        }
    )  # fmt: skip
    assert (init.advertise_addr, init.task_history_limit) == ("10.0.0.1", 3)
    assert not init.autolock
    assert init_request({"AutoLockManagers": True}).autolock
    assert init_request({"Availability": "drain"}).availability == NodeAvailability.DRAIN
    with pytest.raises(InvalidArgument, match="at join"):  # a joiner is made by the managers
        join_request({"JoinToken": "SWMTKN-1-a-b", "RemoteAddrs": ["x:1"], "Availability": "drain"})
    assert init_request({"Spec": {"EncryptionConfig": {"AutoLockManagers": True}}}).autolock
    with pytest.raises(InvalidArgument, match="AutoLockManagers"):
        init_request({"AutoLockManagers": "yes"})
    root = ca.create_root_ca()
    cluster = Cluster(id="c1", root_ca_cert=root.cert_pem, root_ca_key=root.key_pem)
    shown = swarm_json(cluster, 2)
    # As SwarmKit's built-in pool, which `docker info` prints as "Default Address Pool".
    assert (shown["DefaultAddrPool"], shown["SubnetSize"]) == (["10.0.0.0/8"], 24)
    spec = shown["Spec"]
    assert swarm_update(spec, cluster).task_history_limit == cluster.task_history_limit
    spec["Orchestration"]["TaskHistoryRetentionLimit"] = 9
    assert swarm_update(spec, cluster).task_history_limit == 9
    spec["Raft"] = {"SnapshotInterval": 10000}
    with pytest.raises(InvalidArgument, match=r"Raft\.SnapshotInterval"):
        swarm_update(spec, cluster)
