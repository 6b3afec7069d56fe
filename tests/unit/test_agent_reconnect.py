"""How an agent that reaches no leader tries again: no tight loop when a manager names a
leader that is gone, and pauses that grow up to the heartbeat period."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from swarmpy.agent.agent import RECONNECT_S, Agent, reconnect_wait
from swarmpy.model import Resources
from swarmpy.protocol import DEFAULT_HEARTBEAT_PERIOD_S, NotLeader


def test_the_pause_doubles_up_to_the_heartbeat_period() -> None:
    assert [reconnect_wait(n, 5.0) for n in range(6)] == [0.5, 0.5, 1.0, 2.0, 4.0, 5.0]
    assert reconnect_wait(1000, 5.0) == 5.0
    # A lab's 1 s heartbeat: a node back within a period is never marked down meanwhile.
    assert [reconnect_wait(n, 1.0) for n in range(4)] == [0.5, 0.5, 1.0, 1.0]
    assert reconnect_wait(3, 0.1) == RECONNECT_S


class StaleRedirects(Agent):
    """Managers m1 and m2: m1 follows a leader that died ("gone", unreachable, as m1 has not
    noticed yet), m2 is down."""

    def __init__(self) -> None:
        super().__init__(
            creds=Any,  # type: ignore[arg-type]  # never used: no session opens
            managers=["m1", "m2"],
            hostname="w1",
            addr="127.0.0.1",
            worker_factory=lambda report: Any,  # type: ignore[arg-type,return-value]
            on_view=lambda view: None,
            on_managers=lambda managers: None,
            resources=Resources(),
        )
        self.tried: list[str] = []

    async def _session(self, target: str) -> None:
        self.tried.append(target)
        if target == "m1":
            raise NotLeader("gone")
        raise OSError(f"{target}: connection refused")


def test_a_redirect_to_a_leader_that_is_gone_is_no_tight_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two managers killed, the third still naming the dead leader: the agents tried the
    # dead one every 50 ms, 30 log lines a second on every node for as long as it lasted.
    agent = StaleRedirects()
    waits: list[float] = []
    sleep = asyncio.sleep

    async def recorded_sleep(delay: float) -> None:
        waits.append(delay)
        if len(waits) >= 40:
            agent._stopped = True
        await sleep(0)

    monkeypatch.setattr(asyncio, "sleep", recorded_sleep)
    asyncio.run(agent._run())
    assert waits.count(0.05) <= len(waits) / 2, waits
    assert max(waits) == DEFAULT_HEARTBEAT_PERIOD_S, waits
    assert set(agent.tried) == {"m1", "m2", "gone"}
