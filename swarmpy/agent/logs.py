"""The agent's half of ``service logs``: send the leader the container logs it asks for.

While the session is up, one ``ListenSubscriptions`` stream tells this node which of its
tasks' logs a subscriber wants; each subscription gets one ``PublishLogs`` stream, fed by
one reader per task and batched, and ended with ``close`` once every reader is done (at
once without --follow, when the containers stop with it). A later message for the same
subscription adds tasks (with --follow, tasks that started since); ``close`` from the
leader means the subscriber went away.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from swarmpy.api import dispatcher_pb2, dispatcher_pb2_grpc
from swarmpy.engine.jsonlog import STDERR, LogRecord, LogWindow
from swarmpy.errors import SwarmpyError

log = logging.getLogger(__name__)

# (task id, which records) -> the records of the task's container log (each line at most the
# log keeper's 16 KiB, so one message stays small).
LogSource = Callable[[str, LogWindow], AsyncIterator[LogRecord]]

# Log messages per PublishLogs message.
MAX_BATCH = 200
RETRY_S = 1.0


def window_of(message: Any) -> LogWindow:
    """The records a subscription message asks for."""
    return LogWindow(
        tail=message.tail,
        since_ns=message.since_unix_nano,
        until_ns=message.until_unix_nano,
        follow=message.follow,
    )


def log_message(task_id: str, record: LogRecord) -> dispatcher_pb2.LogMessage:
    stream = (
        dispatcher_pb2.LOG_STREAM_STDERR
        if record.stream == STDERR
        else dispatcher_pb2.LOG_STREAM_STDOUT
    )
    return dispatcher_pb2.LogMessage(
        task_id=task_id, data=record.line, time_unix_nano=record.time_ns, stream=stream
    )


@dataclass(eq=False)
class _Publication:
    sub_id: str
    window: LogWindow
    outbox: asyncio.Queue[dispatcher_pb2.LogMessage | None] = dataclasses.field(
        default_factory=asyncio.Queue
    )
    readers: dict[str, asyncio.Task[None]] = dataclasses.field(default_factory=dict)
    finished: bool = False
    sender: asyncio.Task[None] | None = None


class LogPublisher:
    def __init__(self, source: LogSource) -> None:
        self._source = source
        self._publications: dict[str, _Publication] = {}

    async def listen(self, channel: grpc.aio.Channel, session_id: str) -> None:
        """Runs as long as the session; never ends on its own, so it never ends the session."""
        stub = dispatcher_pb2_grpc.LogBrokerStub(channel)
        try:
            while True:
                try:
                    stream = stub.ListenSubscriptions(
                        dispatcher_pb2.ListenSubscriptionsRequest(session_id=session_id)
                    )
                    async for message in stream:
                        self._take(stub, message)
                except grpc.aio.AioRpcError as exc:
                    log.debug("log subscriptions: %s", exc.details() or exc.code())
                await asyncio.sleep(RETRY_S)
        finally:
            for pub in list(self._publications.values()):
                self._end(pub)

    def _take(self, stub: Any, message: Any) -> None:
        pub = self._publications.get(message.id)
        if message.close:
            if pub is not None:
                self._end(pub)
            return
        if pub is None or pub.finished:
            pub = _Publication(message.id, window_of(message))
            self._publications[pub.sub_id] = pub
            pub.sender = asyncio.create_task(self._send(stub, pub))
        for task_id in message.task_ids:
            if task_id not in pub.readers:
                pub.readers[task_id] = asyncio.create_task(self._read(pub, task_id))

    def _end(self, pub: _Publication) -> None:
        pub.finished = True
        for reader in pub.readers.values():
            reader.cancel()
        if pub.sender is not None:
            pub.sender.cancel()
        if self._publications.get(pub.sub_id) is pub:
            del self._publications[pub.sub_id]

    async def _read(self, pub: _Publication, task_id: str) -> None:
        try:
            async for record in self._source(task_id, pub.window):
                pub.outbox.put_nowait(log_message(task_id, record))
        except SwarmpyError as exc:
            # Its container is gone (removed with the task history): nothing to send.
            log.debug("logs of task %s: %s", task_id, exc)
        finally:
            del pub.readers[task_id]
            if not pub.readers and not pub.finished:
                # Set now, not when the sender gets to it: new tasks for this subscription
                # must then start a fresh publication.
                pub.finished = True
                pub.outbox.put_nowait(None)

    async def _send(self, stub: Any, pub: _Publication) -> None:
        try:
            await stub.PublishLogs(self._batches(pub))
        except grpc.aio.AioRpcError as exc:
            log.debug("publishing logs for %s: %s", pub.sub_id, exc.details() or exc.code())
        finally:
            if self._publications.get(pub.sub_id) is pub:
                del self._publications[pub.sub_id]
            for reader in pub.readers.values():
                reader.cancel()

    async def _batches(self, pub: _Publication) -> AsyncIterator[Any]:
        # The first message names the subscription even if no task has a line to send.
        yield dispatcher_pb2.PublishLogsMessage(subscription_id=pub.sub_id)
        while True:
            item = await pub.outbox.get()
            batch = []
            while item is not None:
                batch.append(item)
                if len(batch) >= MAX_BATCH or pub.outbox.empty():
                    break
                item = pub.outbox.get_nowait()
            if batch:
                yield dispatcher_pb2.PublishLogsMessage(subscription_id=pub.sub_id, messages=batch)
            if item is None:
                yield dispatcher_pb2.PublishLogsMessage(subscription_id=pub.sub_id, close=True)
                return
