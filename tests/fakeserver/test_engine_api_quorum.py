"""The Engine API of a manager that has lost quorum (two of three managers gone): what still
answers, and how it says the rest cannot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from swarmpy.api import dispatcher_pb2
from swarmpy.cli.info import swarm_lines
from swarmpy.errors import NoLeader, Unavailable
from swarmpy.model import Network
from swarmpy.server import app as app_module
from swarmpy.server.app import ELECTION_WAIT_S, LOST_QUORUM_S, leader_wait
from swarmpy.server.stream import STDOUT, SYSTEMERR, unframe
from tests.fakeserver.test_engine_api import (
    SERVICE,
    NodeEngine,
    NodeNetworks,
    call,
    message,
    run,
)
from tests.support.engine_api import EngineApi


def test_a_manager_without_leader_still_lists_the_networks_it_has(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app_module, "ELECTION_WAIT_S", 0.1)  # no election to wait for here

    # dockerd's network list ignores the cluster's error: `docker network ls` works on a
    # manager that lost quorum, showing what the node has (as a worker's list does).
    async def scenario(api: EngineApi) -> None:
        _, created = await call(
            api, "POST", "/networks/create", {"Name": "overnet", "Driver": "overlay"}
        )
        overnet = Network(id=created["Id"], name="overnet", subnet="10.0.1.0/24", vni=4097)
        api.node.runtime = NodeEngine(NodeNetworks([overnet.id]), {overnet.id: overnet})
        api.node.leader = False
        status, listed = await call(api, "GET", "/networks")
        assert (status, [n["Name"] for n in listed]) == (200, ["overnet"])
        # What needs the swarm's store still says why it cannot answer.
        assert await message(api, "GET", "/services") == (503, NoLeader().message)

    run(scenario)


def test_info_of_a_manager_without_leader_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "ELECTION_WAIT_S", 0.1)

    # dockerd's Info.Swarm.Error is its failed cluster query's error; `docker info` prints it
    # and no cluster details from a store that may be stale.
    async def scenario(api: EngineApi) -> None:
        api.node.leader = False
        status, info = await call(api, "GET", "/info")
        swarm = info["Swarm"]
        no_leader = NoLeader().message
        assert (status, swarm["ControlAvailable"], swarm["Error"]) == (200, True, no_leader)
        assert (swarm["Nodes"], swarm["Managers"]) == (0, 0)
        lines = swarm_lines(swarm)
        assert f"  Error: {no_leader}" in lines
        assert not any(line.startswith("  Managers:") for line in lines)
        api.node.leader = True
        _, info = await call(api, "GET", "/info")
        assert (info["Swarm"]["Error"], info["Swarm"]["Managers"]) == ("", 1)

    run(scenario)


def test_the_wait_for_a_leader_ends_when_the_swarm_has_lost_its_quorum() -> None:
    assert leader_wait(None, 100.0) == ELECTION_WAIT_S
    assert leader_wait(99.0, 100.0) == ELECTION_WAIT_S
    assert leader_wait(100.0 - LOST_QUORUM_S + 1, 100.0) == 1.0
    assert leader_wait(100.0 - LOST_QUORUM_S - 5, 100.0) == 0.0


def test_a_read_during_an_election_waits_for_the_next_leader() -> None:
    # `service update` watching its progress on a follower while the leader was killed
    # ended with "The swarm does not have a leader" a second before the next was elected;
    # swarmkit's managers wait for it.
    async def scenario(api: EngineApi) -> None:
        api.node.leader = False

        async def elected() -> None:
            await asyncio.sleep(0.5)
            api.node.leader = True

        election = asyncio.create_task(elected())
        status, listed = await call(api, "GET", "/services")
        await election
        assert (status, listed) == (200, [])

    run(scenario)


def test_reads_of_a_swarm_long_without_leader_are_refused_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app_module, "ELECTION_WAIT_S", 0.3)
    monkeypatch.setattr(app_module, "LOST_QUORUM_S", 0.5)

    async def scenario(api: EngineApi) -> None:
        api.node.leader = False
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await message(api, "GET", "/nodes") == (503, NoLeader().message)
        assert loop.time() - started >= 0.3  # waited for an election first
        await asyncio.sleep(0.3)
        started = loop.time()
        assert await message(api, "GET", "/nodes") == (503, NoLeader().message)
        assert loop.time() - started < 0.2

    run(scenario)


def test_service_logs_cut_off_by_the_leaders_death_end_with_the_error() -> None:
    # `service logs -f` on a follower while the leader relaying it was killed: the error was
    # answered as a second HTTP response inside the stream, and the CLI printed a traceback.
    async def scenario(api: EngineApi) -> None:
        await call(api, "POST", "/services/create", SERVICE)
        relay = api.node.manager
        assert relay is not None

        async def cut_off(request: Any) -> AsyncIterator[dispatcher_pb2.LogMessage]:
            yield dispatcher_pb2.LogMessage(task_id="t1", service_id="s1", data=b"hello\n")
            raise Unavailable("manager 10.0.0.1:2377 did not answer")

        relay.subscribe_logs = cut_off  # type: ignore[method-assign]
        response = await api.client.get("/services/web/logs", params={"stdout": "1"})
        # Before, the client waited on for the rest of a stream broken by the second answer.
        frames, rest = unframe(await asyncio.wait_for(response.read(), 10))
        assert (response.status, rest) == (200, b"")
        assert frames == [
            (STDOUT, b"hello\n"),
            (SYSTEMERR, b"Error grabbing logs: manager 10.0.0.1:2377 did not answer\n"),
        ]

    run(scenario)
