"""The not-leader signal: a follower's dispatcher names the leader in a field of its answer
(to a node it knows: a removed node is refused first, see tests/fakeserver/test_node_removal)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from swarmpy.agent import agent
from swarmpy.api import dispatcher_pb2
from swarmpy.ca import certificates as ca
from swarmpy.manager.dispatcher import admission
from swarmpy.manager.dispatcher.dispatcher import Dispatcher
from swarmpy.manager.state.store import LocalLog, Store
from swarmpy.model import NodeRole
from swarmpy.protocol import (
    DEFAULT_HEARTBEAT_PERIOD_S,
    HEARTBEAT_MISSES,
    NotLeader,
    raise_if_not_leader,
)
from tests.support.builders import node_credentials


async def _one(message: Any) -> AsyncIterator[Any]:
    yield message


class _Caller:
    """The servicer context of a call made with a worker's certificate."""

    def __init__(self, cert_pem: str) -> None:
        self._cert = cert_pem.encode()

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_pem_cert": [self._cert]}


async def _first_answers(leader: str | None) -> list[Any]:
    """The first message of each agent stream, asked of a manager that is not the leader."""
    root = ca.create_root_ca()
    follower = Dispatcher(
        Store(LocalLog()),
        ca_pem=root.cert_pem,
        is_leader=lambda: False,
        leader_api_addr=lambda: leader,
    )
    context: Any = _Caller(node_credentials(root, "id-w1", NodeRole.WORKER).cert_pem)
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


def test_an_agent_waits_for_its_session_as_long_as_a_leader_may_ask_it_to() -> None:
    # An agent that gives up on an admitted session sooner than the leader's longest retry
    # delay goes to another manager and is redirected back, to the end of the queue: in a
    # mass reconnect on a busy machine, one more call per node (issue 16's scale bench).
    assert agent.SESSION_OPEN_TIMEOUT_S >= admission.MAX_RETRY_S
    assert agent.SESSION_OPEN_TIMEOUT_S > HEARTBEAT_MISSES * DEFAULT_HEARTBEAT_PERIOD_S
