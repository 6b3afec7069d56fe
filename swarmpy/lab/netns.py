"""Named network namespaces (/run/netns/NAME), seen from Python.

setns moves only the calling thread, so work that must open sockets inside a namespace runs
in a short-lived thread that entered it; the caller's thread never leaves its namespace.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from swarmpy.errors import RuntimeFailure

NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000

T = TypeVar("T")


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


def netns_inode(name: str) -> int | None:
    """The namespace's inode, which /proc/<pid>/ns/net links name; None if it is gone."""
    try:
        return os.stat(netns_path(name)).st_ino
    except FileNotFoundError:
        return None


def list_netns(prefix: str) -> list[str]:
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))
    except FileNotFoundError:
        return []


def _enter(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(netns_path(name), os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise RuntimeFailure(f"cannot enter network namespace {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def call_in_netns(name: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a fresh thread inside namespace ``name`` and return its result.

    Every socket ``fn`` opens lives in that namespace; exceptions propagate to the caller.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            _enter(name)
            outcome.append(fn())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=body, name=f"netns-{name}", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
