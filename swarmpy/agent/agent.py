"""The agent's session with the managers: heartbeats, assignments and status reports.

It knows every manager's address (from the session) and follows the leader: a follower
answers with the leader's address, a dead manager is skipped, and the session is opened
again wherever the leader now is. A manager's refusal marked ``NODE_REMOVED_KEY`` (`node rm`
took this node out) ends the loop for good: retrying cannot help, the node leaves instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

import grpc

from swarmpy import codec, tls
from swarmpy.agent.logs import LogPublisher, LogSource
from swarmpy.agent.worker import Worker
from swarmpy.api import dispatcher_pb2, dispatcher_pb2_grpc, objects_pb2
from swarmpy.ca import certificates as ca
from swarmpy.model import ENGINE_VERSION, FileData, NetworkView, Resources, Task, TaskStatus
from swarmpy.protocol import (
    DEFAULT_HEARTBEAT_PERIOD_S,
    HEARTBEAT_MISSES,
    NotLeader,
    raise_if_not_leader,
    removed_node,
    retry_after,
)

log = logging.getLogger(__name__)

# The end-of-stream marker of grpc.aio's read(); its type stubs do not know it.
EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]

STATUS_BATCH_S = 0.05
STATUS_RETRY_S = 1.0
STATUS_TIMEOUT_S = 30.0
RECONNECT_S = 0.5
# After this many rounds in a row that reached no leader, the agent says so once and logs
# each further failure at debug level: managers down for minutes wrote lines by the second.
QUIET_AFTER_ROUNDS = 3
# Rounds after which the pause between them stops growing (it is capped before).
BACKOFF_ROUNDS = 8
# How long to wait for a manager's first session message. A follower answers at once (a
# redirect), a leader at capacity refuses at once with a delay; one that admitted us answers
# once our registration commits, which on a starved machine took 10-22 s (issue 16's scale
# bench). Giving up then sends us to another manager, which redirects us back to the end of
# the leader's queue: one more call in a storm. So as long as the longest delay a leader asks
# an agent to wait (the dispatcher's MAX_RETRY_S); a manager that is gone fails the call at
# once, only one that hangs costs the full wait.
SESSION_OPEN_TIMEOUT_S = 30.0


def reconnect_wait(failed_rounds: int, period_s: float) -> float:
    """The pause before the next round of sessions after ``failed_rounds`` rounds in a row
    that reached no leader: RECONNECT_S, doubling with each round (SwarmKit's agents back
    off too), but never longer than a heartbeat period, since a leader elected meanwhile
    marks a node still away after HEARTBEAT_MISSES periods down."""
    doublings = min(max(failed_rounds - 1, 0), BACKOFF_ROUNDS)
    return float(min(max(RECONNECT_S, period_s), RECONNECT_S * 2**doublings))


class Agent:
    def __init__(
        self,
        creds: tls.NodeCredentials,
        managers: list[str],
        hostname: str,
        addr: str,
        worker_factory: Callable[[Callable[[str, TaskStatus], None]], Worker],
        on_view: Callable[[NetworkView], Any],
        on_managers: Callable[[list[str]], None],
        resources: Resources,
        logs: LogSource | None = None,
        on_role: Callable[[str], None] | None = None,
        on_removed: Callable[[str], None] | None = None,
        on_roots: Callable[[str], None] | None = None,
        on_files: Callable[[list[FileData], set[str] | None], None] | None = None,
    ) -> None:
        self.creds = creds
        self.managers = list(managers)
        self.hostname = hostname
        self.addr = addr
        self.worker = worker_factory(self._report)
        self._on_view = on_view
        self._on_managers = on_managers
        self._on_role = on_role
        self._on_removed = on_removed
        self._on_roots = on_roots
        self._on_files = on_files
        self._resources = resources
        self._logs = LogPublisher(logs) if logs is not None else None
        self._pending: dict[str, TaskStatus] = {}
        self._pending_event = asyncio.Event()
        self._stopped = False
        self._opened = False  # whether a session opened in the current round
        # The dispatcher's heartbeat period, as the last session told it.
        self._period_s = DEFAULT_HEARTBEAT_PERIOD_S
        self._main: asyncio.Task[None] | None = None
        self.connected_to: str | None = None

    def start(self) -> None:
        self._main = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stopped = True
        if self._main is not None:
            self._main.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._main
        await self.worker.shutdown()

    def _report(self, task_id: str, status: TaskStatus) -> None:
        self._pending[task_id] = status
        self._pending_event.set()

    # ------------------------------------------------------------------ session loop

    async def _run(self) -> None:
        preferred: str | None = None
        failed_rounds = 0
        while not self._stopped:
            candidates = [preferred] if preferred else []
            candidates += random.sample(self.managers, len(self.managers))
            preferred = None
            wait: float | None = None
            failed: set[str] = set()
            self._opened = False
            level = logging.INFO if failed_rounds < QUIET_AFTER_ROUNDS else logging.DEBUG
            for target in candidates:
                try:
                    await self._session(target)
                except NotLeader as exc:
                    # A manager naming a leader this round could not reach (one that has
                    # not yet noticed it died) is no lead to follow again at once.
                    if exc.leader_addr and exc.leader_addr not in failed | {target}:
                        preferred = exc.leader_addr
                        break
                    log.log(level, "session with %s ended: %s", target, exc)
                except grpc.aio.AioRpcError as exc:
                    node_id = removed_node(exc)
                    if node_id is not None:
                        self._removed(node_id, exc)
                        return
                    wait = retry_after(exc)
                    if wait is not None:
                        # The leader is registering as many nodes as it can commit: come
                        # back when it said, to the same leader, not sooner elsewhere.
                        log.info("session with %s: %s", target, exc.details())
                        preferred = target
                        self.connected_to = None
                        break
                    log.log(level, "session with %s ended: %s", target, exc.details() or exc.code())
                except (OSError, TimeoutError) as exc:
                    log.log(level, "session with %s failed: %s", target, exc)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # A bug in handling one message must not end the node's only session loop.
                    log.exception("session with %s failed", target)
                self.connected_to = None
                failed.add(target)
                if preferred:
                    break
            if self._opened or wait is not None:
                failed_rounds = 0
            elif not preferred:  # a redirect to follow neither failed nor succeeded yet
                failed_rounds += 1
                if failed_rounds == QUIET_AFTER_ROUNDS:
                    log.info(
                        "no manager leads a swarm this node can reach; trying again every "
                        "%gs at most (further failures at debug level)",
                        reconnect_wait(BACKOFF_ROUNDS, self._period_s),
                    )
            if wait is None:
                wait = reconnect_wait(failed_rounds, self._period_s) if not preferred else 0.05
            await asyncio.sleep(wait)

    def _removed(self, node_id: str, exc: grpc.aio.AioRpcError) -> None:
        log.warning("%s: no more sessions, this node leaves the swarm", exc.details())
        self._stopped = True
        self.connected_to = None
        if self._on_removed is not None:
            self._on_removed(node_id)

    async def _session(self, target: str) -> None:
        channel = tls.secure_channel(
            target, self.creds.ca_pem, self.creds.cert_pem, self.creds.key_pem
        )
        async with channel:
            stub = dispatcher_pb2_grpc.DispatcherStub(channel)
            request = dispatcher_pb2.SessionRequest(
                description=dispatcher_pb2.NodeDescription(
                    hostname=self.hostname,
                    addr=self.addr,
                    engine_version=ENGINE_VERSION,
                    resources=codec.to_proto(self._resources, objects_pb2.Resources()),
                )
            )
            stream = stub.Session(request, wait_for_ready=False)
            first: Any = await asyncio.wait_for(stream.read(), timeout=SESSION_OPEN_TIMEOUT_S)
            if first is EOF:
                raise OSError("session closed by the manager")
            raise_if_not_leader(first)
            session_id = first.session_id
            self._take_session(first)
            self.connected_to = target
            self._opened = True
            self._period_s = first.heartbeat_period_s or self._period_s
            log.info("session %s open with manager %s", session_id, target)
            workers = [
                asyncio.create_task(self._heartbeat(stub, session_id, first.heartbeat_period_s)),
                asyncio.create_task(self._assignments(stub, session_id)),
                asyncio.create_task(self._send_statuses(stub, session_id)),
                asyncio.create_task(self._session_messages(stream)),
            ]
            if self._logs is not None:
                workers.append(asyncio.create_task(self._logs.listen(channel, session_id)))
            try:
                done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)

    def _take_session(self, message: Any) -> None:
        if message.managers:
            self.managers = list(message.managers)
            self._on_managers(self.managers)
        if message.role and message.role != self.creds.identity.role and self._on_role:
            # Promoted or demoted: our certificate still carries the old role.
            self._on_role(message.role)
        if (
            message.root_ca
            and self._on_roots
            and not ca.same_certificates(message.root_ca, self.creds.ca_pem)
        ):
            # A root rotation began or ended: renew under the roots the managers trust now.
            self._on_roots(message.root_ca)

    async def _session_messages(self, stream: Any) -> None:
        while (message := await stream.read()) is not EOF:
            raise_if_not_leader(message)
            self._take_session(message)
        raise OSError("session closed by the manager")

    async def _heartbeat(self, stub: Any, session_id: str, period: float) -> None:
        call = stub.Heartbeat()
        loop = asyncio.get_running_loop()
        answered = loop.time()
        periods = [period]

        async def read_answers() -> None:
            nonlocal answered
            while True:
                response = await call.read()
                if response is EOF:
                    raise OSError("heartbeat stream closed by the manager")
                raise_if_not_leader(response)
                answered = loop.time()
                periods[0] = response.period_s or periods[0]

        reader = asyncio.create_task(read_answers())
        try:
            while True:
                # Once a period, as SwarmKit's agents: the leader allows HEARTBEAT_MISSES
                # periods, and at a thousand nodes every beat counts. The jitter spreads
                # the beats of nodes that connected together. A beat does not wait for the
                # answer to the last one: a leader late in answering would otherwise space
                # the beats it receives by its own lateness and mark the node down for it.
                await asyncio.wait(
                    {reader}, timeout=max(0.1, periods[0] * random.uniform(0.8, 1.0))
                )
                if reader.done():
                    reader.result()  # the stream ended or the manager stopped leading
                # A leader answering late is busy, not gone: ending the session would add a
                # reconnection to its load. Wait as long as it would still count us alive.
                if loop.time() - answered > HEARTBEAT_MISSES * periods[0]:
                    raise OSError("the manager stopped answering heartbeats")
                await call.write(dispatcher_pb2.HeartbeatRequest(session_id=session_id))
        finally:
            reader.cancel()
            call.cancel()

    async def _assignments(self, stub: Any, session_id: str) -> None:
        stream = stub.Assignments(dispatcher_pb2.AssignmentsRequest(session_id=session_id))
        async for message in stream:
            raise_if_not_leader(message)
            tasks = [codec.from_proto(Task, t) for t in message.tasks]
            view = codec.from_proto(NetworkView, message.view)
            # The view first: a new task's sandbox needs its network's VNI and subnet.
            result = self._on_view(view)
            if asyncio.iscoroutine(result):
                await result
            complete = message.type == dispatcher_pb2.AssignmentsMessage.COMPLETE
            if self._on_files is not None:
                # Before the tasks: a new task's container is made with them. A complete set
                # names every task the node still has.
                self._on_files(
                    [codec.from_proto(FileData, f) for f in message.files],
                    {t.id for t in tasks} if complete else None,
                )
            await self.worker.assign(tasks, list(message.removed), complete)
            if complete:
                # After a reconnect the manager may have missed our last reports.
                for task_id, status in self.worker.statuses().items():
                    self._pending.setdefault(task_id, status)
                self._pending_event.set()
        raise OSError("assignment stream closed by the manager")

    async def _send_statuses(self, stub: Any, session_id: str) -> None:
        while True:
            call = stub.UpdateTaskStatus()
            try:
                await self._stream_statuses(call, session_id)
            except (grpc.aio.AioRpcError, TimeoutError) as exc:
                if not _write_failed(exc):
                    raise
                # The leader is alive but could not commit them now (busy, a conflict):
                # the session stays, the reports go again on a new stream shortly.
                log.info("task status reports not stored yet (%s): will retry", _why(exc))
                self._pending_event.set()
                await asyncio.sleep(STATUS_RETRY_S)
            finally:
                call.cancel()

    async def _stream_statuses(self, call: Any, session_id: str) -> None:
        while True:
            await self._pending_event.wait()
            await asyncio.sleep(STATUS_BATCH_S)
            self._pending_event.clear()
            batch, self._pending = self._pending, {}
            if not batch:
                continue
            request = dispatcher_pb2.UpdateTaskStatusRequest(
                session_id=session_id,
                updates=[
                    dispatcher_pb2.TaskStatusUpdate(
                        task_id=tid, status=codec.to_proto(s, objects_pb2.TaskStatus())
                    )
                    for tid, s in batch.items()
                ],
            )
            try:
                await call.write(request)
                response = await asyncio.wait_for(call.read(), timeout=STATUS_TIMEOUT_S)
                if response is EOF:
                    raise OSError("status stream closed by the manager")
                raise_if_not_leader(response)
            except BaseException:
                self._requeue(batch)
                raise

    def _requeue(self, batch: dict[str, TaskStatus]) -> None:
        """Keep unsent reports for the next attempt or session; newer reports win."""
        for tid, status in batch.items():
            self._pending.setdefault(tid, status)


def _why(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.details() or str(exc.code())
    return f"no answer in {STATUS_TIMEOUT_S:.0f} s"


def _write_failed(exc: grpc.aio.AioRpcError | TimeoutError) -> bool:
    """A refused or unanswered status write that does not mean the session is over."""
    if isinstance(exc, TimeoutError):
        return True
    # A manager that stops leading says so in a reply (NotLeader), never with an error.
    return exc.code() in (
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.UNAVAILABLE,
    )
