"""A throwaway OCI registry (Debian's ``docker-registry``) and a minimal push client.

    with start_registry(f"127.0.0.1:{free_port()}") as reg:
        push_image(reg.url, "library/busybox", "latest", busybox_image())

``argv_prefix`` (e.g. ``["ip", "netns", "exec", "lab-reg"]``) or ``preexec_fn`` run the registry
inside a namespace; readiness is read from its log, so it works from any namespace.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from swarmpy.lab.push import push_image as push_image  # re-exported for the tests
from tests.support.poll import wait_for

REGISTRY_BINARY = "docker-registry"

_CONFIG = """\
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: {addr}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Registry:
    addr: str  # "host:port"
    process: subprocess.Popen[bytes]
    workdir: Path  # config and log; removed on stop
    storage: Path
    owns_storage: bool

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    @property
    def log(self) -> str:
        return (self.workdir / "registry.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self.owns_storage:
            shutil.rmtree(self.storage, ignore_errors=True)

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_registry(
    addr: str,
    storage: Path | None = None,
    argv_prefix: Sequence[str] = (),
    preexec_fn: Callable[[], None] | None = None,
    timeout: float = 15.0,
    users: dict[str, str] | None = None,
) -> Registry:
    """Start a registry listening on ``addr`` and wait until it accepts connections.

    ``storage`` (kept on stop) defaults to a temp dir (removed on stop). ``users`` (name:
    password) turns on htpasswd (basic) auth.
    """
    workdir = Path(tempfile.mkdtemp(prefix="swarmpy-registry-"))
    owns_storage = storage is None
    storage = storage or workdir.with_name(workdir.name + "-data")
    storage.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yml"
    text = _CONFIG.format(storage=storage, addr=addr)
    if users:
        htpasswd = workdir / "htpasswd"
        htpasswd.write_text("".join(f"{u}:{_bcrypt(p)}\n" for u, p in users.items()))
        text += f"auth:\n  htpasswd:\n    realm: swarmpy-test\n    path: {htpasswd}\n"
    config.write_text(text)
    log_path = workdir / "registry.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*argv_prefix, REGISTRY_BINARY, "serve", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )
    registry = Registry(addr, process, workdir, storage, owns_storage)

    def settled() -> bool:  # listening, or gone for good
        return process.poll() is not None or "listening on" in registry.log

    with contextlib.suppress(AssertionError):
        wait_for(f"docker-registry on {addr}", settled, timeout, 0.05)
    if "listening on" not in registry.log:
        text = registry.log
        registry.stop()
        raise RuntimeError(f"docker-registry did not start on {addr}:\n{text}")
    return registry


def _bcrypt(password: str) -> str:
    """A bcrypt hash, as docker-registry's htpasswd wants, from the C library's crypt(3)
    (libxcrypt has bcrypt; Python's crypt module is its wrapper)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        # Cost 4, bcrypt's least: the registry checks the hash on every request.
        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    return "$2a$" + hashed[4:]  # Go's bcrypt reads $2a$; the hash is the same
