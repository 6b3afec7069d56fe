"""The container endpoints' pure parts: list rows, ``docker ps`` filters, networks, stats,
log timestamps and windows, signals, and top's filtering of the host's ps."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace
from typing import Any

import pytest

from swarmpy.engine.containers import ContainerInfo, _net_dev, container_processes
from swarmpy.errors import InvalidArgument
from swarmpy.overlay.bridges import BridgeEndpoint, BridgeNetwork
from swarmpy.server.convert.container import (
    CONTAINER_FILTERS,
    Attachment,
    ListQuery,
    Sample,
    attachments,
    check_filters,
    inspect_json,
    matches,
    parse_net_dev,
    parse_proc_stat,
    stats_json,
    summary,
    with_networks,
)
from swarmpy.server.filters import parse_filters
from swarmpy.server.routes.containers import node_attachments, signal_name

CID = "a" * 64
IMAGE_ID = "sha256:" + "b" * 64


def info(state: str = "running", created: float = 1000.0, name: str = "web.1.x") -> ContainerInfo:
    return ContainerInfo(
        id=CID,
        image="busybox",
        command="sh -c sleep 600",
        created=created,
        status="Up 5 seconds" if state == "running" else "Exited (3) 1 second ago",
        state=state,
        name=name,
        pid=42 if state == "running" else 0,
        exit_code=None if state == "running" else 3,
    )


def doc(
    name: str = "web.1.x",
    labels: dict[str, str] | None = None,
    networks: dict[str, Any] | None = None,
    exit_code: int = 0,
) -> dict[str, Any]:
    return {
        "Id": CID,
        "Name": "/" + name,
        "Image": IMAGE_ID,
        "State": {"ExitCode": exit_code, "StartedAt": "2026-01-01T00:00:00Z"},
        "Config": {"Cmd": ["sh", "-c", "sleep 600"], "Labels": labels or {}},
        "Mounts": [
            {"Type": "volume", "Name": "data", "Source": "/v/data/_data", "Destination": "/d"}
        ],
        "NetworkSettings": {"SandboxKey": "/run/netns/x", "Networks": networks or {}},
    }


def query(filters: dict[str, list[str]], all: bool = False, **kw: Any) -> ListQuery:
    parsed = parse_filters(json.dumps(filters), CONTAINER_FILTERS)
    check_filters(parsed)
    return ListQuery(parsed, all=all, limit=0, **kw)


def test_a_list_row_has_docker_keys() -> None:
    row = summary(info(), doc(labels={"com.docker.swarm.task.id": "t"}))
    assert row["Id"] == CID
    assert row["Names"] == ["/web.1.x"]
    assert row["ImageID"] == IMAGE_ID
    assert row["Command"] == "sh -c sleep 600"
    assert row["Created"] == 1000
    assert (row["State"], row["Status"]) == ("running", "Up 5 seconds")
    assert row["Labels"] == {"com.docker.swarm.task.id": "t"}
    assert row["Mounts"][0]["Name"] == "data"
    assert row["Mounts"][0]["Driver"] == "local"


def test_inspect_has_the_rest_of_docker_keys_and_keeps_the_engine_ones() -> None:
    engine_doc = {**doc(), "LogPath": "/d/containers/c1/container.log"}
    engine_doc["State"]["Pid"] = 42
    out = inspect_json(engine_doc, ["e1"])
    assert out["State"]["Pid"] == 42
    assert out["State"]["OOMKilled"] is False
    assert out["Config"]["Cmd"] == ["sh", "-c", "sleep 600"]
    assert out["Config"]["AttachStdin"] is False
    assert out["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert out["NetworkSettings"]["SandboxKey"] == "/run/netns/x"
    assert out["HostsPath"] == "/d/containers/c1/hosts"
    assert (out["RestartCount"], out["ExecIDs"]) == (0, ["e1"])
    assert inspect_json(engine_doc, [])["ExecIDs"] is None


def test_stopped_containers_only_with_all_a_status_filter_or_a_limit() -> None:
    stopped = info("exited")
    assert not matches(query({}), stopped, doc())
    assert matches(query({}, all=True), stopped, doc())
    assert matches(query({"status": ["exited"]}), stopped, doc())
    assert matches(ListQuery(parse_filters("", ()), all=False, limit=3), stopped, doc())


def test_name_and_id_filters_are_go_regexps() -> None:
    assert matches(query({"name": ["^/web"]}), info(), doc())
    assert matches(query({"name": ["web\\.1"]}), info(), doc())
    assert not matches(query({"name": ["^db"]}), info(), doc())
    assert matches(query({"id": ["aaaa"]}), info(), doc())
    assert not matches(query({"id": ["bbbb"]}), info(), doc())


def test_label_status_exited_and_is_task_filters() -> None:
    labelled = doc(labels={"com.docker.swarm.task.id": "t", "tier": "front"})
    assert matches(query({"label": ["tier=front"]}), info(), labelled)
    assert not matches(query({"label": ["tier=back"]}), info(), labelled)
    assert matches(query({"is-task": ["true"]}), info(), labelled)
    assert not matches(query({"is-task": ["false"]}), info(), labelled)
    assert not matches(query({"status": ["exited", "paused"]}), info(), doc())
    stopped = info("exited")
    assert matches(query({"exited": ["3"]}, all=True), stopped, doc(exit_code=3))
    assert not matches(query({"exited": ["0"]}, all=True), stopped, doc(exit_code=3))
    assert not matches(query({"exited": ["0"]}, all=True), info(), doc())


def test_volume_network_ancestor_before_since() -> None:
    on_net = doc(networks={"overnet": {"NetworkID": "net123456"}})
    assert matches(query({"volume": ["data"]}), info(), doc())
    assert matches(query({"volume": ["/d"]}), info(), doc())
    assert not matches(query({"volume": ["other"]}), info(), doc())
    assert matches(query({"network": ["overnet"]}), info(), on_net)
    assert matches(query({"network": ["net12"]}), info(), on_net)
    assert not matches(query({"network": ["other"]}), info(), on_net)
    assert matches(query({}, image_ids=frozenset({IMAGE_ID})), info(), doc())
    assert not matches(query({}, image_ids=frozenset()), info(), doc())
    assert matches(query({}, before=2000.0), info(), doc())
    assert not matches(query({}, since=2000.0), info(), doc())


def test_publish_and_expose_filters_match_a_containers_ports() -> None:
    """docker ps -f publish=8080 / -f expose=80/tcp / ranges, as dockerd's portOp."""
    web = doc()
    web["NetworkSettings"]["Ports"] = {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
        "53/udp": None,
    }
    assert matches(query({"publish": ["8080"]}), info(), web)
    assert matches(query({"publish": ["8000-8100/tcp"]}), info(), web)
    assert not matches(query({"publish": ["80"]}), info(), web)
    assert not matches(query({"publish": ["8080/udp"]}), info(), web)
    assert matches(query({"expose": ["80"]}), info(), web)
    assert matches(query({"expose": ["53/udp"]}), info(), web)
    assert not matches(query({"expose": ["53"]}), info(), web)
    assert matches(query({"expose": ["1"], "publish": ["8080"]}), info(), web)
    with pytest.raises(InvalidArgument, match="filter for 'publish' should not contain ':'"):
        query({"publish": ["127.0.0.1:8080"]})
    with pytest.raises(InvalidArgument, match="error while looking up for expose x"):
        query({"expose": ["x"]})


