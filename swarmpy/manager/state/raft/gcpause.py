"""Garbage collection pauses kept short, and logged when they are not.

A full collection holds the GIL throughout, so the Raft tick thread (heartbeats, votes)
waits for it like every other thread; it walks every tracked object, and a manager's heap
is millions of them at scale (the store's objects, the agents' sessions). Measured in the
scale bench at 1,000 nodes / 10,000 tasks: generation-2 collections of 270-740 ms on every
manager, each one the cause of a late Raft tick (bench/README.md); at ten times the tasks
they would outlast the election timeout.

So every ``FREEZE_EVERY_S`` (1 s) the objects alive then are frozen (``gc.freeze``): collections
walk only what was allocated since, and a full one costs in proportion to the recent
allocations, not the heap. The price: a reference cycle among objects alive at a freeze is
not reclaimed once it becomes garbage. The managers' long-lived objects are the store's
(frozen dataclasses, freed by reference counting when replaced) and the sessions'; cycles
come from short-lived work (exceptions, coroutines), nearly all collected young. Every
``THAW_EVERY_S`` everything is unfrozen again, so such a cycle is reclaimed eventually, at the
cost of one full collection then; only while fewer than ``THAW_LIMIT`` objects are frozen,
since past that the one full collection would itself outlast an election timeout.

The same goes for the GIL between collections: a thread that wants it back (the tick thread
after each send, receive, poll or fsync) waits until the holder is asked to drop it, after
``sys.getswitchinterval()``: 5 ms by default. The event loop thread is the holder whenever
the manager is busy, and a tick makes a dozen such calls, so each tick took tens of ms and,
on a loaded machine, several hundred (bench/README.md, 2,500 nodes: "tick thread late: 777
ms between ticks, 777 ms of it working", then an election). ``install`` shortens it to
``SWITCH_INTERVAL_S``; the loop pays a thread switch only when another thread is waiting.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

# A collection this long is logged (rate-limited): a fifth of the shortest election timeout.
REPORT_OVER_S = 0.2
FREEZE_EVERY_S = 1.0
THAW_EVERY_S = 3600.0
THAW_LIMIT = 2_000_000
# How long a thread waiting for the GIL waits before its holder is asked to drop it. In a
# two-thread micro-benchmark (one spinning, one making 20 pipe calls), 5 ms gave 20-25 ms
# per 20 calls at the median and 70-120 ms at p99; 1 ms gave under 0.1 ms at the median.
SWITCH_INTERVAL_S = 0.001

_lock = threading.Lock()
_installed = False
_started: float | None = None
_last_report = 0.0
longest_s = 0.0


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    global _started, _last_report, longest_s
    if phase == "start":
        _started = time.monotonic()
        return
    if _started is None:
        return
    took = time.monotonic() - _started
    _started = None
    longest_s = max(longest_s, took)
    if took > REPORT_OVER_S and time.monotonic() - _last_report > 5.0:
        _last_report = time.monotonic()
        log.warning(
            "gc: a generation %d collection stopped every thread for %.0f ms",
            info.get("generation", -1),
            took * 1000,
        )


def _freeze_forever() -> None:
    thawed_at = time.monotonic()
    warned = False
    while True:
        time.sleep(FREEZE_EVERY_S)
        if time.monotonic() - thawed_at <= THAW_EVERY_S:
            gc.freeze()
            continue
        thawed_at = time.monotonic()
        frozen = gc.get_freeze_count()
        if frozen < THAW_LIMIT:
            gc.unfreeze()
        elif not warned:
            warned = True
            log.warning(
                "gc: %d objects frozen, too many to collect in one pause: kept frozen", frozen
            )


def install() -> None:
    """Time every collection of this process, freeze survivors periodically and shorten the
    GIL's switch interval (once, however many Raft logs start)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        gc.callbacks.append(_on_gc)
        threading.Thread(target=_freeze_forever, name="gc-freeze", daemon=True).start()
