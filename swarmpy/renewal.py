"""When this node renews its certificate: on its own before it expires, and at once when the
managers say the roots to trust changed (a root rotation). SwarmKit's TLSRenewer.

The renewal point is random between 50 % and 80 % of the certificate's life, so the nodes
of a cluster that joined together do not all come back at once (SwarmKit's
``calculateRandomExpiry``). A renewal that fails (no manager answers) is retried with an
exponential backoff, also after the certificate expired: a manager that comes back may
still accept it, and nothing else could bring the node back.

The decisions (``renewal_delay``, ``retry_delay``) are plain functions; ``CertRenewer`` is
the loop around them, and the renewal itself (which manager, what to do with the new
credentials) is the caller's, swarmpy.membership's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import random
from collections.abc import Awaitable, Callable

import grpc

from swarmpy import tls
from swarmpy.ca import certificates as ca
from swarmpy.errors import SwarmpyError

log = logging.getLogger(__name__)

# SwarmKit's bounds (CertLowerRotationRange, CertUpperRotationRange).
LOWER_SHARE = 0.5
UPPER_SHARE = 0.8
# First retry after a failed renewal, doubling up to the most.
RETRY_BASE_S = 1.0
RETRY_MAX_S = 300.0
# A forced renewal (new roots) waits up to this, so a whole cluster told at once spreads
# its renewals rather than hitting the managers together.
FORCED_SPREAD_S = 2.0
# The least time between two scheduled renewals: a certificate already past its renewal
# point (its root expires first, or a clock jumped) must not have the node ask in a loop.
MIN_GAP_S = 1.0


def renewal_delay(
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    now: datetime.datetime,
    rng: random.Random,
) -> float:
    """Seconds from ``now`` to a random point between 50 % and 80 % of the certificate's
    life; 0 when that point has passed."""
    life = (not_after - not_before).total_seconds()
    point = not_before + datetime.timedelta(seconds=life * rng.uniform(LOWER_SHARE, UPPER_SHARE))
    return max(0.0, (point - now).total_seconds())


def retry_delay(failures: int, rng: random.Random) -> float:
    """After ``failures`` failed renewals in a row: exponential, with jitter."""
    ceiling = min(RETRY_MAX_S, RETRY_BASE_S * 2.0 ** min(max(failures - 1, 0), 30))
    return ceiling * rng.uniform(0.5, 1.0)


class CertRenewer:
    """Runs ``renew`` when the certificate ``current()`` returns is due, or when asked.

    ``renew`` gets the certificate from a manager and puts it in use (the node's files, its
    agent, its manager's port); it raises SwarmpyError (or a gRPC or socket error) when no
    manager could sign.
    """

    def __init__(
        self,
        renew: Callable[[], Awaitable[None]],
        current: Callable[[], tls.NodeCredentials | None],
        rng: random.Random | None = None,
    ) -> None:
        self._renew = renew
        self._current = current
        self._rng = rng or random.Random()
        self._forced = asyncio.Event()
        self._wanted_roots: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.renewals = 0

    def start(self) -> None:
        if self._task is None or self._task.done():
            # A new start may be a new swarm: what the last one asked for is moot.
            self._wanted_roots = None
            self._forced.clear()
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def renew_soon(self, roots: str) -> None:
        """The managers trust ``roots`` now: renew (soon, with a little jitter) until this
        node holds a certificate issued under them and trusts them too."""
        self._wanted_roots = roots
        self._forced.set()

    def _satisfied(self, creds: tls.NodeCredentials) -> bool:
        wanted = self._wanted_roots
        return wanted is None or ca.same_certificates(creds.ca_pem, wanted)

    def _next_delay(self, creds: tls.NodeCredentials, failures: int) -> float:
        if failures:
            return retry_delay(failures, self._rng)
        if self._forced.is_set():
            return self._rng.uniform(0, FORCED_SPREAD_S)
        not_before, not_after = ca.cert_validity(creds.cert_pem)
        now = datetime.datetime.now(datetime.UTC)
        return max(MIN_GAP_S, renewal_delay(not_before, not_after, now, self._rng))

    async def _run(self) -> None:
        failures = 0
        while (creds := self._current()) is not None:
            if self._forced.is_set() and self._satisfied(creds) and not failures:
                self._forced.clear()
            delay = self._next_delay(creds, failures)
            log.debug("next certificate renewal in %.1fs", delay)
            if not self._forced.is_set() and not failures:
                # Asked to renew while waiting: go (after the spread) rather than sleep on.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._forced.wait(), timeout=delay)
                if self._forced.is_set():
                    await asyncio.sleep(self._rng.uniform(0, FORCED_SPREAD_S))
            else:
                await asyncio.sleep(delay)
            try:
                await self._renew()
            except (SwarmpyError, grpc.aio.AioRpcError, OSError) as exc:
                failures += 1
                log.warning("renewing this node's certificate failed (try %d): %s", failures, exc)
                continue
            self.renewals += 1
            creds = self._current()
            if creds is not None and not self._satisfied(creds):
                # The manager that answered did not know the new roots yet: try again.
                failures += 1
                continue
            failures = 0
            self._forced.clear()
