"""The typer declarations of the flags `service create` and `service update` share (Docker's
addServiceFlags), with Docker's names and help. None: not given."""

from __future__ import annotations

from typing import Any

import typer


def _opt(*names: str, help: str) -> Any:
    return typer.Option(None, *names, help=help)


WORKDIR = _opt("--workdir", "-w", help="Working directory inside the container")
USER = _opt("--user", "-u", help="Username or UID (format: <name|uid>[:<group|gid>])")
HOSTNAME = _opt("--hostname", help="Container hostname")
ENTRYPOINT = _opt("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")
STOP_SIGNAL = _opt("--stop-signal", help="Signal to stop the container")
STOP_GRACE_PERIOD = _opt(
    "--stop-grace-period",
    help="Time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)",
)
HEALTH_CMD = _opt("--health-cmd", help="Command to run to check health")
HEALTH_INTERVAL = _opt("--health-interval", help="Time between running the check (ms|s|m|h)")
HEALTH_TIMEOUT = _opt("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h)")
HEALTH_RETRIES = _opt("--health-retries", help="Consecutive failures needed to report unhealthy")
HEALTH_START_PERIOD = _opt(
    "--health-start-period",
    help="Start period for the container to initialize before counting retries towards "
    "unstable (ms|s|m|h)",
)
NO_HEALTHCHECK: Any = typer.Option(
    False, "--no-healthcheck", help="Disable any container-specified HEALTHCHECK"
)
REPLICAS = _opt("--replicas", help="Number of tasks")
MAX_REPLICAS = _opt(
    "--replicas-max-per-node",
    "--max-replicas",
    help="Maximum number of tasks per node (default 0 = unlimited)",
)
MAX_CONCURRENT = _opt(
    "--max-concurrent",
    help="Number of job tasks to run concurrently (default equal to --replicas)",
)
ENDPOINT_MODE = _opt("--endpoint-mode", help='Endpoint mode (vip or dnsrr) (default "vip")')
LIMIT_CPU = _opt("--limit-cpu", help="Limit CPUs")
LIMIT_MEMORY = _opt("--limit-memory", help="Limit Memory")
LIMIT_PIDS = _opt("--limit-pids", help="Limit maximum number of processes (default 0 = unlimited)")
RESERVE_CPU = _opt("--reserve-cpu", help="Reserve CPUs")
RESERVE_MEMORY = _opt("--reserve-memory", help="Reserve Memory")
RESTART_CONDITION = _opt(
    "--restart-condition",
    help='Restart when condition is met ("none"|"on-failure"|"any") (default "any")',
)
RESTART_DELAY = _opt(
    "--restart-delay", help="Delay between restart attempts (ns|us|ms|s|m|h) (default 5s)"
)
RESTART_MAX_ATTEMPTS = _opt(
    "--restart-max-attempts", help="Maximum number of restarts before giving up"
)
RESTART_WINDOW = _opt(
    "--restart-window", help="Window used to evaluate the restart policy (ns|us|ms|s|m|h)"
)
UPDATE_PARALLELISM = _opt(
    "--update-parallelism",
    help="Maximum number of tasks updated simultaneously (0 to update all at once) (default 1)",
)
UPDATE_DELAY = _opt("--update-delay", help="Delay between updates (ns|us|ms|s|m|h) (default 0s)")
UPDATE_FAILURE_ACTION = _opt(
    "--update-failure-action",
    help='Action on update failure ("pause"|"continue"|"rollback") (default "pause")',
)
UPDATE_MONITOR = _opt(
    "--update-monitor",
    help="Duration after each task update to monitor for failure (ns|us|ms|s|m|h) (default 5s)",
)
UPDATE_MAX_FAILURE_RATIO = _opt(
    "--update-max-failure-ratio", help="Failure rate to tolerate during an update (default 0)"
)
UPDATE_ORDER = _opt(
    "--update-order", help='Update order ("start-first"|"stop-first") (default "stop-first")'
)
ROLLBACK_PARALLELISM = _opt(
    "--rollback-parallelism",
    help="Maximum number of tasks rolled back simultaneously (0 to roll back all at once) "
    "(default 1)",
)
ROLLBACK_DELAY = _opt(
    "--rollback-delay", help="Delay between task rollbacks (ns|us|ms|s|m|h) (default 0s)"
)
ROLLBACK_FAILURE_ACTION = _opt(
    "--rollback-failure-action",
    help='Action on rollback failure ("pause"|"continue") (default "pause")',
)
ROLLBACK_MONITOR = _opt(
    "--rollback-monitor",
    help="Duration after each task rollback to monitor for failure (ns|us|ms|s|m|h) (default 5s)",
)
ROLLBACK_MAX_FAILURE_RATIO = _opt(
    "--rollback-max-failure-ratio", help="Failure rate to tolerate during a rollback (default 0)"
)
ROLLBACK_ORDER = _opt(
    "--rollback-order", help='Rollback order ("start-first"|"stop-first") (default "stop-first")'
)
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
