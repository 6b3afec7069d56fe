"""The Engine API of a manager that has lost quorum (two of three managers gone): what still
answers, and how it says the rest cannot."""

from __future__ import annotations

from swarmpy.cli.info import swarm_lines
from swarmpy.errors import NoLeader
from swarmpy.model import Network
from tests.fakeserver.test_engine_api import NodeEngine, NodeNetworks, call, message, run
from tests.support.engine_api import EngineApi


def test_a_manager_without_leader_still_lists_the_networks_it_has() -> None:
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


def test_info_of_a_manager_without_leader_says_so() -> None:
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
