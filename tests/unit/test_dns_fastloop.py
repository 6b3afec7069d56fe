"""The resolver loop answers while the daemon's event loop is blocked, in both of its modes.

A fake of the sandbox sockets: instead of 127.0.0.11:53 inside a container namespace, each
container gets a UDP and a TCP socket on an ephemeral port of 127.0.0.1, so this runs
without root. Everything else is the real DnsServer.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import replace

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from swarmpy.dns import server as server_module
from swarmpy.dns.fastloop import Mode
from swarmpy.dns.fastpath import answer_owned
from swarmpy.dns.records import RecordIndex
from swarmpy.dns.responder import Responder
from swarmpy.dns.server import DnsServer
from swarmpy.dns.upstream import Forwarder
from swarmpy.model import VirtualIP
from tests.support.builders import BACK, FRONT
from tests.support.builders import dns_view as view

pytestmark = pytest.mark.timeout(60)

BLOCK_S = 2.0


@pytest.fixture
def loopback_sockets(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Replace the namespace sockets with loopback ones; yields the UDP ports handed out."""
    ports: list[int] = []

    async def fake_open(netns_path: str) -> tuple[socket.socket, socket.socket]:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        udp.bind(("127.0.0.1", 0))
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(8)
        udp.setblocking(False)
        tcp.setblocking(False)
        ports.append(udp.getsockname()[1])
        return udp, tcp

    monkeypatch.setattr(server_module, "open_dns_sockets", fake_open)
    return ports


def send(port: int, name: str, rdtype: str = "A", timeout: float = 5.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    sock.sendto(dns.message.make_query(name, rdtype).to_wire(), ("127.0.0.1", port))
    return sock


def receive(sock: socket.socket) -> dns.message.Message:
    with sock:
        return dns.message.from_wire(sock.recv(4096))


def ask(port: int, name: str, rdtype: str = "A", timeout: float = 5.0) -> dns.message.Message:
    return receive(send(port, name, rdtype, timeout))


def hog(seconds: float) -> None:
    """Keep the calling thread busy in Python, holding the GIL as a working daemon does."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def addresses(reply: dns.message.Message) -> set[str]:
    return {r.to_text() for rrset in reply.answer for r in rrset}


@pytest.mark.parametrize("mode", list(Mode))
def test_answers_while_the_event_loop_is_blocked(loopback_sockets: list[int], mode: Mode) -> None:
    answered: list[tuple[float, set[str]]] = []
    slow: list[tuple[float, int]] = []

    def client(port: int, blocked_at: float) -> None:
        # A name we do not own (no upstream): only the daemon's loop can answer it.
        slow_started = time.monotonic()
        slow_query = send(port, "nowhere.example")
        while time.monotonic() < blocked_at + BLOCK_S - 0.3:
            started = time.monotonic()
            reply = ask(port, "web", timeout=1.0)
            answered.append((time.monotonic() - started, addresses(reply)))
        slow_reply = receive(slow_query)
        slow.append((time.monotonic() - slow_started, slow_reply.rcode()))

    async def main() -> None:
        server = DnsServer(upstreams=[], resolv_conf=None, mode=mode)
        try:
            server.update(view())
            await server.add_container("ca", "/unused", [FRONT])
            port = loopback_sockets[0]
            assert addresses(await asyncio.to_thread(ask, port, "web")) == {"10.0.1.2"}
            thread = threading.Thread(target=client, args=(port, time.monotonic()))
            thread.start()
            hog(BLOCK_S)  # the daemon's loop is busy: nothing else runs on it
            await asyncio.to_thread(thread.join)
        finally:
            await server.close()

    asyncio.run(main())
    assert len(answered) >= 10
    assert all(got == {"10.0.1.2"} for _, got in answered)
    assert max(latency for latency, _ in answered) < 0.5
    # The query left to the daemon waited for the loop to be free, and was answered then.
    ((waited, rcode),) = slow
    assert rcode == dns.rcode.SERVFAIL
    assert waited > BLOCK_S - 0.5


@pytest.mark.parametrize("mode", list(Mode))
def test_updates_and_removal_reach_the_loop(loopback_sockets: list[int], mode: Mode) -> None:
    async def main() -> None:
        server = DnsServer(upstreams=[], resolv_conf=None, mode=mode)
        try:
            await server.add_container("ca", "/unused", [FRONT])
            await server.add_container("cb", "/unused", [BACK])
            front, back = loopback_sockets
            # No view yet: nothing is ours, and without an upstream that is SERVFAIL.
            assert (await asyncio.to_thread(ask, front, "web")).rcode() == dns.rcode.SERVFAIL
            server.update(view())
            assert addresses(await asyncio.to_thread(ask, front, "web")) == {"10.0.1.2"}
            assert addresses(await asyncio.to_thread(ask, back, "db")) == {"10.0.2.7", "10.0.2.8"}
            ptr = await asyncio.to_thread(ask, front, "5.1.0.10.in-addr.arpa", "PTR")
            assert addresses(ptr) == {"web.1.t1."}
            await server.remove_container("ca")
            # Every copy of the socket is closed: its port can be bound again at once.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
                again.bind(("127.0.0.1", front))
            assert addresses(await asyncio.to_thread(ask, back, "web")) == {"10.0.2.2"}
        finally:
            await server.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("name", "networks"),
    [
        ("5.1.0.10.in-addr.arpa", (FRONT,)),
        ("2.1.0.10.IN-ADDR.ARPA.", (FRONT,)),
        ("7.2.0.10.in-addr.arpa", (BACK,)),
    ],
)
def test_ptr_by_hand_says_what_dnspython_says(name: str, networks: tuple[str, ...]) -> None:
    responder = Responder(Forwarder([]))
    responder.index = RecordIndex.from_view(view())
    query = dns.message.make_query(name, "PTR")
    wire = query.to_wire()
    fast = answer_owned(responder.index, wire, networks)
    general = responder.answer_local(dns.message.from_wire(wire), networks)
    assert fast is not None
    assert general is not None
    f, g = dns.message.from_wire(fast), dns.message.from_wire(general)
    assert (f.id, f.flags, f.rcode(), f.question) == (g.id, g.flags, g.rcode(), g.question)
    assert f.answer == g.answer
    assert f.answer[0].rdtype == dns.rdatatype.PTR


def test_remembered_answers_follow_the_view_and_shuffles(loopback_sockets: list[int]) -> None:
    async def main() -> None:
        server = DnsServer(upstreams=[], resolv_conf=None)
        try:
            server.update(view())
            await server.add_container("ca", "/unused", [FRONT])
            (port,) = loopback_sockets
            for _ in range(3):
                assert addresses(await asyncio.to_thread(ask, port, "web")) == {"10.0.1.2"}
            before = view()
            moved = tuple(
                replace(s, virtual_ips=(VirtualIP(FRONT, "10.0.1.200/24"),))
                if s.name == "web"
                else s
                for s in before.services
            )
            server.update(replace(before, services=moved))
            assert addresses(await asyncio.to_thread(ask, port, "web")) == {"10.0.1.200"}
            # tasks.web has two addresses: every query shuffles them anew.
            orders = set()
            for _ in range(40):
                reply = await asyncio.to_thread(ask, port, "tasks.web")
                orders.add(tuple(r.to_text() for r in reply.answer[0]))
            assert orders == {("10.0.1.5", "10.0.1.6"), ("10.0.1.6", "10.0.1.5")}
        finally:
            await server.close()

    asyncio.run(main())
