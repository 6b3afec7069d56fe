"""The log broker over a real mutual-TLS grpc.aio server on 127.0.0.1, with the agent's real
LogPublisher and a fake container log: fan-out, silence, follow/cancel, who may do what."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from swarmpy import tls
from swarmpy.agent.logs import LogPublisher
from swarmpy.api import dispatcher_pb2, dispatcher_pb2_grpc
from swarmpy.ca import certificates as ca
from swarmpy.engine import jsonlog
from swarmpy.engine.jsonlog import LogRecord, LogWindow
from swarmpy.errors import NotFound, PermissionDenied
from swarmpy.manager import logbroker
from swarmpy.manager.logbroker import LogBroker, subscribe_via_leader
from swarmpy.manager.state.store import NODES, SERVICES, TASKS, LocalLog, Store, Tx
from swarmpy.model import NodeRole, TaskState
from tests.support.builders import node, node_credentials, service, task
from tests.support.poll import wait_for_async

pytestmark = pytest.mark.fakeserver


@dataclass
class Env:
    port: int
    root: ca.RootCA
    creds: dict[str, tls.NodeCredentials]
    tasks: dict[str, str]  # "n1"/"n2" -> id of the talk task on that node
    broker: LogBroker

    def channel(self, who: str) -> grpc.aio.Channel:
        c = self.creds[who]
        return tls.secure_channel(f"127.0.0.1:{self.port}", c.ca_pem, c.cert_pem, c.key_pem)


@contextlib.asynccontextmanager
async def broker_env() -> AsyncIterator[Env]:
    root = ca.create_root_ca()
    store = Store(LocalLog())
    talk = service("talk")
    t1 = task(talk, 1, TaskState.RUNNING, node_id="id-n1")
    t2 = task(talk, 2, TaskState.RUNNING, node_id="id-n2")

    def setup(tx: Tx) -> None:
        tx.create(NODES, node("n1"))
        tx.create(NODES, node("n2"))
        tx.create(SERVICES, talk)
        tx.create(TASKS, t1)
        tx.create(TASKS, t2)

    await store.update(setup)

    def check_session(node_id: str, session_id: str) -> None:
        if session_id != "s-" + node_id:
            raise NotFound("session invalid: open a new session")

    broker = LogBroker(store, root.cert_pem, lambda: True, lambda: None, check_session)
    leading = asyncio.create_task(broker.run())
    mgr = node_credentials(root, "id-mgr", NodeRole.MANAGER)
    server = grpc.aio.server()
    dispatcher_pb2_grpc.add_LogBrokerServicer_to_server(broker, server)
    port = server.add_secure_port(
        "127.0.0.1:0", tls.server_credentials(mgr.cert_pem, mgr.key_pem, root.cert_pem)
    )
    await server.start()
    creds = {
        "mgr": mgr,
        "n1": node_credentials(root, "id-n1", NodeRole.WORKER),
        "n2": node_credentials(root, "id-n2", NodeRole.WORKER),
    }
    try:
        yield Env(port, root, creds, {"n1": t1.id, "n2": t2.id}, broker)
    finally:
        await broker.stop()
        await server.stop(None)
        leading.cancel()


NANOS = 1_000_000_000


def fake_record(task_id: str, i: int) -> LogRecord:
    """Line ``i`` of a task: written at second 1000 + i, on stderr when ``i`` is odd."""
    stream = jsonlog.STDERR if i % 2 else jsonlog.STDOUT
    return LogRecord(stream, (1000 + i) * NANOS, f"{task_id} {i}\n".encode())


class FakeLogs:
    """Each task logs `lines` lines; with follow, one more line every 50 ms until cancelled."""

    def __init__(self, lines: int = 3) -> None:
        self.lines = lines
        self.cancelled: list[str] = []

    async def __call__(self, task_id: str, window: LogWindow) -> AsyncIterator[LogRecord]:
        records = [fake_record(task_id, i) for i in range(self.lines)]
        if window.tail >= 0:
            records = records[len(records) - window.tail :] if window.tail else []
        for record in jsonlog.select(records, window):
            yield record
        i = self.lines
        try:
            while window.follow:
                await asyncio.sleep(0.05)
                yield fake_record(task_id, i)
                i += 1
        except asyncio.CancelledError:
            self.cancelled.append(task_id)
            raise


@contextlib.asynccontextmanager
async def agent(env: Env, who: str, source: FakeLogs) -> AsyncIterator[None]:
    channel = env.channel(who)
    listening = asyncio.create_task(LogPublisher(source).listen(channel, f"s-id-{who}"))
    await wait_for_async(
        f"{who}'s listen stream", lambda: f"id-{who}" in env.broker._listeners, timeout=5
    )
    try:
        yield
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        await channel.close(None)


async def collect(
    env: Env,
    follow: bool = False,
    tail: int = -1,
    until: Callable[[list[Any]], bool] | None = None,
    since_s: int = 0,
) -> list[Any]:
    request = dispatcher_pb2.SubscribeLogsRequest(
        service_ids=["talk"], follow=follow, tail=tail, since_unix_nano=since_s * NANOS
    )
    got: list[Any] = []
    async for message in subscribe_via_leader(f"127.0.0.1:{env.port}", env.creds["mgr"], request):
        got.append(message)
        if until is not None and until(got):
            break
    return got


def lines(messages: list[Any]) -> list[str]:
    return [m.data.decode().rstrip("\n") for m in messages if m.task_id]


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_logs_of_both_nodes_then_the_end() -> None:
    async def scenario() -> None:
        async with broker_env() as env:
            source = FakeLogs(3)
            async with agent(env, "n1", source), agent(env, "n2", source):
                got = await collect(env)
                t1, t2 = env.tasks["n1"], env.tasks["n2"]
                assert sorted(lines(got)) == sorted(
                    [f"{t} {i}" for t in (t1, t2) for i in range(3)]
                )
                assert {(m.task_id, m.node_id, m.service_id) for m in got} == {
                    (t1, "id-n1", "svc-talk"),
                    (t2, "id-n2", "svc-talk"),
                }
                tailed = lines(await collect(env, tail=1))
                assert sorted(tailed) == sorted([f"{t1} 2", f"{t2} 2"])

    run(scenario())


def test_each_line_keeps_its_time_and_stream_and_since_selects() -> None:
    async def scenario() -> None:
        async with broker_env() as env:
            source = FakeLogs(3)
            async with agent(env, "n1", source), agent(env, "n2", source):
                got = await collect(env, since_s=1001)
                t1 = env.tasks["n1"]
                mine = sorted((m for m in got if m.task_id == t1), key=lambda m: m.data)
                assert [(m.data, m.time_unix_nano, m.stream) for m in mine] == [
                    (f"{t1} 1\n".encode(), 1001 * NANOS, dispatcher_pb2.LOG_STREAM_STDERR),
                    (f"{t1} 2\n".encode(), 1002 * NANOS, dispatcher_pb2.LOG_STREAM_STDOUT),
                ]

    run(scenario())


def test_a_silent_node_is_named_and_the_stream_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logbroker, "SILENCE_S", 0.5)

    async def scenario() -> None:
        async with broker_env() as env, agent(env, "n1", FakeLogs(2)):
            got = await collect(env)  # n2 never connected
            assert sorted(lines(got)) == [f"{env.tasks['n1']} {i}" for i in range(2)]
            notices = [m for m in got if not m.task_id]
            assert [n.node_id for n in notices] == ["id-n2"]
            assert "node n2 did not answer" in notices[0].data.decode()

    run(scenario())


def test_follow_streams_until_the_subscriber_goes_then_agents_stop() -> None:
    async def scenario() -> None:
        async with broker_env() as env:
            source = FakeLogs(1)
            async with agent(env, "n1", source), agent(env, "n2", source):
                got = await collect(env, follow=True, tail=0, until=lambda g: len(g) >= 6)
                assert {m.task_id for m in got} == set(env.tasks.values())
                # The subscriber left: the leader tells the agents, which stop reading.
                await wait_for_async(
                    "both agents to stop reading", lambda: len(source.cancelled) == 2, timeout=5
                )
                assert sorted(source.cancelled) == sorted(env.tasks.values())

    run(scenario())


def test_only_managers_subscribe_and_only_sessions_listen() -> None:
    async def scenario() -> None:
        async with broker_env() as env:
            request = dispatcher_pb2.SubscribeLogsRequest(service_ids=["talk"])
            with pytest.raises(PermissionDenied):
                async for _ in subscribe_via_leader(
                    f"127.0.0.1:{env.port}", env.creds["n1"], request
                ):
                    pass
            with pytest.raises(NotFound, match="service nosuch not found"):
                async for _ in subscribe_via_leader(
                    f"127.0.0.1:{env.port}",
                    env.creds["mgr"],
                    dispatcher_pb2.SubscribeLogsRequest(service_ids=["nosuch"]),
                ):
                    pass
            async with env.channel("n1") as channel:
                stub = dispatcher_pb2_grpc.LogBrokerStub(channel)
                stream = stub.ListenSubscriptions(
                    dispatcher_pb2.ListenSubscriptionsRequest(session_id="forged")
                )
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await stream.read()
                assert info.value.code() == grpc.StatusCode.NOT_FOUND

    run(scenario())


def test_a_node_cannot_publish_for_tasks_it_was_not_asked_for() -> None:
    async def scenario() -> None:
        async with broker_env() as env:
            t1, t2 = env.tasks["n1"], env.tasks["n2"]
            async with env.channel("n1") as channel:
                stub = dispatcher_pb2_grpc.LogBrokerStub(channel)
                listen = stub.ListenSubscriptions(
                    dispatcher_pb2.ListenSubscriptionsRequest(session_id="s-id-n1")
                )
                subscriber = asyncio.create_task(collect(env))
                wanted: Any = await listen.read()
                assert list(wanted.task_ids) == [t1]

                async def forged() -> AsyncIterator[Any]:
                    yield dispatcher_pb2.PublishLogsMessage(
                        subscription_id=wanted.id,
                        messages=[
                            dispatcher_pb2.LogMessage(task_id=t2, data=b"not mine"),
                            dispatcher_pb2.LogMessage(task_id=t1, node_id="id-n2", data=b"mine"),
                        ],
                        close=True,
                    )

                await stub.PublishLogs(forged())
                async with env.channel("n2") as channel2:
                    stub2 = dispatcher_pb2_grpc.LogBrokerStub(channel2)

                    async def closing() -> AsyncIterator[Any]:
                        yield dispatcher_pb2.PublishLogsMessage(
                            subscription_id=wanted.id, close=True
                        )

                    listen2 = stub2.ListenSubscriptions(
                        dispatcher_pb2.ListenSubscriptionsRequest(session_id="s-id-n2")
                    )
                    await listen2.read()
                    await stub2.PublishLogs(closing())
                got = await subscriber
                listen.cancel()
                listen2.cancel()
            assert [(m.task_id, m.node_id, m.data) for m in got] == [(t1, "id-n1", b"mine")]

    run(scenario())
