"""The gRPC connection of the CLI commands not yet moved to the Engine API
(swarmpy.cli.engine): the daemon's private gRPC socket beside its -H unix socket."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import grpc

from swarmpy.api import control_pb2_grpc, local_pb2_grpc
from swarmpy.cli import engine
from swarmpy.config import grpc_socket
from swarmpy.errors import InvalidArgument, Unavailable
from swarmpy.rpc import to_error

T = TypeVar("T")


class Client:
    def __init__(self, host: str) -> None:
        self.host = host
        self.channel = grpc.aio.insecure_channel(f"unix://{grpc_path(host)}")
        self.local = local_pb2_grpc.LocalStub(self.channel)
        self.control = control_pb2_grpc.ControlStub(self.channel)

    async def close(self) -> None:
        await self.channel.close(None)


def grpc_path(host: str) -> Path:
    """The gRPC socket of the daemon at ``host``: only a local daemon has one."""
    if not host.startswith("unix://"):
        raise InvalidArgument(
            f"this command needs the daemon's local socket (-H unix:///path), not {host}"
        )
    return grpc_socket(host)


def run(fn: Callable[[Client], Awaitable[T]]) -> T:
    """Run one command against the daemon, turning transport failures into our errors."""
    # The daemon the global options name (-H, else SWARMPY_HOST): the Engine API's socket.
    host = engine.resolve(engine.OPTIONS, os.environ).host
    path = str(grpc_path(host))
    if not os.path.exists(path):
        raise Unavailable(
            f"Cannot connect to the swarmpy daemon at {host}. Is the swarmpy daemon running?"
        )

    async def main() -> T:
        client = Client(host)
        try:
            return await fn(client)
        except grpc.aio.AioRpcError as exc:
            details = exc.details() or ""
            if exc.code() == grpc.StatusCode.UNAVAILABLE and path in details:
                raise Unavailable(
                    f"Cannot connect to the swarmpy daemon at {host}. "
                    "Is the swarmpy daemon running?"
                ) from None
            raise to_error(exc, host) from None
        finally:
            await client.close()

    return asyncio.run(main())
