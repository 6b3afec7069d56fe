"""Opening sockets inside another network namespace.

setns(2) moves only the calling thread, and a socket stays in the namespace it was created
in for its whole life. So a throwaway thread enters the container's namespace, creates and
binds the sockets and exits; the daemon's event loop then serves them from its own thread.
A fresh thread (not an executor's) is used so no pooled thread is ever left in a container
namespace if switching back fails.
"""

from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import threading
from collections.abc import Callable
from typing import TypeVar

from swarmpy.errors import RuntimeFailure
from swarmpy.netns import call_in_netns

T = TypeVar("T")

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = struct.Struct("16sH22x")  # struct ifreq: name, then the ifr_flags member of the union

DNS_ADDR = ("127.0.0.11", 53)


async def run_in_netns(
    netns_path: str, fn: Callable[[], T], discard: Callable[[T], None] | None = None
) -> T:
    """``call_in_netns`` on a throwaway thread, awaited from the event loop. If the awaiting
    task is cancelled meanwhile, ``discard`` disposes of the result nobody will receive
    (a forgotten socket would pin the namespace)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def deliver(result: T) -> None:
        if not done.cancelled():
            done.set_result(result)
        elif discard is not None:
            discard(result)

    def fail(exc: BaseException) -> None:
        if not done.cancelled():
            done.set_exception(exc)

    def work() -> None:
        try:
            result = call_in_netns(netns_path, fn)
        except BaseException as exc:  # the awaiting coroutine raises it  # noqa: BLE001
            loop.call_soon_threadsafe(fail, exc)
        else:
            loop.call_soon_threadsafe(deliver, result)

    threading.Thread(target=work, name="netns-call", daemon=True).start()
    return await done


def _loopback_up() -> None:
    """Binding 127.0.0.11 needs lo up; a fresh namespace has it down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = fcntl.ioctl(s, _SIOCGIFFLAGS, _IFREQ.pack(b"lo", 0))
        _, flags = _IFREQ.unpack(req)
        if not flags & _IFF_UP:
            fcntl.ioctl(s, _SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | _IFF_UP))


def _bind_dns_sockets(addr: tuple[str, int]) -> tuple[socket.socket, socket.socket]:
    _loopback_up()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind(addr)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(addr)
        tcp.listen(128)
        udp.setblocking(False)
        tcp.setblocking(False)
    except BaseException:
        udp.close()
        tcp.close()
        raise
    return udp, tcp


def _close_all(socks: tuple[socket.socket, ...]) -> None:
    for sock in socks:
        sock.close()


async def open_dns_sockets(
    netns_path: str, addr: tuple[str, int] = DNS_ADDR
) -> tuple[socket.socket, socket.socket]:
    """A bound UDP socket and a listening TCP socket on ``addr`` inside the namespace."""
    try:
        return await run_in_netns(netns_path, lambda: _bind_dns_sockets(addr), _close_all)
    except OSError as exc:
        raise RuntimeFailure(
            f"cannot serve DNS on {addr[0]}:{addr[1]} in {netns_path}: {exc.strerror or exc}"
        ) from exc
