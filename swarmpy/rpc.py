"""gRPC edges: our errors cross the wire as status codes + one-line details, both ways."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc

from swarmpy import errors

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


async def _abort(context: grpc.aio.ServicerContext[Any, Any], exc: Exception) -> None:
    if isinstance(exc, errors.SwarmpyError):
        await context.abort(exc.grpc_code, exc.message)
    log.exception("internal error")
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {exc}")


def unary(method: F) -> F:
    """Servicer method decorator: raised SwarmpyErrors become gRPC statuses."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: Any) -> Any:
        try:
            return await method(self, request, context)
        except (errors.SwarmpyError, ValueError, KeyError, OSError) as exc:
            await _abort(context, exc)

    return wrapper  # type: ignore[return-value]


def streaming(method: F) -> F:
    """The same for server-streaming methods (async generators)."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
        try:
            async for item in method(self, request, context):
                yield item
        except (errors.SwarmpyError, ValueError, KeyError, OSError) as exc:
            await _abort(context, exc)

    return wrapper  # type: ignore[return-value]


def to_error(exc: grpc.aio.AioRpcError | grpc.RpcError, target: str = "") -> errors.SwarmpyError:
    """The SwarmpyError a failed call stands for, with the server's own sentence."""
    code = exc.code()
    details = exc.details() or ""
    # gRPC's own transport failure, as opposed to a server that answered UNAVAILABLE with a
    # sentence of its own (e.g. a manager it could not reach), which must pass through.
    if code == grpc.StatusCode.UNAVAILABLE and (
        "failed to connect to all addresses" in details or not details
    ):
        where = f" at {target}" if target else ""
        return errors.Unavailable(f"cannot connect{where}: {details}".rstrip(": "))
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return errors.Unavailable(f"timed out waiting for {target or 'the daemon'}")
    cls = errors.BY_STATUS.get(code.name, errors.SwarmpyError)
    error = cls(details)
    error.remote = True
    return error
