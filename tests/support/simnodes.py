"""Simulated nodes: many real agents in one process, for the scale bench and the reconnect
test. Run as ``python -m tests.support.simnodes --manager HOST:PORT --token TOKEN --stats
FILE --first N --count M``.

Every node is a real ``swarmpy.agent.agent.Agent`` in one asyncio loop, joined through the
real NodeCA (root CA fetched once per process, then per node a key, a CSR and
``IssueNodeCertificate`` with the worker token), one gRPC channel per agent, heartbeating at
the real period. Only the executor is fake: a Controller whose prepare/start return at once
and whose wait() never returns, so the real Worker/TaskRunner report ACCEPTED ... RUNNING
through the real dispatcher. Heartbeats are counted on the agent side (answers read on the
``Heartbeat`` stream).

``--stats FILE`` is rewritten every 0.5 s with counters (joined, connected, heartbeats,
running reports, restarts, the loop's worst lateness). SIGUSR1 restarts every agent at once
with the identity it has (a new session for the same node, as after a network blip or a
leader change); SIGTERM ends the process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import time
from pathlib import Path
from typing import Any

RUNNING = 512  # swarmpy.model.TaskState.RUNNING


class IdleController:
    """A Controller that runs nothing: the task is RUNNING until it is shut down."""

    def __init__(self) -> None:
        self._exited = asyncio.Event()

    async def prepare(self) -> None:
        return None

    async def start(self) -> None:
        return None

    async def wait(self) -> int:
        await self._exited.wait()
        return 0

    async def health_change(self, current: Any) -> Any:
        from swarmpy.model import HealthState

        return HealthState.NONE  # no healthcheck

    async def shutdown(self, grace_s: float) -> None:
        self._exited.set()

    async def terminate(self) -> None:
        self._exited.set()

    async def release(self) -> None:
        return None

    def port_status(self) -> tuple[Any, ...]:
        return ()  # no published ports

    async def remove(self) -> None:
        return None


async def simulate(args: argparse.Namespace) -> None:
    import grpc

    from swarmpy import tls
    from swarmpy.agent.agent import Agent
    from swarmpy.agent.worker import Worker
    from swarmpy.api import dispatcher_pb2, dispatcher_pb2_grpc
    from swarmpy.ca import certificates as ca
    from swarmpy.model import Resources, Task, TaskStatus

    # The agents' session changes (ends, reconnects) go to this process's log.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    counts: dict[str, int] = {
        "joined": 0,
        "connected": 0,
        "heartbeats": 0,
        "running_reports": 0,
        "restarts": 0,
    }
    plain_stub = dispatcher_pb2_grpc.DispatcherStub

    class CountingStub(plain_stub):  # type: ignore[misc, valid-type]
        """The agent's stub, counting the heartbeats the managers answered."""

        def __init__(self, channel: Any) -> None:
            super().__init__(channel)
            open_stream = vars(self)["Heartbeat"]

            def heartbeat(*a: Any, **kw: Any) -> Any:
                call = open_stream(*a, **kw)
                read = call.read

                async def counted_read() -> Any:
                    reply = await read()
                    if reply is not grpc.aio.EOF:  # type: ignore[attr-defined]
                        counts["heartbeats"] += 1
                    return reply

                call.read = counted_read
                return call

            self.Heartbeat = heartbeat

    # The agent builds its stub from the module attribute: count without touching swarmpy/.
    vars(dispatcher_pb2_grpc)["DispatcherStub"] = CountingStub

    host, port = args.manager.rsplit(":", 1)
    parsed = ca.parse_join_token(args.token)
    ca_pem = await asyncio.to_thread(tls.fetch_root_ca, host, int(port), parsed.digest)
    agents: dict[int, Agent] = {}
    made: dict[int, tuple[Any, list[str], str, str]] = {}
    limit = asyncio.Semaphore(16)
    ca_channel = tls.secure_channel(args.manager, ca_pem)

    def controller_for(task: Task) -> IdleController:
        return IdleController()

    def worker_factory(report: Any) -> Worker:
        def counted(task_id: str, status: TaskStatus) -> None:
            if status.state.value == RUNNING:
                counts["running_reports"] += 1
            report(task_id, status)

        return Worker(controller_for, counted)

    def start_agent(i: int) -> None:
        creds, managers, hostname, addr = made[i]
        agent = Agent(
            creds,
            managers=managers,
            hostname=hostname,
            addr=addr,
            worker_factory=worker_factory,
            on_view=lambda view: None,
            on_managers=lambda managers: None,
            resources=Resources(nano_cpus=4 * 10**9, memory_bytes=8 << 30),
        )
        agent.start()
        agents[i] = agent

    async def join(i: int) -> None:
        n = args.first + i
        addr = f"127.1.{n // 250}.{n % 250 + 1}"
        async with limit:
            key = await asyncio.to_thread(ca.generate_key)
            reply = await dispatcher_pb2_grpc.NodeCAStub(ca_channel).IssueNodeCertificate(
                dispatcher_pb2.IssueNodeCertificateRequest(
                    token=args.token,
                    csr_pem=ca.create_csr(key),
                    hostname=f"sim{n:05d}",
                    addr=addr,
                ),
                timeout=60,
            )
        creds = tls.NodeCredentials(key_pem=key, cert_pem=reply.cert_pem, ca_pem=ca_pem)
        made[i] = (creds, list(reply.managers) or [args.manager], f"sim{n:05d}", addr)
        start_agent(i)
        counts["joined"] += 1

    async def restart_all() -> None:
        """Every agent at once: a new session for the same node, each as soon as its own
        agent has stopped (a node is silent only while it restarts, not while 1,000 do)."""

        async def restart(i: int, agent: Agent) -> None:
            with contextlib.suppress(Exception):
                await agent.stop()
            start_agent(i)

        old = list(agents.items())
        await asyncio.gather(*(restart(i, agent) for i, agent in old))
        counts["restarts"] += 1
        logging.info("restarted %d agents at once", len(old))

    restarts: set[asyncio.Task[None]] = set()

    def on_restart() -> None:
        task = asyncio.create_task(restart_all())
        restarts.add(task)
        task.add_done_callback(restarts.discard)

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, on_restart)
    stats = Path(args.stats)

    async def report_forever() -> None:
        while True:
            counts["connected"] = sum(a.connected_to is not None for a in agents.values())
            tmp = stats.with_suffix(".tmp")
            tmp.write_text(json.dumps({**counts, "t": time.monotonic()}))
            tmp.replace(stats)
            asked = time.monotonic()
            await asyncio.sleep(0.5)
            # A late wake-up means this load generator, not the managers, is the bottleneck.
            lag = time.monotonic() - asked - 0.5
            counts["max_loop_lag_ms"] = max(counts.get("max_loop_lag_ms", 0), int(lag * 1000))
            if lag > 0.5:
                logging.warning("simulator event loop %.1f s late", lag)

    reporter = asyncio.create_task(report_forever())
    try:
        await asyncio.gather(*(join(i) for i in range(args.count)))
        await asyncio.Event().wait()  # until killed
    finally:
        reporter.cancel()
        await asyncio.gather(*(a.stop() for a in agents.values()), return_exceptions=True)
        await ca_channel.close(None)


def read_stats(paths: list[Path]) -> dict[str, int]:
    """The counters of several simulator processes, summed (``max_*`` ones: the worst)."""
    total: dict[str, int] = {}
    for path in paths:
        try:
            doc = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            continue
        for key, value in doc.items():
            if key.startswith("max_"):
                total[key] = max(total.get(key, 0), int(value))
            elif key != "t":
                total[key] = total.get(key, 0) + int(value)
    return total


def argv(manager: str, token: str, stats: Path, first: int, count: int) -> list[str]:
    """The arguments after the interpreter for one simulator process."""
    return [
        "-m",
        "tests.support.simnodes",
        "--manager",
        manager,
        "--token",
        token,
        "--stats",
        str(stats),
        "--first",
        str(first),
        "--count",
        str(count),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manager", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(simulate(args))


if __name__ == "__main__":
    main()
