"""Named network namespaces (/run/netns/NAME) and running code inside one.

setns(2) moves only the calling thread, and a socket stays in the namespace it was created
in for its whole life. So code that must open sockets in another namespace either steps the
current thread in and back out (``entered``), or runs on a short-lived thread that entered
it (``call_in_thread``), so the caller's thread never leaves its own namespace.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from swarmpy.errors import RuntimeFailure

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000

T = TypeVar("T")

libc = ctypes.CDLL(None, use_errno=True)


def netns_path(name: str) -> str:
    return f"{NETNS_DIR}/{name}"


def _enter(path: str) -> None:
    """Move the calling thread into the namespace at ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise RuntimeFailure(f"cannot enter network namespace {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


@contextmanager
def entered(path: str) -> Iterator[None]:
    """The calling thread inside the namespace at ``path`` for the block, then back home."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _enter(path)
        try:
            yield
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                # Everything this thread did next would act on the wrong namespace.
                err = ctypes.get_errno()
                raise SystemExit(f"cannot return to our own netns: {os.strerror(err)}")
    finally:
        os.close(home)


def call_in_netns(path: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` with the calling thread inside the namespace at ``path``."""
    with entered(path):
        return fn()


def call_in_thread(path: str | None, fn: Callable[[], T]) -> T:
    """Run ``fn`` on a fresh thread inside the namespace at ``path`` (None: ours) and
    return its result; exceptions propagate to the caller."""
    if path is None:
        return fn()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            _enter(path)
            outcome.append(fn())
        except BaseException as exc:  # handed to the caller's thread  # noqa: BLE001
            failure.append(exc)

    thread = threading.Thread(target=body, name="netns-call", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
