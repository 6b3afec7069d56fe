"""The Engine API in process (aiohttp's test server on 127.0.0.1) over a store with a local
log: Docker's shapes, status codes and error bodies for each group of endpoints, and docker-py
driving it."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import docker
import pytest

from swarmpy.api import dispatcher_pb2
from swarmpy.engine.events import ContainerEvents
from swarmpy.engine.images.events import ImageEvents
from swarmpy.engine.sinks import Sinks
from swarmpy.manager.state.store import SERVICES
from swarmpy.model import ContainerSpec, Network
from swarmpy.server.stream import STDERR, STDOUT, SYSTEMERR, frame, unframe
from tests.support.builders import service
from tests.support.engine_api import MANAGER_ID, EngineApi, engine_api
from tests.support.poll import wait_for_async

pytestmark = pytest.mark.fakeserver

SERVICE = {
    "Name": "web",
    "TaskTemplate": {
        "ContainerSpec": {"Image": "busybox:latest", "Args": ["httpd", "-f"], "DNSConfig": {}},
        "Placement": {},
    },
    "Mode": {"Replicated": {"Replicas": 2}},
}


def run(scenario: Callable[[EngineApi], Awaitable[None]], **kwargs: Any) -> None:
    async def main() -> None:
        async with engine_api(**kwargs) as api:
            await scenario(api)

    asyncio.run(main())


async def call(api: EngineApi, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = await api.client.request(
        method, path, data=None if body is None else json.dumps(body)
    )
    text = await response.text()
    try:
        return response.status, json.loads(text) if text else None
    except json.JSONDecodeError:
        return response.status, text


async def message(api: EngineApi, method: str, path: str, body: Any = None) -> tuple[int, str]:
    status, out = await call(api, method, path, body)
    assert isinstance(out, dict), out
    return status, str(out["message"])


# ---------------------------------------------------------------- system


def test_ping_version_and_negotiation() -> None:
    async def scenario(api: EngineApi) -> None:
        for method in ("GET", "HEAD"):
            response = await api.client.request(method, "/_ping")
            assert response.status == 200
            assert response.headers["API-Version"] == "1.41"
            assert response.headers["Ostype"] == "linux"
            assert response.headers["Docker-Experimental"] == "false"
            assert response.headers["Builder-Version"]
            assert response.headers["Server"].startswith("swarmpy/")
            assert await response.text() == ("OK" if method == "GET" else "")
        status, version = await call(api, "GET", "/v1.41/version")
        assert status == 200
        assert (version["ApiVersion"], version["MinAPIVersion"]) == ("1.41", "1.12")
        assert (await call(api, "GET", "/v1.24/version"))[0] == 200
        status, text = await message(api, "GET", "/v1.42/version")
        assert (status, text) == (
            400,
            "client version 1.42 is too new. Maximum supported API version is 1.41",
        )
        assert (await message(api, "GET", "/v1.11/version"))[0] == 400
        assert await message(api, "GET", "/v1.41/nothing") == (404, "page not found")

    run(scenario)


def test_info_shows_the_swarm() -> None:
    async def scenario(api: EngineApi) -> None:
        status, info = await call(api, "GET", "/info")
        assert status == 200
        swarm = info["Swarm"]
        assert swarm["NodeID"] == MANAGER_ID
        assert swarm["LocalNodeState"] == "active"
        assert swarm["ControlAvailable"] is True
        assert (swarm["Nodes"], swarm["Managers"]) == (1, 1)
        assert swarm["Cluster"]["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 5
        api.outside_swarm()
        _, info = await call(api, "GET", "/info")
        assert info["Swarm"]["LocalNodeState"] == "inactive"

    run(scenario)


def test_events_replay_since_and_stop_at_until() -> None:
    async def scenario(api: EngineApi) -> None:
        start = time.time()
        await asyncio.wait_for(api.events.following.wait(), 10)
        assert (await call(api, "POST", "/networks/create", {"Name": "n1", "Driver": "overlay"}))[
            0
        ] == 201
        assert (await call(api, "POST", "/services/create", SERVICE))[0] == 201
        filters = json.dumps({"type": ["service"]})
        until = time.time() + 0.5
        response = await api.client.get(
            "/events", params={"since": str(start - 1), "until": str(until), "filters": filters}
        )
        assert response.status == 200
        events = [json.loads(line) for line in (await response.text()).splitlines()]
        assert [(e["Type"], e["Action"], e["Actor"]["Attributes"]["name"]) for e in events] == [
            ("service", "create", "web")
        ]
        status, text = await message(api, "GET", "/events?filters=" + json.dumps({"x": ["y"]}))
        assert (status, text) == (400, "invalid filter 'x'")

    run(scenario)


# ---------------------------------------------------------------- swarm


def test_swarm_inspect_update_and_membership() -> None:
    async def scenario(api: EngineApi) -> None:
        status, swarm = await call(api, "GET", "/swarm")
        assert status == 200
        tokens = swarm["JoinTokens"]
        assert tokens["Worker"].startswith("SWMTKN-1-")
        assert tokens["Manager"].startswith("SWMTKN-1-")
        version = swarm["Version"]["Index"]
        status, text = await message(api, "POST", "/swarm/init", {"AdvertiseAddr": "1.2.3.4"})
        assert status == 503
        assert "already part of a swarm" in text
        status, _ = await call(
            api, "POST", f"/swarm/update?version={version}&rotateWorkerToken=true", swarm["Spec"]
        )
        assert status == 200
        _, rotated = await call(api, "GET", "/swarm")
        assert rotated["JoinTokens"]["Worker"] != tokens["Worker"]
        assert rotated["JoinTokens"]["Manager"] == tokens["Manager"]
        # A token is no setting: the spec read at the older version is still the current one.
        changed = dict(swarm["Spec"], Orchestration={"TaskHistoryRetentionLimit": 7})
        status, _ = await call(api, "POST", f"/swarm/update?version={version}", changed)
        assert status == 200
        # The settings changed since that read: a client sending it back would undo them.
        status, text = await message(api, "POST", f"/swarm/update?version={version}", swarm["Spec"])
        assert (status, text) == (400, "update out of sequence")
        _, rotated = await call(api, "GET", "/swarm")
        assert rotated["Spec"]["Orchestration"] == {"TaskHistoryRetentionLimit": 7}
        changed = dict(swarm["Spec"], Raft={"ElectionTick": 3})
        status, text = await message(
            api, "POST", f"/swarm/update?version={rotated['Version']['Index']}", changed
        )
        assert status == 400
        assert "Raft.ElectionTick" in text
        assert await call(api, "GET", "/swarm/unlockkey") == (200, {"UnlockKey": ""})
        assert await message(api, "POST", "/swarm/unlock", {"UnlockKey": "x"}) == (
            409,
            "swarm is not locked",
        )
        status, text = await message(api, "POST", "/swarm/leave")
        assert status == 503
        assert "participating as a manager" in text
        assert (await call(api, "POST", "/swarm/leave?force=1"))[0] == 200
        assert api.node.membership.calls == [("leave", (True,))]

    run(scenario)


def test_init_and_join_reach_membership() -> None:
    async def scenario(api: EngineApi) -> None:
        api.outside_swarm()
        body = {
            "ListenAddr": "127.0.0.1:2377",
            "AdvertiseAddr": "127.0.0.1",
            "Spec": {
                "Orchestration": {"TaskHistoryRetentionLimit": 2},
                "CAConfig": {"NodeCertExpiry": 3 * 3600 * 10**9},
            },
        }
        assert await call(api, "POST", "/v1.41/swarm/init", body) == (200, "newnode")
        join = {"JoinToken": "SWMTKN-1-a-b", "RemoteAddrs": ["127.0.0.2:2377"]}
        assert (await call(api, "POST", "/swarm/join", join))[0] == 200
        assert api.node.membership.calls == [
            ("init", ("127.0.0.1", "127.0.0.1:2377", False, 5.0, 2, 10800.0, False, "active")),
            ("join", ("SWMTKN-1-a-b", "127.0.0.2:2377", "", "")),
        ]
        # `docker swarm init --availability drain`: a manager that runs no tasks, from the start.
        api.outside_swarm()
        api.node.membership.calls.clear()
        drained = {"AdvertiseAddr": "127.0.0.1", "Availability": "drain"}
        assert (await call(api, "POST", "/swarm/init", drained))[0] == 200
        assert api.node.membership.calls[0][1][-1] == "drain"
        status, text = await message(api, "POST", "/swarm/init", {"Availability": "asleep"})
        assert (status, text) == (
            400,
            "invalid Availability 'asleep': expected active, pause or drain",
        )
        status, text = await message(api, "POST", "/swarm/init", {"AutoLockManagers": 1})
        assert (status, "AutoLockManagers" in text) == (400, True)
        external = {"Spec": {"CAConfig": {"ExternalCAs": [{"URL": "https://ca.example"}]}}}
        status, text = await message(api, "POST", "/swarm/init", external)
        assert (status, "CAConfig.ExternalCAs" in text) == (400, True)
        assert (await message(api, "POST", "/swarm/leave"))[0] == 503

    run(scenario)


# ---------------------------------------------------------------- nodes


def test_nodes_list_filter_update_remove() -> None:
    async def scenario(api: EngineApi) -> None:
        status, nodes = await call(api, "GET", "/nodes")
        assert status == 200
        (node,) = nodes
        assert node["ManagerStatus"] == {
            "Leader": True,
            "Reachability": "reachable",
            "Addr": "127.0.0.1:2377",
        }
        role = json.dumps({"role": {"worker": True}})
        assert await call(api, "GET", f"/nodes?filters={role}") == (200, [])
        assert (await message(api, "GET", '/nodes?filters={"role":["boss"]}'))[0] == 400
        spec = dict(node["Spec"], Labels={"zone": "a"}, Availability="drain")
        path = f"/nodes/{MANAGER_ID}/update?version={node['Version']['Index']}"
        assert (await call(api, "POST", path, spec))[0] == 200
        _, updated = await call(api, "GET", "/nodes/host1")
        assert updated["Spec"]["Labels"] == {"zone": "a"}
        assert updated["Spec"]["Availability"] == "drain"
        assert (await message(api, "POST", path, spec)) == (400, "update out of sequence")
        label = json.dumps({"node.label": ["zone=a"]})
        assert len((await call(api, "GET", f"/nodes?filters={label}"))[1]) == 1
        # dockerd's words (daemon/cluster/helpers.go), which docker's CLI 28 prints as they are.
        missing = await message(api, "GET", "/nodes/nosuchnode")
        assert missing == (404, "node nosuchnode not found")
        status, text = await message(api, "DELETE", f"/nodes/{MANAGER_ID}")
        assert status == 400
        assert "is a cluster manager" in text or "not down" in text

    run(scenario)


# ---------------------------------------------------------------- services and tasks


def test_service_create_conflict_and_bad_spec() -> None:
    async def scenario(api: EngineApi) -> None:
        status, created = await call(api, "POST", "/v1.41/services/create", SERVICE)
        assert status == 201
        assert set(created) == {"ID", "Warnings"}
        status, text = await message(api, "POST", "/services/create", SERVICE)
        assert (status, text) == (409, "service web already exists")
        bad = json.loads(json.dumps(SERVICE))
        bad["Name"] = "other"
        bad["EndpointSpec"] = {"Ports": [{"TargetPort": 80, "Protocol": "icmp"}]}
        status, text = await message(api, "POST", "/services/create", bad)
        assert (status, text) == (
            400,
            "invalid EndpointSpec.Ports[0].Protocol 'icmp': expected one of tcp, udp, sctp",
        )
        assert (await message(api, "POST", "/services/create", "not an object"))[0] == 400
        assert await message(api, "GET", "/services/nosuch") == (404, "service nosuch not found")
        assert await message(api, "DELETE", "/services/nosuch") == (404, "service nosuch not found")
        assert await message(api, "GET", "/tasks/nosuch") == (404, "task nosuch not found")

    run(scenario)


def test_an_unnamed_service_gets_a_random_name_as_dockerd_gives() -> None:
    """`docker service create busybox top` sends no Name; dockerd picks one
    (namesgenerator, as for containers) rather than refusing."""

    async def scenario(api: EngineApi) -> None:
        unnamed = {k: v for k, v in SERVICE.items() if k != "Name"}
        names = set()
        for _ in range(2):
            status, created = await call(api, "POST", "/services/create", unnamed)
            assert status == 201, created
            _, service = await call(api, "GET", f"/services/{created['ID']}")
            names.add(service["Spec"]["Name"])
        assert len(names) == 2
        assert all(re.fullmatch(r"[a-z]+_[a-z]+[0-9]*", name) for name in names), names

    run(scenario)


def test_service_list_inspect_update_rollback_remove() -> None:
    async def scenario(api: EngineApi) -> None:
        _, created = await call(api, "POST", "/services/create", SERVICE)
        sid = created["ID"]
        status, services = await call(api, "GET", "/services?status=true")
        assert status == 200
        assert services[0]["ServiceStatus"] == {
            "RunningTasks": 0,
            "DesiredTasks": 2,
            "CompletedTasks": 0,
        }
        by_name = json.dumps({"name": {"we": True}, "mode": {"replicated": True}})
        assert len((await call(api, "GET", f"/services?filters={by_name}"))[1]) == 1
        by_label = json.dumps({"label": ["tier"]})
        assert (await call(api, "GET", f"/services?filters={by_label}"))[1] == []
        _, service = await call(api, "GET", "/services/web?insertDefaults=true")
        assert service["ID"] == sid
        spec = service["Spec"]
        spec["TaskTemplate"]["ContainerSpec"]["Image"] = "busybox:v2"
        version = service["Version"]["Index"]
        path = f"/services/{sid}/update?version={version}"
        assert await call(api, "POST", path, spec) == (200, {})
        _, updated = await call(api, "GET", f"/services/{sid}")
        assert updated["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:v2"
        assert updated["UpdateStatus"]["State"] == "updating"
        assert "CompletedAt" not in updated["UpdateStatus"]  # as dockerd: not yet, not year 1
        assert updated["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:latest"
        assert await message(api, "POST", path, spec) == (400, "update out of sequence")
        rollback = f"/services/{sid}/update?version={updated['Version']['Index']}&rollback=previous"
        assert (await call(api, "POST", rollback, updated["Spec"]))[0] == 200
        _, rolled = await call(api, "GET", f"/services/{sid}")
        assert rolled["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:latest"
        assert rolled["UpdateStatus"]["State"] == "rollback_started"
        assert (await call(api, "DELETE", f"/services/{sid}"))[0] == 200
        assert await call(api, "GET", "/services") == (200, [])

    run(scenario)


def test_tasks_list_with_docker_s_filters() -> None:
    async def scenario(api: EngineApi) -> None:
        from swarmpy.manager.state.store import SERVICES, TASKS, Tx
        from tests.support.builders import task

        _, created = await call(api, "POST", "/services/create", SERVICE)
        service = api.store.view().get(SERVICES, created["ID"])
        assert service is not None
        t1, t2 = task(service, 1, node_id=MANAGER_ID), task(service, 2, node_id=MANAGER_ID)

        def add(tx: Tx) -> None:
            tx.create(TASKS, t1)
            tx.create(TASKS, t2)

        await api.store.update(add)
        by_service = json.dumps({"service": {"web": True}, "_up-to-date": {"true": True}})
        status, tasks = await call(api, "GET", f"/tasks?filters={by_service}")
        assert status == 200
        assert sorted(t["Slot"] for t in tasks) == [1, 2]
        assert tasks[0]["DesiredState"] == "running"
        shutdown = json.dumps({"desired-state": ["shutdown"]})
        assert await call(api, "GET", f"/tasks?filters={shutdown}") == (200, [])
        assert (await message(api, "GET", '/tasks?filters={"desired-state":["nap"]}'))[0] == 400
        missing = json.dumps({"service": ["nosuch"]})
        assert (await message(api, "GET", f"/tasks?filters={missing}"))[0] == 404
        status, one = await call(api, "GET", f"/tasks/{t1.id}")
        assert (status, one["ID"]) == (200, t1.id)
        assert (await message(api, "GET", "/tasks/zzz"))[0] == 404

    run(scenario)


def test_service_logs_are_multiplexed_with_details() -> None:
    at = 1_767_225_600_000_000_007  # 2026-01-01T00:00:00.000000007Z
    lines = [
        dispatcher_pb2.LogMessage(
            task_id="t1", service_id="s1", node_id="n1", data=b"hello\n", time_unix_nano=at
        ),
        dispatcher_pb2.LogMessage(
            task_id="t1",
            service_id="s1",
            node_id="n1",
            data=b"oops\n",
            time_unix_nano=at + 1,
            stream=dispatcher_pb2.LOG_STREAM_STDERR,
        ),
        dispatcher_pb2.LogMessage(data=b"node n2 did not answer"),
    ]

    async def scenario(api: EngineApi) -> None:
        await call(api, "POST", "/services/create", SERVICE)
        response = await api.client.get(
            "/services/web/logs",
            params={"stdout": "1", "stderr": "1", "details": "1", "timestamps": "1", "tail": "5"},
        )
        assert response.status == 200
        frames, rest = unframe(await response.read())
        assert rest == b""
        (stream, data), (stderr_stream, stderr), (err_stream, err) = frames
        assert stream == STDOUT
        stamp, detail, text = data.split(b" ", 2)
        # The container's own time, in Go's fixed format.
        assert stamp == b"2026-01-01T00:00:00.000000007Z"
        assert detail == (
            b"com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,"
            b"com.docker.swarm.task.id=t1"
        )
        assert text == b"hello\n"
        assert (stderr_stream, stderr.split(b" ", 2)[2]) == (STDERR, b"oops\n")
        assert (err_stream, err) == (SYSTEMERR, b"Error grabbing logs: node n2 did not answer\n")
        assert api.node.manager is not None
        (request,) = api.node.manager.requests
        assert (request.tail, request.follow) == (5, False)
        # stdout alone: the stderr line is left out.
        only = await api.client.get("/services/web/logs", params={"stdout": "1"})
        assert [s for s, _ in unframe(await only.read())[0]] == [STDOUT, SYSTEMERR]
        status, refusal = await message(api, "GET", "/services/web/logs")
        assert (status, "at least one stream" in refusal) == (400, True)
        since = await api.client.get("/services/web/logs?stdout=1&since=12.5")
        assert since.status == 200
        await since.read()
        assert api.node.manager.requests[-1].since_unix_nano == 12_500_000_000
        assert (await message(api, "GET", "/services/web/logs?stdout=1&since=1m"))[0] == 400
        assert (await message(api, "GET", "/services/nosuch/logs?stdout=1"))[0] == 404

    run(scenario, lines=lines)


# ---------------------------------------------------------------- networks


def test_networks_create_list_inspect_remove_prune() -> None:
    async def scenario(api: EngineApi) -> None:
        body = {
            "Name": "overnet",
            "Driver": "overlay",
            "CheckDuplicate": True,
            "Labels": {"a": "b"},
        }
        status, created = await call(api, "POST", "/networks/create", body)
        assert status == 201
        assert created["Warning"] == ""
        status, text = await message(api, "POST", "/networks/create", body)
        assert (status, text) == (409, "network with name overnet already exists")
        for name in ("bridge", "default"):  # `docker network create -d overlay bridge`
            status, text = await message(
                api, "POST", "/networks/create", {"Name": name, "Driver": "overlay"}
            )
            assert (status, text) == (
                403,
                f"operation is not permitted on predefined {name} network ",
            )
        assert (await message(api, "POST", "/networks/create", {"Name": "b", "Driver": "nfs"}))[
            0
        ] == 404
        status, text = await message(
            api, "POST", "/networks/create", {"Name": "x", "Driver": "overlay", "Internal": True}
        )
        assert (status, "Internal" in text) == (400, True)
        assert (
            await call(api, "POST", "/networks/create", {"Name": "spare", "Driver": "overlay"})
        )[0] == 201
        svc = json.loads(json.dumps(SERVICE))
        svc["TaskTemplate"]["Networks"] = [{"Target": "overnet"}]
        assert (await call(api, "POST", "/services/create", svc))[0] == 201
        dangling = json.dumps({"dangling": ["true"]})
        _, listed = await call(api, "GET", f"/networks?filters={dangling}")
        assert [n["Name"] for n in listed] == ["spare"]
        by_label = json.dumps({"label": {"a=b": True}, "driver": {"overlay": True}})
        _, listed = await call(api, "GET", f"/networks?filters={by_label}")
        assert [n["Name"] for n in listed] == ["overnet"]
        status, network = await call(api, "GET", f"/networks/{created['Id']}")
        assert (status, network["Name"], network["Scope"]) == (200, "overnet", "swarm")
        assert "Services" not in network
        _, verbose = await call(api, "GET", f"/networks/{created['Id']}?verbose=true")
        # No task runs here: no node has the network, no service has an endpoint on it yet.
        assert (verbose["Peers"], verbose["Services"]) == ([], {})
        assert await message(api, "GET", "/networks/nosuch") == (404, "network nosuch not found")
        status, text = await message(api, "DELETE", "/networks/overnet")
        assert (status, "in use" in text) == (400, True)
        assert await call(api, "POST", "/networks/prune") == (200, {"NetworksDeleted": ["spare"]})
        await call(api, "DELETE", "/services/web")
        assert (await call(api, "DELETE", "/networks/overnet"))[0] == 204
        assert await call(api, "GET", "/networks") == (200, [])

    run(scenario)


def test_network_connect_to_a_swarm_network_says_what_it_is() -> None:
    """docker network connect ovl c: swarmpy takes user bridges only there; the swarm
    network is named as such, not reported as missing (it is listed)."""

    async def scenario(api: EngineApi) -> None:
        body = {"Name": "ovl", "Driver": "overlay", "Attachable": True}
        assert (await call(api, "POST", "/networks/create", body))[0] == 201
        for action in ("connect", "disconnect"):
            status, text = await message(api, "POST", f"/networks/ovl/{action}", {"Container": "c"})
            assert status == 403
            assert text.startswith("swarmpy puts a container on swarm network ovl only as ")
            missing = await message(api, "POST", f"/networks/nope/{action}", {"Container": "c"})
            assert missing == (404, "network nope not found")

    run(scenario)


@dataclass
class NodeNetworks:
    """The network provider of a node with one container on each of ``attached``."""

    attached: list[str]

    def local_networks(self) -> list[str]:
        return list(self.attached)

    def local_containers(self, network_id: str) -> list[dict[str, str]]:
        if network_id not in self.attached:
            return []
        return [
            {
                "ContainerID": "task1",
                "Name": "web.1.task1",
                "EndpointID": "e" * 64,
                "MacAddress": "02:42:0a:00:01:05",
                "IPv4Address": "10.0.1.5/24",
            }
        ]


@dataclass
class NodeEngine:
    network: NodeNetworks
    networks: dict[str, Network] = field(default_factory=dict)
    # What the events recorder subscribes to: a NodeRuntime's containers' and images' events.
    containers: SimpleNamespace = field(
        default_factory=lambda: SimpleNamespace(events=ContainerEvents())
    )
    images: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(events=ImageEvents()))
    # No local networks (bridges) on this node: only the swarm's are under test here.
    bridges: SimpleNamespace = field(
        default_factory=lambda: SimpleNamespace(
            networks=list, find=lambda ref: None, endpoints=list
        )
    )
    volumes: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(events=Sinks()))
    network_events: Sinks = field(default_factory=Sinks)


def test_a_worker_lists_and_inspects_the_networks_it_has() -> None:
    async def scenario(api: EngineApi) -> None:
        _, created = await call(
            api, "POST", "/networks/create", {"Name": "overnet", "Driver": "overlay"}
        )
        overnet = Network(id=created["Id"], name="overnet", subnet="10.0.1.0/24", vni=4097)
        other = Network(id="f" * 25, name="other", subnet="10.0.2.0/24", vni=4098)
        api.node.runtime = NodeEngine(
            NodeNetworks([overnet.id]), {overnet.id: overnet, other.id: other}
        )
        # A manager shows its containers on a swarm network it inspects.
        _, doc = await call(api, "GET", "/networks/overnet")
        assert doc["Containers"] == {
            "task1": {
                "Name": "web.1.task1",
                "EndpointID": "e" * 64,
                "MacAddress": "02:42:0a:00:01:05",
                "IPv4Address": "10.0.1.5/24",
                "IPv6Address": "",
            }
        }
        api.worker()
        status, listed = await call(api, "GET", "/networks")
        assert (status, sorted(n["Name"] for n in listed)) == (200, ["other", "overnet"])
        assert {n["Scope"] for n in listed} == {"swarm"}
        dangling = json.dumps({"dangling": ["true"]})
        _, listed = await call(api, "GET", f"/networks?filters={dangling}")
        assert [n["Name"] for n in listed] == ["other"]
        by_name = json.dumps({"name": {"over": True}})
        _, listed = await call(api, "GET", f"/networks?filters={by_name}")
        assert [n["Name"] for n in listed] == ["overnet"]
        for ref in ("overnet", overnet.id, overnet.id[:6]):
            status, doc = await call(api, "GET", f"/networks/{ref}")
            assert (status, doc["Id"], list(doc["Containers"])) == (200, overnet.id, ["task1"])
        assert (await call(api, "GET", "/networks/other"))[1]["Containers"] == {}
        assert await message(api, "GET", "/networks/nosuch") == (404, "network nosuch not found")
        # A network of the swarm the worker has no task on is not one it has.
        api.node.runtime = NodeEngine(NodeNetworks([]))
        assert await call(api, "GET", "/networks") == (200, [])
        assert (await message(api, "GET", "/networks/overnet"))[0] == 404

    run(scenario)


# ---------------------------------------------------------------- refusals by role


def test_a_worker_and_a_manager_without_leader_refuse_with_503() -> None:
    async def scenario(api: EngineApi) -> None:
        api.node.leader = False
        status, text = await message(api, "GET", "/services")
        assert status == 503
        assert "does not have a leader" in text
        api.worker()
        for method, path in [
            ("GET", "/nodes"),
            ("GET", "/services"),
            ("POST", "/services/create"),
            ("GET", "/tasks"),
            ("POST", "/networks/create"),
            ("GET", "/swarm"),
        ]:
            body = {"Name": "n", "Driver": "overlay"} if path == "/networks/create" else SERVICE
            status, text = await message(api, method, path, body if method == "POST" else None)
            assert status == 503, path
            assert text.startswith("This node is not a swarm manager. Worker nodes can't"), text
        assert await call(api, "GET", "/networks") == (200, [])

    run(scenario)


# ---------------------------------------------------------------- docker-py


def test_docker_py_drives_services_and_nodes() -> None:
    async def scenario(api: EngineApi) -> None:
        url = f"tcp://127.0.0.1:{api.client.port}"

        def drive() -> None:
            client = docker.DockerClient(base_url=url, version="auto")
            try:
                assert client.ping()
                assert [n.attrs["Description"]["Hostname"] for n in client.nodes.list()] == [
                    "host1"
                ]
                service = client.services.create(  # type: ignore[no-untyped-call]
                    "busybox:latest",
                    ["httpd", "-f"],
                    name="web",
                    mode={"Replicated": {"Replicas": 2}},
                )
                assert [s.name for s in client.services.list()] == ["web"]
                service.scale(3)
                service.reload()
                assert service.attrs["Spec"]["Mode"]["Replicated"]["Replicas"] == 3
                with pytest.raises(docker.errors.APIError) as conflict:
                    client.services.create("busybox:latest", name="web")  # type: ignore[no-untyped-call]
                assert conflict.value.status_code == 409
                service.remove()
                assert client.services.list() == []
                with pytest.raises(docker.errors.NotFound):
                    client.services.get("web")  # type: ignore[no-untyped-call]
            finally:
                client.close()

        await asyncio.to_thread(drive)

    run(scenario)


def test_a_bug_is_a_500_with_docker_s_body() -> None:
    async def scenario(api: EngineApi) -> None:
        async def broken(force: bool) -> None:
            raise ValueError("boom")

        api.node.membership.swarm_leave = broken  # type: ignore[method-assign]
        assert await message(api, "POST", "/swarm/leave?force=1") == (500, "internal error: boom")

    run(scenario)


def test_logs_of_a_tty_service_are_raw() -> None:
    lines = [dispatcher_pb2.LogMessage(task_id="t1", service_id="s1", node_id="n1", data=b"a\n")]

    async def scenario(api: EngineApi) -> None:
        # Written to the store as it is: the control API refuses a TTY (no engine gives one).
        term = service("term", container=ContainerSpec("busybox", tty=True))
        assert api.node.api is not None
        await api.node.api.store.update(lambda tx: tx.create(SERVICES, term))
        response = await api.client.get("/services/term/logs", params={"stdout": "1"})
        assert response.content_type == "application/vnd.docker.raw-stream"
        assert await response.read() == b"a\n"

    run(scenario, lines=lines)


def test_follow_streams_end_when_the_client_leaves() -> None:
    lines = [dispatcher_pb2.LogMessage(task_id="t1", service_id="s1", node_id="n1", data=b"a\n")]

    async def scenario(api: EngineApi) -> None:
        relay = api.node.manager
        assert relay is not None
        await call(api, "POST", "/services/create", SERVICE)
        logs = await api.client.get("/services/web/logs", params={"stdout": "1", "follow": "1"})
        assert await logs.content.readexactly(8 + 2) == frame(STDOUT, b"a\n")
        events = await api.client.get("/events")
        assert events.status == 200
        await wait_for_async("the events stream open", lambda: api.events.listening == 1)
        assert relay.open == 1
        logs.close()
        events.close()
        await wait_for_async("the log subscription closed", lambda: relay.open == 0)
        await wait_for_async("the events stream closed", lambda: api.events.listening == 0)

    run(scenario, lines=lines)
