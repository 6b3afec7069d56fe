"""Shared immutable objects made from bytes: one object per distinct key among the most
recently used, so that what many records carry (a service's spec, in every task made from
it) is one object in memory wherever it is loaded from (a Raft entry, a protobuf message).

Pure bookkeeping, thread-safe: Raft's tick thread and the event loop both load.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Interned(Generic[K, V]):
    """At most ``size`` objects by key, the least recently used evicted first. An object not
    among them is made again (equal, but a new object): sharing is an optimisation only."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._objects: dict[K, V] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, key: K, make: Callable[[], V]) -> V:
        """The object kept for ``key``, or ``make()`` (called outside the lock), kept."""
        with self._lock:
            found = self._objects.pop(key, None)
            if found is not None:
                self._objects[key] = found  # the most recently used is evicted last
                return found
        made = make()
        with self._lock:
            made = self._objects.setdefault(key, made)
            while len(self._objects) > self.size:
                del self._objects[next(iter(self._objects))]
        return made
