"""The typer declarations of the flags `service create` and `service update` share (Docker's
addServiceFlags), with Docker's names and help. None: not given.

The spec flags both commands take (``SHARED``, options.Common's fields) are declared once: a
command marks where they go with a parameter defaulting to ``SHARED_FLAGS`` and is decorated
with ``with_shared_flags``, which puts them in its signature there (so help lists them in that
place) and hands the command their values as one mapping."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

import typer

from swarmpy.cli import containerflags


def _opt(kind: type, *names: str, help: str) -> tuple[Any, Any]:
    """An option of a ``kind`` | None parameter, None when not given."""
    return kind | None, typer.Option(None, *names, help=help)


SHARED: dict[str, tuple[Any, Any]] = {
    "workdir": _opt(str, "--workdir", "-w", help="Working directory inside the container"),
    "user": _opt(str, "--user", "-u", help="Username or UID (format: <name|uid>[:<group|gid>])"),
    "hostname": _opt(str, "--hostname", help="Container hostname"),
    "entrypoint": (str | None, containerflags.ENTRYPOINT),
    "stop_signal": _opt(str, "--stop-signal", help="Signal to stop the container"),
    "stop_grace_period": _opt(
        str,
        "--stop-grace-period",
        help="Time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)",
    ),
    "health_cmd": _opt(str, "--health-cmd", help="Command to run to check health"),
    "health_interval": _opt(
        str, "--health-interval", help="Time between running the check (ms|s|m|h)"
    ),
    "health_timeout": _opt(
        str, "--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h)"
    ),
    "health_retries": _opt(
        int, "--health-retries", help="Consecutive failures needed to report unhealthy"
    ),
    "health_start_period": _opt(
        str,
        "--health-start-period",
        help="Start period for the container to initialize before counting retries towards "
        "unstable (ms|s|m|h)",
    ),
    "no_healthcheck": (bool, containerflags.NO_HEALTHCHECK),
    "replicas": _opt(int, "--replicas", help="Number of tasks"),
    "max_replicas": _opt(
        int,
        "--replicas-max-per-node",
        "--max-replicas",
        help="Maximum number of tasks per node (default 0 = unlimited)",
    ),
    "max_concurrent": _opt(
        int,
        "--max-concurrent",
        help="Number of job tasks to run concurrently (default equal to --replicas)",
    ),
    "endpoint_mode": _opt(
        str, "--endpoint-mode", help='Endpoint mode (vip or dnsrr) (default "vip")'
    ),
    "limit_cpu": _opt(str, "--limit-cpu", help="Limit CPUs"),
    "limit_memory": _opt(str, "--limit-memory", help="Limit Memory"),
    "limit_pids": _opt(
        int, "--limit-pids", help="Limit maximum number of processes (default 0 = unlimited)"
    ),
    "reserve_cpu": _opt(str, "--reserve-cpu", help="Reserve CPUs"),
    "reserve_memory": _opt(str, "--reserve-memory", help="Reserve Memory"),
    "isolation": _opt(str, "--isolation", help="Service container isolation mode"),
    "credential_spec": _opt(
        str,
        "--credential-spec",
        help="Credential spec for managed service account (Windows only)",
    ),
    "restart_condition": _opt(
        str,
        "--restart-condition",
        help='Restart when condition is met ("none"|"on-failure"|"any") (default "any")',
    ),
    "restart_delay": _opt(
        str, "--restart-delay", help="Delay between restart attempts (ns|us|ms|s|m|h) (default 5s)"
    ),
    "restart_max_attempts": _opt(
        int, "--restart-max-attempts", help="Maximum number of restarts before giving up"
    ),
    "restart_window": _opt(
        str, "--restart-window", help="Window used to evaluate the restart policy (ns|us|ms|s|m|h)"
    ),
    "update_parallelism": _opt(
        int,
        "--update-parallelism",
        help="Maximum number of tasks updated simultaneously (0 to update all at once) (default 1)",
    ),
    "update_delay": _opt(
        str, "--update-delay", help="Delay between updates (ns|us|ms|s|m|h) (default 0s)"
    ),
    "update_failure_action": _opt(
        str,
        "--update-failure-action",
        help='Action on update failure ("pause"|"continue"|"rollback") (default "pause")',
    ),
    "update_monitor": _opt(
        str,
        "--update-monitor",
        help="Duration after each task update to monitor for failure (ns|us|ms|s|m|h) (default 5s)",
    ),
    "update_max_failure_ratio": _opt(
        float,
        "--update-max-failure-ratio",
        help="Failure rate to tolerate during an update (default 0)",
    ),
    "update_order": _opt(
        str,
        "--update-order",
        help='Update order ("start-first"|"stop-first") (default "stop-first")',
    ),
    "rollback_parallelism": _opt(
        int,
        "--rollback-parallelism",
        help="Maximum number of tasks rolled back simultaneously (0 to roll back all at once) "
        "(default 1)",
    ),
    "rollback_delay": _opt(
        str, "--rollback-delay", help="Delay between task rollbacks (ns|us|ms|s|m|h) (default 0s)"
    ),
    "rollback_failure_action": _opt(
        str,
        "--rollback-failure-action",
        help='Action on rollback failure ("pause"|"continue") (default "pause")',
    ),
    "rollback_monitor": _opt(
        str,
        "--rollback-monitor",
        help="Duration after each task rollback to monitor for failure (ns|us|ms|s|m|h) "
        "(default 5s)",
    ),
    "rollback_max_failure_ratio": _opt(
        float,
        "--rollback-max-failure-ratio",
        help="Failure rate to tolerate during a rollback (default 0)",
    ),
    "rollback_order": _opt(
        str,
        "--rollback-order",
        help='Rollback order ("start-first"|"stop-first") (default "stop-first")',
    ),
}


DETACH: Any = typer.Option(
    False,
    "--detach",
    "-d",
    help="Exit immediately instead of waiting for the service to converge",
)
QUIET: Any = typer.Option(False, "--quiet", "-q", help="Suppress progress output")
# Docker's CLI asks the registry for the image's digest unless told not to; swarmpy's never
# does (tasks run the reference as given), so the flag asks for what always happens.
NO_RESOLVE_IMAGE: Any = typer.Option(
    False,
    "--no-resolve-image",
    help="Do not query the registry to resolve image digest and supported platforms "
    "(swarmpy never does)",
)
WITH_REGISTRY_AUTH: Any = typer.Option(
    False,
    "--with-registry-auth",
    help="Send registry authentication details to swarm agents",
)
PUBLISH: Any = typer.Option([], "--publish", "-p", help="Publish a port as a node port")


class _SharedFlags:
    """The default that marks where a command takes the SHARED flags."""

    def __repr__(self) -> str:
        return "SHARED_FLAGS"


SHARED_FLAGS: Any = _SharedFlags()


def with_shared_flags(command: Callable[..., None]) -> Callable[..., None]:
    """``command`` with SHARED's options in its signature in place of its parameter that
    defaults to SHARED_FLAGS, which receives them as a mapping of field name to value."""
    signature = inspect.signature(command)
    hints = typing.get_type_hints(command)
    (mark,) = (p.name for p in signature.parameters.values() if p.default is SHARED_FLAGS)
    params: list[inspect.Parameter] = []
    for param in signature.parameters.values():
        if param.name == mark:
            params += [
                inspect.Parameter(name, param.kind, default=info, annotation=kind)
                for name, (kind, info) in SHARED.items()
            ]
        else:
            params.append(param.replace(annotation=hints.get(param.name, param.annotation)))

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        shared = {name: kwargs.pop(name) for name in SHARED}
        command(**kwargs, **{mark: shared})

    # typer reads both: the parameters from the signature, their types from the annotations.
    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    return wrapper
