"""Managers in their own processes, for the raft and failover benchmarks.

The child side (``python bench/raft_node.py MODE ADDR DATA_DIR PARTNERS``) answers JSON lines
on stdin/stdout, like tests/integration/test_raft.py's driver, so a leader can be killed
with SIGKILL like a crashed manager. MODE is ``store`` (a ``Store`` over a ``RaftLog``, each
write one transaction creating a Task built like the orchestrator builds it) or ``syncobj``
(swarmpy's patched pysyncobj ``SyncObj``, durable journal included, whose only replicated
state is a counter, with the same settings as RaftLog). The parent side is ``Cluster``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, free_port, wait_until
from tests.support.jsonlines import JsonLinesProcess, serve

PASSWORD = "bench-cluster-secret"


# ---------------------------------------------------------------- child side


def _store_writer(addr: str, data_dir: Path, partners: list[str]) -> tuple[Any, Any, Any]:
    """(start, write coroutine factory, status) for a Store over a RaftLog."""
    from swarmpy.manager import sealing
    from swarmpy.manager.orchestrator.restart import new_task
    from swarmpy.manager.state.raft import atrest
    from swarmpy.manager.state.raft.log import RaftLog
    from swarmpy.manager.state.store import TASKS, Store, Tx
    from swarmpy.model import ContainerSpec, Service, ServiceSpec

    if not os.environ.get("SWARMPY_BENCH_RAFT_IN_CLEAR"):
        # As a manager's: its journal and dumps sealed under a data key.
        atrest.register(data_dir, sealing.new_data_key())
    raft = RaftLog(addr, partners, data_dir, PASSWORD)
    store = Store(raft)
    svc = Service(id="bench-svc", spec=ServiceSpec("bench", ContainerSpec("busybox")))
    slots = iter(range(1, 1 << 30))

    async def write() -> None:
        task = new_task(svc, next(slots), "", time.time())

        def create(tx: Tx) -> None:
            tx.create(TASKS, task)

        await store.update(create)

    def status() -> dict[str, Any]:
        return {"is_leader": raft.is_leader(), "leader": raft.leader()}

    return raft, write, status


def _syncobj_writer(addr: str, data_dir: Path, partners: list[str]) -> tuple[Any, Any, Any]:
    from pysyncobj import FAIL_REASON, SyncObjConf, replicated

    from swarmpy.manager.state.raft.log import settings
    from swarmpy.manager.state.raft.patches import PatchedSyncObj

    # The same durable journal and syncing as RaftLog: the difference is our store alone.
    class Counter(PatchedSyncObj):
        def __init__(self) -> None:
            conf = SyncObjConf(**settings(data_dir, PASSWORD), bindAddress=addr)
            super().__init__(addr, partners, conf)
            self.count = 0

        @replicated  # type: ignore[misc,untyped-decorator,unused-ignore]
        def incr(self) -> int:
            self.count += 1
            return self.count

    data_dir.mkdir(parents=True, exist_ok=True)
    holder: dict[str, Counter] = {}

    class Runner:
        def start(self) -> None:
            holder["obj"] = Counter()
            holder["obj"].waitBinded()

        async def stop(self) -> None:
            await asyncio.to_thread(holder["obj"].destroy_synchronous)

    async def write() -> None:
        # Same hand-off as RaftLog: pysyncobj's callback resolves a future on our loop.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while True:
            future: asyncio.Future[int] = loop.create_future()

            def done(_: Any, err: int, future: asyncio.Future[int] = future) -> None:
                loop.call_soon_threadsafe(future.set_result, err)

            holder["obj"].incr(callback=done)
            if await future == FAIL_REASON.SUCCESS:
                return
            if loop.time() > deadline:
                raise RuntimeError(f"write failed ({await future})")
            await asyncio.sleep(0.05)

    def status() -> dict[str, Any]:
        obj = holder["obj"]
        leader = obj._getLeader()
        return {"is_leader": bool(obj._isLeader()), "leader": leader and str(leader.address)}

    return Runner(), write, status


def _serve(argv: list[str]) -> None:
    mode, addr, data_dir = argv[0], argv[1], Path(argv[2])
    partners = [p for p in argv[3].split(",") if p and p != addr]
    make = _store_writer if mode == "store" else _syncobj_writer
    log, write, status = make(addr, data_dir, partners)

    async def main() -> None:
        log.start()

        async def handle(cmd: dict[str, Any]) -> dict[str, Any]:
            op = cmd["op"]
            if op == "status":
                return dict(status())
            if op == "write":
                latencies: list[float] = []

                async def writer(count: int) -> None:
                    for _ in range(count):
                        t0 = time.perf_counter()
                        await write()
                        latencies.append(time.perf_counter() - t0)

                # ``writers`` coroutines share the ``n`` writes, each waiting for its last.
                writers = cmd.get("writers", 1)
                shares = [cmd["n"] // writers + (i < cmd["n"] % writers) for i in range(writers)]
                started = time.perf_counter()
                await asyncio.gather(*(writer(k) for k in shares))
                return {"elapsed": time.perf_counter() - started, "latencies": latencies}
            raise ValueError(op)

        await serve(handle)  # any failure is answered: the parent decides whether to retry
        await log.stop()

    asyncio.run(main())


# ---------------------------------------------------------------- parent side


class Member(JsonLinesProcess):
    """One manager process; ``call`` sends a command and waits for its answer."""

    def __init__(self, mode: str, addr: str, data_dir: Path, partners: list[str]) -> None:
        self.addr = addr
        argv = [sys.executable, __file__, mode, addr, str(data_dir), ",".join(partners)]
        # pysyncobj prints its warnings on stderr: keep them, for the report.
        data_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = data_dir.with_suffix(".stderr")
        with self.stderr_path.open("w") as err:
            super().__init__(
                f"manager {addr}", argv, {**os.environ, "PYTHONPATH": str(REPO)}, stderr=err
            )
        self.read()


class Cluster:
    """``size`` managers of one mode on 127.0.0.1, each in its own process; a context manager
    that stops (or kills) every one of them on the way out."""

    def __init__(self, mode: str, root: Path, size: int = 3) -> None:
        self.mode, self.root, self.size = mode, root, size
        self.members: list[Member] = []

    def __enter__(self) -> Cluster:
        addrs = [f"127.0.0.1:{free_port()}" for _ in range(self.size)]
        try:
            for i, addr in enumerate(addrs):
                self.members.append(Member(self.mode, addr, self.root / f"m{i}", addrs))
            self.wait_leader(15.0)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        for m in self.members:
            m.stop()

    def warnings(self, pattern: str) -> int:
        """How many stderr lines of all members contain ``pattern``."""
        return sum(m.stderr_path.read_text(errors="replace").count(pattern) for m in self.members)

    def leader(self) -> Member | None:
        for m in self.members:
            if m.alive:
                try:
                    if m.call("status")["is_leader"]:
                        return m
                except RuntimeError:
                    continue
        return None

    def wait_leader(self, timeout: float) -> Member:
        found: list[Member] = []

        def check() -> bool:
            leader = self.leader()
            if leader is not None:
                found.append(leader)
            return leader is not None

        wait_until("a raft leader", check, timeout, step=0.05)
        return found[-1]


def retry_until(fn: Callable[[], Any], timeout: float) -> Any:
    """Call ``fn`` until it stops raising RuntimeError (a failed write), up to ``timeout``."""
    deadline = time.perf_counter() + timeout
    while True:
        try:
            return fn()
        except RuntimeError:
            if time.perf_counter() > deadline:
                raise
            time.sleep(0.01)


if __name__ == "__main__":
    _serve(sys.argv[1:])
