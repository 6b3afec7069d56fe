"""One exception tree. Every error a user can see carries a one-line message.

``grpc_code`` lets the API edges translate an error to a gRPC status and back without
losing its class (see swarmpy.rpc), so the CLI prints exactly the manager's sentence. Each
class names its status (``grpc_status``) rather than holding grpc's enum: every CLI command
imports this module, and importing grpc would double the command's start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import grpc


def one_line(message: str) -> str:
    """The message with control characters escaped: a user's value quoted in it (a name with
    a newline, a terminal escape) must not break the one line or reach the terminal raw."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in message)


class SwarmpyError(Exception):
    """Base of every error swarmpy raises on purpose."""

    grpc_status: ClassVar[str] = "UNKNOWN"  # a grpc.StatusCode's name

    def __init__(self, message: str) -> None:
        message = one_line(message)
        super().__init__(message)
        self.message = message
        # Set when the error came back from the daemon, so the CLI can say so as docker does.
        self.remote = False

    def __str__(self) -> str:
        return self.message

    @property
    def grpc_code(self) -> grpc.StatusCode:
        import grpc

        return grpc.StatusCode[self.grpc_status]


class InvalidArgument(SwarmpyError):
    grpc_status = "INVALID_ARGUMENT"


class NotFound(SwarmpyError):
    grpc_status = "NOT_FOUND"


class AlreadyExists(SwarmpyError):
    grpc_status = "ALREADY_EXISTS"


class Conflict(SwarmpyError):
    """The request is valid but the current state forbids it (e.g. rm a node that is up)."""

    grpc_status = "FAILED_PRECONDITION"


class PermissionDenied(SwarmpyError):
    grpc_status = "PERMISSION_DENIED"


class Unavailable(SwarmpyError):
    """A peer (daemon, manager, leader, registry) could not be reached."""

    grpc_status = "UNAVAILABLE"


class NotAManager(Conflict):
    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or 'This node is not a swarm manager. Use "swarmpy swarm init" or '
            '"swarmpy swarm join" to connect this node to swarm and try again.'
        )


class NotInSwarm(Conflict):
    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or 'This node is not part of a swarm. Use "swarmpy swarm init" or '
            '"swarmpy swarm join" first.'
        )


class NoLeader(Unavailable):
    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "The swarm does not have a leader. It's possible that too few managers are "
            "online. Make sure more than half of the managers are online."
        )


class ImageError(SwarmpyError):
    """Pulling, loading or unpacking an image failed."""

    grpc_status = "FAILED_PRECONDITION"


class RuntimeFailure(SwarmpyError):
    """runc, a mount, netlink or nftables failed while running a task."""

    grpc_status = "INTERNAL"


BY_STATUS: dict[str, type[SwarmpyError]] = {
    cls.grpc_status: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        Conflict,
        PermissionDenied,
        Unavailable,
        RuntimeFailure,
    )
}
