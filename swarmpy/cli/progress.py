"""Waiting for a service to converge, with Docker's per-task progress view.

The decision part (``assess``, ``update_failure``) is a pure function of the Engine API's
Service and Task documents; the loop around it only polls the daemon and draws.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import typer

from swarmpy.cli import output
from swarmpy.cli.engine import EngineClient, path_of
from swarmpy.errors import Conflict, Unavailable
from swarmpy.model import TaskState

BAR = 50
STABLE_S = 1.0
POLL_S = 0.3
FAILURES_BEFORE_GIVING_UP = 3


@dataclass(frozen=True)
class Progress:
    lines: tuple[str, ...]
    running: int
    wanted: int
    converged: bool
    error: str = ""
    # A job's progress is told in Docker's words ("job progress: ...") and, once complete,
    # ends the wait at once: a job stays done, there is nothing to verify.
    header: str = ""
    job: bool = False


def _bar(state: TaskState) -> str:
    if state == TaskState.COMPLETE:  # a job's task: as far as it goes
        return "[" + "=" * (BAR - 1) + ">]"
    order = [
        TaskState.NEW,
        TaskState.PENDING,
        TaskState.ASSIGNED,
        TaskState.ACCEPTED,
        TaskState.PREPARING,
        TaskState.READY,
        TaskState.STARTING,
        TaskState.RUNNING,
    ]
    step = order.index(state) if state in order else 0
    filled = BAR * step // (len(order) - 1)
    if filled >= BAR:
        return "[" + "=" * (BAR - 1) + ">]"
    return "[" + "=" * filled + ">" + " " * (BAR - filled - 1) + "]"


def _state(text: Any) -> TaskState:
    """A task state as the Engine API spells it ("running"); an unknown one as NEW."""
    return TaskState.__members__.get(str(text).upper(), TaskState.NEW)


def _status(task: Mapping[str, Any]) -> Mapping[str, Any]:
    status = task.get("Status")
    return status if isinstance(status, dict) else {}


def _iteration(doc: Mapping[str, Any], key: str) -> int | None:
    value = doc.get(key)
    if not isinstance(value, dict):
        return None
    inner = value.get("JobIteration", value)
    return int(inner.get("Index", 0)) if isinstance(inner, dict) else None


def assess_job(service: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]]) -> Progress:
    """A job's progress as Docker's CLI draws it: the current iteration's tasks, one line per
    slot (a replicated job, slots from 0 shown from 1) or per node (a global job), done once
    every one of them completed."""
    mode = service.get("Spec", {}).get("Mode", {})
    iteration = _iteration(service, "JobStatus") or 0
    mine = [
        t
        for t in tasks
        if t.get("ServiceID") == service.get("ID")
        and _iteration(t, "JobIteration") == iteration
        and _state(t.get("DesiredState")) <= TaskState.COMPLETE
    ]
    replicated = mode.get("ReplicatedJob")
    if isinstance(replicated, dict):
        total = int(replicated.get("TotalCompletions", 0))
        keys = sorted({int(t.get("Slot", 0)) for t in mine if 0 <= int(t.get("Slot", 0)) < total})
        label = {k: f"{k + 1}/{total}" for k in keys}
        by_key = {k: [t for t in mine if int(t.get("Slot", 0)) == k] for k in keys}
    else:
        nodes = sorted({str(t.get("NodeID", "")) for t in mine})
        keys = list(range(len(nodes)))
        total = len(nodes)
        label = {k: nodes[k][:12] for k in keys}
        by_key = {k: [t for t in mine if t.get("NodeID", "") == nodes[k]] for k in keys}
    lines = []
    completed = 0
    for key in keys:
        # The slot's newest task: a retry after a failure, not the failure.
        newest = max(by_key[key], key=lambda t: output.parse_iso(t.get("CreatedAt", "")))
        status = _status(newest)
        state = _state(status.get("State"))
        completed += state == TaskState.COMPLETE
        err = str(status.get("Err", ""))
        text = err if err and state.terminal else state.name.lower()
        lines.append(f"{label[key]}: {text:<10} {_bar(state)}")
    # A global job with no task yet is waiting for them (Docker's "waiting for tasks"); a
    # replicated job of no completions is done at once, as Docker's CLI counts it.
    done = completed >= total and (total > 0 or isinstance(replicated, dict))
    header = f"job progress: {completed} out of {total} complete"
    return Progress(tuple(lines), completed, total, done, header=header, job=True)


def assess(
    service: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]], current: Collection[str]
) -> Progress:
    """Where a service stands: ``tasks`` are its tasks, ``current`` the ids of those the
    daemon counts as of its current spec (the ``_up-to-date`` filter Docker's CLI uses).

    A task the manager keeps through an update (the change did not touch it, e.g. an update
    back to the spec it runs) is as current as a new one."""
    spec = service.get("Spec", {})
    if service.get("JobStatus") is not None:
        return assess_job(service, tasks)
    service_id = service.get("ID", "")
    updated_at = output.parse_iso(service.get("UpdatedAt", ""))
    mine = [t for t in tasks if t.get("ServiceID") == service_id]
    live = [t for t in mine if _state(t.get("DesiredState")) <= TaskState.RUNNING]
    mode = spec.get("Mode", {})
    if "Global" not in mode:
        wanted = int(mode.get("Replicated", {}).get("Replicas", 1))
        slots = sorted({int(t.get("Slot", 0)) for t in live if 0 < int(t.get("Slot", 0)) <= wanted})
        keys = [str(slot) for slot in slots]
        label = {k: f"{k}/{wanted}" for k in keys}
        by_key = {k: [t for t in live if str(t.get("Slot", 0)) == k] for k in keys}
    else:
        keys = sorted({str(t.get("NodeID", "")) for t in live})
        wanted = len(keys)
        label = {k: k[:12] for k in keys}
        by_key = {k: [t for t in live if t.get("NodeID", "") == k] for k in keys}
    lines = []
    running = 0
    for key in keys:
        newest = max(by_key[key], key=lambda t: output.parse_iso(t.get("CreatedAt", "")))
        status = _status(newest)
        state = _state(status.get("State"))
        err = str(status.get("Err", ""))
        ok = state == TaskState.RUNNING and newest.get("ID") in current
        running += ok
        text = state.name.lower()
        if err and state.terminal:
            text = err
        elif err and state == TaskState.PENDING:
            text = f"pending: {err}"
        lines.append(f"{label[key]}: {text:<10} {_bar(state)}")
    # Failures of the spec being waited for: tasks of it made since the last change.
    failures = [
        t
        for t in mine
        if _state(_status(t).get("State")) in (TaskState.FAILED, TaskState.REJECTED)
        and t.get("ID") in current
        and output.parse_iso(t.get("CreatedAt", "")) >= updated_at
    ]
    error = ""
    if len(failures) >= FAILURES_BEFORE_GIVING_UP:
        last = max(failures, key=lambda t: output.parse_iso(_status(t).get("Timestamp", "")))
        error = str(_status(last).get("Err", "")) or str(_status(last).get("State", ""))
    return Progress(tuple(lines), running, wanted, running >= wanted and len(keys) >= wanted, error)


# Update states that end a wait: the manager gave up on the spec the user asked for.
_PAUSED = ("paused", "rollback_paused")
_ROLLED_BACK = ("rollback_started", "rollback_completed")


def update_failure(
    service: Mapping[str, Any], baseline: Mapping[str, Any] | None, rollback_requested: bool
) -> str:
    """Why the update being waited for failed ("" if it did not): it paused, or the manager
    rolled it back (unless a rollback is what the user asked for). ``baseline`` is the
    service's UpdateStatus before the request, so an older paused update is not mistaken for
    this one failing."""
    status = service.get("UpdateStatus")
    if not status or status == baseline:
        return ""
    state = status.get("State", "")
    if state in _PAUSED or (state in _ROLLED_BACK and not rollback_requested):
        return str(status.get("Message", "")) or str(state)
    return ""


def _tasks(api: EngineClient, service_id: str, up_to_date: bool) -> list[dict[str, Any]]:
    filters: dict[str, dict[str, bool]] = {"service": {service_id: True}}
    if up_to_date:
        filters["_up-to-date"] = {"true": True}
    tasks: list[dict[str, Any]] = api.get("/tasks", filters=json.dumps(filters))
    return tasks


def wait_for_convergence(
    api: EngineClient,
    service_id: str,
    timeout_s: float = 300.0,
    quiet: bool = False,
    baseline: Mapping[str, Any] | None = None,
    rollback_requested: bool = False,
) -> None:
    """Poll until every wanted task runs the current spec, drawing progress as docker does."""
    tty = sys.stdout.isatty() and not quiet
    drawn = 0
    last_printed: tuple[str, ...] = ()
    deadline = time.monotonic() + timeout_s
    stable_since: float | None = None
    while True:
        service = api.get(path_of("services", service_id))
        tasks = _tasks(api, service["ID"], up_to_date=False)
        current = {t["ID"] for t in _tasks(api, service["ID"], up_to_date=True)}
        progress = assess(service, tasks, current)
        name = service.get("Spec", {}).get("Name", service_id)
        header = (
            progress.header
            or f"overall progress: {progress.running} out of {progress.wanted} tasks"
        )
        lines = (header, *progress.lines)
        if not quiet:
            if tty:
                if drawn:
                    sys.stdout.write(f"\x1b[{drawn}F\x1b[J")
                sys.stdout.write("\n".join(lines) + "\n")
                sys.stdout.flush()
                drawn = len(lines)
            else:
                # No terminal to redraw on (a log, a pipe): print only what changed.
                for line in lines:
                    if line not in last_printed:
                        typer.echo(line)
                last_printed = lines
        failure = update_failure(service, baseline, rollback_requested)
        if failure:
            raise Conflict(f"service {name}: {failure}")
        if progress.error:
            raise Conflict(f"service {name} could not converge: {progress.error}")
        if progress.converged and progress.job:
            if not quiet:
                typer.echo("job complete")
            return
        if progress.converged:
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since >= STABLE_S:
                if not quiet:
                    typer.echo("verify: Service converged")
                return
        else:
            stable_since = None
        if time.monotonic() > deadline:
            raise Unavailable(
                f"service {name} did not converge within {timeout_s:g}s; see `swarmpy service ps`"
            )
        time.sleep(POLL_S)
