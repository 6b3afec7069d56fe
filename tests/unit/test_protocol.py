"""The not-leader signal: a follower's dispatcher names the leader in a field of its answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from swarmpy.api import dispatcher_pb2
from swarmpy.manager.dispatcher.dispatcher import Dispatcher
from swarmpy.manager.state.store import LocalLog, Store
from swarmpy.protocol import NotLeader, raise_if_not_leader


async def _one(message: Any) -> AsyncIterator[Any]:
    yield message


async def _first_answers(leader: str | None) -> list[Any]:
    """The first message of each agent stream, asked of a manager that is not the leader."""
    follower = Dispatcher(
        Store(LocalLog()), ca_pem="", is_leader=lambda: False, leader_api_addr=lambda: leader
    )
    context: Any = None  # a follower answers before it looks at who asks
    return [
        await anext(follower.Session(dispatcher_pb2.SessionRequest(), context)),
        await anext(follower.Heartbeat(_one(dispatcher_pb2.HeartbeatRequest()), context)),
        await anext(
            follower.UpdateTaskStatus(_one(dispatcher_pb2.UpdateTaskStatusRequest()), context)
        ),
        await anext(follower.Assignments(dispatcher_pb2.AssignmentsRequest(), context)),
    ]


@pytest.mark.parametrize(("leader", "expected"), [("10.0.0.1:2377", "10.0.0.1:2377"), (None, "")])
def test_a_follower_answers_every_agent_stream_with_the_leader(
    leader: str | None, expected: str
) -> None:
    for answer in asyncio.run(_first_answers(leader)):
        with pytest.raises(NotLeader) as raised:
            raise_if_not_leader(answer)
        assert raised.value.leader_addr == expected


def test_a_leaders_messages_carry_no_signal() -> None:
    raise_if_not_leader(dispatcher_pb2.SessionMessage(session_id="s1", heartbeat_period_s=5.0))
    raise_if_not_leader(dispatcher_pb2.HeartbeatResponse(period_s=5.0))
    raise_if_not_leader(dispatcher_pb2.UpdateTaskStatusResponse())
    raise_if_not_leader(dispatcher_pb2.AssignmentsMessage())
