"""The shape every leader-only control loop shares: watch, reconcile, batch events, sleep.

A loop reconciles over a fresh snapshot rather than folding events into private state: the
store is the only truth, so a loop that is restarted on a new leader needs no warm-up and
two ticks can never disagree about what they saw. Events only say *whether* to tick.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from swarmpy.manager.state.store import TABLES, Event, Store, Table, Watch
from swarmpy.model import now

log = logging.getLogger(__name__)

# Events arriving within this window are handled by one tick: an agent reporting ten task
# states, or a user creating a 100-replica service, costs one reconciliation, not hundreds.
BATCH_WINDOW_S = 0.005
# A tick reads the whole store, so its cost grows with the cluster: after a tick that took
# t, events are gathered for t/2 (up to this) before the next, which bounds the share of
# the leader a loop takes while thousands of tasks change, and costs nothing when ticks
# are quick.
MAX_BATCH_WINDOW_S = 1.0


class ControlLoop(abc.ABC):
    """Subclasses implement ``tick`` and may narrow ``tables`` (whose events can matter) and
    ``wants`` (is this event worth a tick)."""

    name = "loop"
    tables: tuple[Table[Any], ...] = TABLES
    # How long to gather events after the first before ticking.
    batch_window_s = BATCH_WINDOW_S

    def __init__(self, store: Store) -> None:
        self.store = store
        self._stopping = asyncio.Event()
        self._wake_at: float | None = None
        self._window_s = self.batch_window_s

    def wants(self, event: Event) -> bool:
        return True

    @abc.abstractmethod
    async def tick(self, events: Sequence[Event]) -> float | None:
        """Reconcile once; return the wall-clock time to tick again without events, if any."""

    async def run(self) -> None:
        # Each tick takes its own fresh view; the watch only orders events.
        with self.store.watch(*self.tables) as watch:
            self._stopping.clear()
            await self._tick_safely(())
            while not self._stopping.is_set():
                events = await self._next_batch(watch)
                if self._stopping.is_set():
                    break
                wanted = [e for e in events if self.wants(e)]
                due = self._wake_at is not None and now() >= self._wake_at
                if wanted or due:
                    await self._tick_safely(wanted)

    async def stop(self) -> None:
        self._stopping.set()

    async def _tick_safely(self, events: Sequence[Event]) -> None:
        self._wake_at = None
        started = time.monotonic()
        try:
            self._wake_at = await self.tick(events)
        except Exception:
            # A bad object must not kill the leader's loop; the next event retries.
            log.exception("%s: reconciliation failed", self.name)
        took = time.monotonic() - started
        self._window_s = min(MAX_BATCH_WINDOW_S, max(self.batch_window_s, took / 2))

    async def _next_batch(self, watch: Watch) -> list[Event]:
        timeout = None if self._wake_at is None else max(0.0, self._wake_at - now())
        get = asyncio.ensure_future(watch.get())
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({get, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not get.done():
                get.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await get
        # ``get`` may have taken an item even while being cancelled: never drop it.
        if not get.done() or get.cancelled():
            return []
        events = [get.result()]
        await asyncio.sleep(self._window_s)
        return events + watch.pending()
