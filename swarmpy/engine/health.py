"""Container healthchecks, as dockerd's (daemon/health.go of Docker 20.10).

A container with a healthcheck starts ``starting``; every ``interval`` the check runs in the
container (an exec) with ``timeout``; the last five results are kept (inspect's
``State.Health.Log``). A pass makes it ``healthy`` and resets the failing streak; ``retries``
failures in a row make it ``unhealthy``, except that failures before the first pass that
started within ``start_period`` of the container's start do not count. The decisions are
the pure functions here; ``HealthMonitor`` runs the loop for one container.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from swarmpy.dockerjson.common import timestamp
from swarmpy.humanize import go_duration
from swarmpy.model import HealthConfig, HealthState, now

log = logging.getLogger(__name__)

# Docker's defaults for a zero value, and its limits.
DEFAULT_INTERVAL_S = 30.0
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_START_PERIOD_S = 0.0
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT_LEN = 4096
SHELL = ("/bin/sh", "-c")


@dataclass(frozen=True)
class Probe:
    """A healthcheck ready to run: the command and Docker's defaults filled in."""

    cmd: tuple[str, ...]
    interval_s: float
    timeout_s: float
    retries: int
    start_period_s: float


@dataclass(frozen=True)
class ProbeResult:
    """One run of the check (Docker's HealthcheckResult)."""

    start: float
    end: float
    exit_code: int
    output: str


@dataclass(frozen=True)
class Health:
    """Docker's State.Health."""

    status: HealthState = HealthState.STARTING
    failing_streak: int = 0
    log: tuple[ProbeResult, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "Status": self.status.value,
            "FailingStreak": self.failing_streak,
            "Log": [
                {
                    "Start": timestamp(r.start),
                    "End": timestamp(r.end),
                    "ExitCode": r.exit_code,
                    "Output": r.output,
                }
                for r in self.log
            ],
        }


def merge(spec: HealthConfig | None, image: HealthConfig | None) -> HealthConfig | None:
    """The container's healthcheck: the spec's, its empty test and zero values taken from
    the image's (Docker's merge of a container config with its image's)."""
    if spec is None:
        return image
    if image is None:
        return spec
    return HealthConfig(
        test=spec.test or image.test,
        interval_s=spec.interval_s or image.interval_s,
        timeout_s=spec.timeout_s or image.timeout_s,
        retries=spec.retries or image.retries,
        start_period_s=spec.start_period_s or image.start_period_s,
    )


def probe_for(config: HealthConfig | None) -> Probe | None:
    """What to run, or None when there is no check: none set, ``NONE``, an empty command,
    or a test kind Docker does not know (which it ignores too)."""
    if config is None or len(config.test) < 2:
        return None
    kind, args = config.test[0], config.test[1:]
    if kind == "CMD":
        cmd = args
    elif kind == "CMD-SHELL":
        cmd = (*SHELL, " ".join(args))
    else:
        return None
    return Probe(
        cmd=cmd,
        interval_s=config.interval_s or DEFAULT_INTERVAL_S,
        timeout_s=config.timeout_s or DEFAULT_TIMEOUT_S,
        retries=config.retries if config.retries > 0 else DEFAULT_RETRIES,
        start_period_s=config.start_period_s or DEFAULT_START_PERIOD_S,
    )


def apply_result(health: Health, result: ProbeResult, probe: Probe, started_at: float) -> Health:
    """The health after ``result`` (Docker's handleProbeResult)."""
    log_entries = (*health.log, result)[-MAX_LOG_ENTRIES:]
    if result.exit_code == 0:
        return Health(HealthState.HEALTHY, 0, log_entries)
    in_start_period = (
        health.status == HealthState.STARTING and result.start - started_at < probe.start_period_s
    )
    if in_start_period:
        return replace(health, log=log_entries)
    streak = health.failing_streak + 1
    status = HealthState.UNHEALTHY if streak >= probe.retries else health.status
    return Health(status, streak, log_entries)


def truncated_output(data: bytes) -> str:
    """The check's output as Docker keeps it: at most 4096 bytes, "..." when cut."""
    text = data[:MAX_OUTPUT_LEN].decode("utf-8", errors="replace")
    return text + "..." if len(data) > MAX_OUTPUT_LEN else text


def timeout_output(timeout_s: float) -> str:
    return f"Health check exceeded timeout ({go_duration(timeout_s)})"


# ---------------------------------------------------------------- the file inspect reads

HEALTH_FILE = "health.json"


def save(path: Path, health: Health) -> None:
    """Written at every result (not synced: a crash loses at most the last results, and a
    restarted monitor starts over as Docker's does)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(health)))
    os.replace(tmp, path)


def load(path: Path) -> Health | None:
    try:
        raw = json.loads(path.read_text())
        return Health(
            status=HealthState(raw["status"]),
            failing_streak=int(raw["failing_streak"]),
            log=tuple(ProbeResult(**r) for r in raw["log"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------- the loop

RunProbe = Callable[[tuple[str, ...], float], Awaitable[tuple[int, str] | None]]


class HealthMonitor:
    """Runs one container's check every interval and keeps its health.

    ``run_probe(cmd, timeout)`` runs the command in the container and returns its exit code
    and output, or None when it did not finish within the timeout (it is then killed).
    """

    def __init__(
        self,
        probe: Probe,
        started_at: float,
        run_probe: RunProbe,
        path: Path,
        health: Health | None = None,
        on_change: Callable[[HealthState], None] | None = None,
    ) -> None:
        self.probe = probe
        self.started_at = started_at
        self._run_probe = run_probe
        self._path = path
        self.health = health or Health()
        self._changed = asyncio.Condition()
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None
        self.stopped = False

    def start(self) -> None:
        save(self._path, self.health)
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.probe.interval_s)
            start = now()
            try:
                outcome = await self._run_probe(self.probe.cmd, self.probe.timeout_s)
            except OSError as e:  # runc could not be run: Docker records the error as a failure
                outcome = (-1, str(e))
            if outcome is None:
                outcome = (-1, timeout_output(self.probe.timeout_s))
            result = ProbeResult(start, now(), *outcome)
            await self._set(apply_result(self.health, result, self.probe, self.started_at))

    async def _set(self, health: Health, notify: bool = True) -> None:
        changed = health.status != self.health.status
        self.health = health
        with contextlib.suppress(OSError):  # the container's dir is gone: it was removed
            save(self._path, health)
        if changed and notify:
            log.info("container %s is %s", self._path.parent.name, health.status.value)
            if self._on_change is not None:
                self._on_change(health.status)
            async with self._changed:
                self._changed.notify_all()

    async def stop(self) -> None:
        """The container ended: no more checks, and it shows as unhealthy (as Docker's
        monitor leaves it), without telling waiters: the container failed no check, and
        whoever waits on its health waits on its end too."""
        if self.stopped:
            return
        self.stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._set(replace(self.health, status=HealthState.UNHEALTHY), notify=False)

    async def change_from(self, status: HealthState) -> HealthState:
        """Wait until the health is no longer ``status``; the new one."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.health.status != status)
        return self.health.status
