"""Waiting for a condition in tests: poll it until it holds, fail with what was awaited.

    row = wait_for("the task's container", lambda: running_task(d), timeout=60)
    await wait_for_async("three running", lambda: len(running(store)) == 3)

The one way tests wait: never a fixed sleep (slow when the condition holds early, flaky when it
holds late). ``wait_for_async`` is the same loop for code inside an event loop, where a blocking
sleep would stall what the test waits for; its probe may be a coroutine function.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

# What a probe may raise to say "not yet": plain asserts read best inside a probe.
NOT_YET: tuple[type[Exception], ...] = (AssertionError,)


class _Attempts:
    """The deadline and the last "not yet" of one wait, shared by both loops."""

    def __init__(self, what: str, timeout: float) -> None:
        self.what = what
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.last = ""

    def saw(self, result: object) -> None:
        # An empty list or dict says what was there; False and None say nothing.
        if result is not None and not isinstance(result, bool):
            self.last = repr(result)

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            last = f": {self.last}" if self.last else ""
            raise AssertionError(f"timed out after {self.timeout:g}s waiting for {self.what}{last}")


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float = 15.0,
    interval: float = 0.1,
    not_yet: tuple[type[Exception], ...] = NOT_YET,
) -> T:
    """Call ``probe`` until it returns something truthy, and return that.

    A probe raising one of ``not_yet`` counts as "not yet"; the last such error is shown if
    the deadline passes (an AssertionError naming ``what``).
    """
    attempts = _Attempts(what, timeout)
    while True:
        try:
            result = probe()
            if result:
                return result
            attempts.saw(result)
        except not_yet as exc:
            attempts.last = f"{type(exc).__name__}: {exc}"
        attempts.check_deadline()
        time.sleep(interval)


# The timeout is the wait's own (not asyncio.timeout around it) so that running out names
# what was awaited and the last "not yet", as wait_for does.
@overload
async def wait_for_async(
    what: str,
    probe: Callable[[], Awaitable[T | None]],
    timeout: float = ...,  # noqa: ASYNC109
    interval: float = ...,
    not_yet: tuple[type[Exception], ...] = ...,
) -> T: ...
@overload
async def wait_for_async(
    what: str,
    probe: Callable[[], T | None],
    timeout: float = ...,  # noqa: ASYNC109
    interval: float = ...,
    not_yet: tuple[type[Exception], ...] = ...,
) -> T: ...
async def wait_for_async(
    what: str,
    probe: Callable[[], Any],
    timeout: float = 15.0,  # noqa: ASYNC109
    interval: float = 0.02,
    not_yet: tuple[type[Exception], ...] = NOT_YET,
) -> Any:
    """``wait_for`` inside an event loop: the loop runs on between attempts."""
    attempts = _Attempts(what, timeout)
    while True:
        try:
            result = probe()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            attempts.saw(result)
        except not_yet as exc:
            attempts.last = f"{type(exc).__name__}: {exc}"
        attempts.check_deadline()
        await asyncio.sleep(interval)
