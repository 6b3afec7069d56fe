"""Restart policies, decided as dockerd's restart manager decides them (pure).

``no``, ``on-failure[:N]``, ``always`` and ``unless-stopped``. A container stopped or killed
through the API is "manually stopped": no policy brings it back until the daemon restarts
(``always``) or someone starts it. A process that dies by itself (a crash, a kill from the
host) is restarted after a back-off that doubles from 100 ms up to a minute, and starts over
once a run lasted 10 seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from swarmpy.errors import InvalidArgument

POLICIES = ("no", "always", "unless-stopped", "on-failure")
FIRST_DELAY_S = 0.1
MAX_DELAY_S = 60.0
RESET_AFTER_S = 10.0


@dataclass(frozen=True)
class RestartPolicy:
    name: str = "no"
    max_retries: int = 0  # on-failure only; 0 is no limit

    def to_json(self) -> dict[str, object]:
        return {"Name": self.name, "MaximumRetryCount": self.max_retries}

    @property
    def restarts(self) -> bool:
        return self.name not in ("", "no")


NO_RESTART = RestartPolicy()


def parse_flag(text: str) -> RestartPolicy:
    """``--restart`` as docker's CLI reads it (opts.ParseRestartPolicy), then checked as the
    daemon checks it."""
    if not text:
        return RestartPolicy()
    parts = text.split(":")
    if len(parts) > 2:
        raise InvalidArgument("invalid restart policy format")
    retries = 0
    if len(parts) == 2:
        try:
            retries = int(parts[1])
        except ValueError:
            raise InvalidArgument("maximum retry count must be an integer") from None
    return check(parts[0], retries)


def check(name: str, retries: int) -> RestartPolicy:
    """The daemon's validation of HostConfig.RestartPolicy (validateRestartPolicy)."""
    if name in ("always", "unless-stopped", "no"):
        if retries != 0:
            raise InvalidArgument(
                f"maximum retry count cannot be used with restart policy '{name}'"
            )
        return RestartPolicy(name, 0)
    if name == "on-failure":
        if retries < 0:
            raise InvalidArgument("maximum retry count cannot be negative")
        return RestartPolicy(name, retries)
    if name == "":
        return RestartPolicy("", retries)
    raise InvalidArgument(f"invalid restart policy '{name}'")


def should_restart(
    policy: RestartPolicy, exit_code: int, restart_count: int, manually_stopped: bool
) -> bool:
    """Whether a container that just ended comes back (restartmanager.ShouldRestart; a
    stop or kill through the API cancels it, as ExitOnNext does)."""
    if manually_stopped:
        return False
    return _policy_wants(policy, exit_code, restart_count, manually_stopped)


def _policy_wants(
    policy: RestartPolicy, exit_code: int, restart_count: int, manually_stopped: bool
) -> bool:
    if policy.name == "always":
        return True
    if policy.name == "unless-stopped":
        return not manually_stopped
    if policy.name == "on-failure":
        if policy.max_retries and restart_count >= policy.max_retries:
            return False
        return exit_code != 0
    return False


def next_delay(previous_s: float, ran_for_s: float) -> float:
    """The back-off before the next restart: 100 ms, doubling to a minute; reset by a run
    of 10 seconds or more."""
    if ran_for_s >= RESET_AFTER_S or previous_s <= 0:
        return FIRST_DELAY_S
    return min(previous_s * 2, MAX_DELAY_S)


def restart_at_daemon_start(
    policy: RestartPolicy, exit_code: int, restart_count: int, manually_stopped: bool
) -> bool:
    """Whether the daemon starts a container it finds not running when it starts: a
    manual stop holds only ``unless-stopped`` (and ``no``) back."""
    return _policy_wants(policy, exit_code, restart_count, manually_stopped)
