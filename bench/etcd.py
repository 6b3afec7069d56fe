"""An optional reference point: 3 etcd members on loopback (Debian's etcd-server, if installed).

Writes go through etcd's HTTP/JSON gateway (``/v3/kv/put``) over one keep-alive connection
per writer, one after another on each, so a single writer's loop is as sequential as ours.
Nothing here is required: callers check ``etcd_available()`` and skip otherwise.
"""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from bench.common import free_port, wait_until


def etcd_available() -> bool:
    return shutil.which("etcd") is not None


@contextmanager
def etcd_cluster(root: Path, size: int = 3) -> Iterator[str]:
    """Start ``size`` members on 127.0.0.1; yields one client endpoint ("127.0.0.1:port")."""
    peers = [free_port() for _ in range(size)]
    clients = [free_port() for _ in range(size)]
    initial = ",".join(f"e{i}=http://127.0.0.1:{p}" for i, p in enumerate(peers))
    procs: list[subprocess.Popen[bytes]] = []
    root.mkdir(parents=True, exist_ok=True)
    try:
        for i in range(size):
            log = (root / f"e{i}.log").open("wb")
            argv = [
                "etcd",
                f"--name=e{i}",
                f"--data-dir={root / f'e{i}'}",
                f"--listen-peer-urls=http://127.0.0.1:{peers[i]}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peers[i]}",
                f"--listen-client-urls=http://127.0.0.1:{clients[i]}",
                f"--advertise-client-urls=http://127.0.0.1:{clients[i]}",
                f"--initial-cluster={initial}",
                "--initial-cluster-state=new",
                "--initial-cluster-token=bench",
            ]
            procs.append(subprocess.Popen(argv, stdout=log, stderr=log))
            log.close()
        endpoint = f"127.0.0.1:{clients[0]}"
        wait_until("etcd to accept writes", lambda: _try_put(endpoint), 20.0, step=0.1)
        yield endpoint
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _try_put(endpoint: str) -> bool:
    try:
        etcd_writes(endpoint, 1)
    except (OSError, RuntimeError, http.client.HTTPException):
        return False
    return True


def etcd_writes(endpoint: str, n: int, writers: int = 1) -> tuple[float, list[float]]:
    """``n`` puts by ``writers`` clients, each sequential on its own keep-alive connection;
    (writes/s, latencies in s)."""
    latencies: list[float] = []
    shares = [range(i, n, writers) for i in range(writers)]
    with ThreadPoolExecutor(writers) as pool:
        started = time.perf_counter()
        for part in pool.map(partial(_puts, endpoint), shares):
            latencies.extend(part)
        return n / (time.perf_counter() - started), latencies


def _puts(endpoint: str, keys: range) -> list[float]:
    host, port = endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    value = base64.b64encode(b"x" * 200).decode()
    latencies = []
    try:
        for i in keys:
            body = json.dumps({"key": base64.b64encode(f"k{i}".encode()).decode(), "value": value})
            t0 = time.perf_counter()
            conn.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError(f"etcd put: HTTP {resp.status}")
            latencies.append(time.perf_counter() - t0)
        return latencies
    finally:
        conn.close()