def test_bad_filter_values_are_refused_as_docker() -> None:
    with pytest.raises(InvalidArgument, match="invalid filter 'status=up'"):
        query({"status": ["up"]})
    with pytest.raises(InvalidArgument, match="invalid filter 'exited=x'"):
        query({"exited": ["x"]})
    with pytest.raises(InvalidArgument, match="invalid filter 'health=sick'"):
        query({"health": ["sick"]})


def test_networks_of_a_container_from_the_node_attachments() -> None:
    endpoints = {
        "n1": [
            {
                "Name": "web.1.x",
                "EndpointID": "e1",
                "MacAddress": "02:42:0a:00:00:05",
                "IPv4Address": "10.0.0.5/24",
            },
            {"Name": "other", "EndpointID": "e2", "MacAddress": "", "IPv4Address": "10.0.0.6/24"},
        ]
    }
    found = attachments(["n1"], lambda n: endpoints[n], {"n1": "overnet"})
    assert found[0] == Attachment(
        "n1", "overnet", "web.1.x", "e1", "02:42:0a:00:00:05", "10.0.0.5/24"
    )
    networks = with_networks(doc(), found)["NetworkSettings"]["Networks"]
    assert list(networks) == ["overnet"]
    assert networks["overnet"]["IPAddress"] == "10.0.0.5"
    assert networks["overnet"]["IPPrefixLen"] == 24
    assert networks["overnet"]["NetworkID"] == "n1"


def test_a_user_bridge_endpoint_shows_its_networks_gateway() -> None:
    """docker inspect -f '{{.NetworkSettings.Networks.mynet.Gateway}}' c: the bridge's."""
    net = BridgeNetwork("b1", "mynet", subnet="172.20.0.0/16", gateway="172.20.0.1")
    leg = BridgeEndpoint("c1", "web.1.x", "b1", "ns", "eth0", "veth0", "172.20.0.2/16")
    engine = SimpleNamespace(
        network=SimpleNamespace(local_networks=list, local_containers=lambda _n: []),
        networks={},
        bridges=SimpleNamespace(networks=lambda: [net], endpoints=lambda: [leg]),
    )
    found = node_attachments(engine)
    mynet = with_networks(doc(), found)["NetworkSettings"]["Networks"]["mynet"]
    assert (mynet["Gateway"], mynet["IPAddress"], mynet["NetworkID"]) == (
        "172.20.0.1",
        "172.20.0.2",
        "b1",
    )


