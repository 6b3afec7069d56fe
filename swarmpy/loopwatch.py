"""A watchdog that logs when this process's event loop answers late.

Every RPC, heartbeat and control loop of a daemon shares one asyncio loop: a callback that
runs for seconds makes agents' heartbeats time out and nodes look dead. The log line says
when it happened, which is where to look (py-spy) when a cluster flaps.
"""

from __future__ import annotations

import asyncio
import logging
import time

log = logging.getLogger(__name__)

CHECK_EVERY_S = 0.25
REPORT_OVER_S = 1.0


async def watch_loop_lag(check_every_s: float = CHECK_EVERY_S) -> None:
    """Run forever; warn whenever a wake-up comes more than REPORT_OVER_S late."""
    while True:
        asked = time.monotonic()
        await asyncio.sleep(check_every_s)
        late = time.monotonic() - asked - check_every_s
        if late > REPORT_OVER_S:
            log.warning("event loop blocked or starved for %.1f s", late)
