"""Named network namespaces (/run/netns/NAME), seen from Python.

setns moves only the calling thread, so work that must open sockets inside a namespace runs
in a short-lived thread that entered it; the caller's thread never leaves its namespace.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from swarmpy.netns import NETNS_DIR as _NETNS_DIR
from swarmpy.netns import call_in_thread

NETNS_DIR = Path(_NETNS_DIR)

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


def call_in_netns(name: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a fresh thread inside namespace ``name`` and return its result.

    Every socket ``fn`` opens lives in that namespace; exceptions propagate to the caller.
    """
    return call_in_thread(str(netns_path(name)), fn)