RUNC_STATS = {
    "cpu": {"usage": {"total": 3_000_000_000, "percpu": [1, 2], "kernel": 5, "user": 7}},
    "memory": {
        "usage": {"usage": 8 << 20, "max": 9 << 20, "limit": 1 << 62},
        "raw": {"total_inactive_file": 1 << 20},
    },
    "pids": {"current": 3},
    "blkio": {"ioServiceBytesRecursive": [{"major": 8, "minor": 0, "op": "Read", "value": 10}]},
}


def test_stats_have_the_keys_docker_stats_computes_from() -> None:
    before = Sample(100.0, {"cpu": {"usage": {"total": 1_000_000_000}}}, 10**12, 2)
    now = Sample(101.0, RUNC_STATS, 10**12 + 2 * 10**9, 2)
    out = stats_json(CID, "web.1.x", now, before, host_memory=16 << 30)
    assert out["name"] == "/web.1.x"
    assert out["cpu_stats"]["cpu_usage"]["total_usage"] == 3_000_000_000
    assert out["precpu_stats"]["cpu_usage"]["total_usage"] == 1_000_000_000
    assert out["cpu_stats"]["system_cpu_usage"] - out["precpu_stats"]["system_cpu_usage"] == 2e9
    assert out["cpu_stats"]["online_cpus"] == 2
    # An unlimited container's limit is the host's memory, as Docker reports it.
    assert out["memory_stats"]["limit"] == 16 << 30
    assert out["memory_stats"]["stats"]["total_inactive_file"] == 1 << 20
    assert out["pids_stats"]["current"] == 3
    assert out["blkio_stats"]["io_service_bytes_recursive"][0]["op"] == "Read"
    assert out["preread"] != out["read"]


NET_DEV = """\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0
  eth0:    1296      14    1    2    0     0          0         0      726       9    3    4    0     0       0          0
"""  # noqa: E501


def test_stats_carry_the_interfaces_docker_stats_sums_for_net_io() -> None:
    networks = parse_net_dev(NET_DEV)
    assert networks == {
        "eth0": {
            "rx_bytes": 1296,
            "rx_packets": 14,
            "rx_errors": 1,
            "rx_dropped": 2,
            "tx_bytes": 726,
            "tx_packets": 9,
            "tx_errors": 3,
            "tx_dropped": 4,
        }
    }
    out = stats_json(CID, "c", Sample(1.0, RUNC_STATS, 5, 1, networks), None, 0)
    assert out["networks"]["eth0"]["rx_bytes"] == 1296
    assert "networks" not in stats_json(CID, "c", Sample(1.0, RUNC_STATS, 5, 1), None, 0)


def test_a_container_on_the_hosts_network_counts_no_interfaces() -> None:
    """docker stats of a --network host container: NET I/O 0B / 0B, as Docker's, not the
    host's traffic; this process shares the daemon's namespace as such a container would."""
    assert _net_dev(os.getpid()) == ""
    assert _net_dev(2**22 + 1) == ""  # gone


def test_a_first_reading_has_zero_precpu() -> None:
    out = stats_json(CID, "c", Sample(1.0, RUNC_STATS, 5, 1), None, 0)
    assert out["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert out["preread"] == "0001-01-01T00:00:00Z"


def test_proc_stat_cpu_time_in_nanoseconds() -> None:
    text = "cpu  100 2 30 400 5 0 6 7 0 0\ncpu0 50 1 15 200 2 0 3 3 0 0\n"
    assert parse_proc_stat(text, 100) == (100 + 2 + 30 + 400 + 5 + 0 + 6) * 10_000_000


def test_signals_by_name_prefix_or_number() -> None:
    assert signal_name("SIGTERM") == "TERM"
    assert signal_name("hup") == "HUP"
    assert signal_name("9") == "KILL"
    with pytest.raises(InvalidArgument, match="Invalid signal: NOPE"):
        signal_name("NOPE")
    with pytest.raises(InvalidArgument, match="Invalid signal: 999"):
        signal_name("999")


def test_top_keeps_the_container_processes_of_the_host_ps() -> None:
    text = "  PID COMMAND\n    1 init\n   42 sleep 600\n   43 other\n"
    assert container_processes(text, {42}) == (["PID", "COMMAND"], [["42", "sleep 600"]])
    with pytest.raises(InvalidArgument, match="Couldn't find PID field"):
        container_processes("USER CMD\nroot init\n", {1})
