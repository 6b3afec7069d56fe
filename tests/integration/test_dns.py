"""The embedded DNS server in real namespaces.

Layout, all in namespaces the test makes (nothing touches the root namespace):
  <p>h  the "host": the daemon's event loop runs with its thread in here, so forwarded
        queries leave from it, as they would from a lab host's daemon
  <p>a  container on the front network      <p>b  container on the back network
  <p>u  an upstream resolver (dnsmasq) at 10.53.0.2, reached from <p>h over a veth
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from swarmpy.dns.nsock import run_in_netns
from swarmpy.dns.server import DnsServer
from swarmpy.netns import call_in_netns, netns_path
from tests.support.builders import BACK, FRONT, endpoint
from tests.support.builders import dns_view as view
from tests.support.poll import wait_for, wait_for_async

pytestmark = [
    pytest.mark.root,
    pytest.mark.timeout(60),
]

UPSTREAM_IP = "10.53.0.2"
DEAD_IP = "10.53.0.4"  # in the upstream namespace, nothing listens there
SILENT_IP = "10.53.0.5"  # on the upstream link but nobody has it: queries just vanish


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass(frozen=True)
class Lab:
    prefix: str

    @property
    def host(self) -> str:
        return self.prefix + "h"

    @property
    def front(self) -> str:
        return self.prefix + "a"

    @property
    def back(self) -> str:
        return self.prefix + "b"

    @property
    def upstream(self) -> str:
        return self.prefix + "u"

    def host_link_exists(self, ifname: str) -> bool:
        out = subprocess.run(
            ["ip", "-n", self.host, "-o", "link", "show", ifname], capture_output=True
        )
        return out.returncode == 0


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab("sd" + secrets.token_hex(3))
    made: list[str] = []
    try:
        for ns in (lab.host, lab.front, lab.back, lab.upstream):
            ip("netns", "add", ns)
            made.append(ns)
        # A veth from each container into the host: a lingering host end after the container
        # namespace is deleted shows that something (an open socket) still pins it.
        for ns in (lab.front, lab.back):
            ip("-n", lab.host, "link", "add", ns, "type", "veth", "peer", "eth0", "netns", ns)
        up = lab.prefix + "u"
        ip("-n", lab.host, "link", "add", up, "type", "veth", "peer", "eth0", "netns", lab.upstream)
        ip("-n", lab.host, "addr", "add", "10.53.0.1/29", "dev", up)
        ip("-n", lab.host, "link", "set", up, "up")
        for addr in (UPSTREAM_IP, DEAD_IP):
            ip("-n", lab.upstream, "addr", "add", f"{addr}/29", "dev", "eth0")
        ip("-n", lab.upstream, "link", "set", "eth0", "up")
        ip("-n", lab.upstream, "link", "set", "lo", "up")
        yield lab
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def upstream_dns(lab: Lab) -> Iterator[str]:
    """dnsmasq in the upstream namespace, owning upstream.test."""
    dnsmasq = [
        *("ip", "netns", "exec", lab.upstream, shutil.which("dnsmasq") or "dnsmasq"),
        *("--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--pid-file="),
        *("--user=root", "--bind-interfaces", f"--listen-address={UPSTREAM_IP}"),
        "--address=/upstream.test/10.99.0.7",
    ]
    proc = subprocess.Popen(
        dnsmasq,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            "dnsmasq to answer",
            lambda: call_in_netns(
                netns_path(lab.upstream), lambda: _udp("upstream.test", UPSTREAM_IP)
            ),
            5,
            not_yet=(dns.exception.Timeout, OSError),
        )
        yield UPSTREAM_IP
    finally:
        proc.terminate()
        proc.wait(5)


def _udp(name: str, server: str, rdtype: str = "A", timeout: float = 0.5) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, rdtype), server, timeout=timeout)


async def ask(
    ns: str, name: str, rdtype: str = "A", tcp: bool = False, query_timeout_s: float = 3.0
) -> dns.message.Message:
    """Query 127.0.0.11 from inside a container namespace, as its resolver would. The timeout
    is the query socket's, in the namespace's thread, where asyncio.timeout cannot reach."""
    query = dns.message.make_query(name, rdtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return await run_in_netns(
        netns_path(ns), lambda: send(query, "127.0.0.11", timeout=query_timeout_s)
    )


def addresses(reply: dns.message.Message) -> set[str]:
    return {r.to_text() for rrset in reply.answer for r in rrset}


def run_daemon(
    lab: Lab,
    body: Callable[[DnsServer], Awaitable[None]],
    upstreams: list[str] | None = None,
    timeout_s: float = 2.0,
) -> None:
    """Run ``body`` against a DnsServer whose event loop lives in the lab's host namespace."""

    async def main() -> None:
        server = DnsServer(upstreams=upstreams or [], resolv_conf=None, timeout_s=timeout_s)
        try:
            await server.add_container("ca", netns_path(lab.front), [FRONT])
            await server.add_container("cb", netns_path(lab.back), [BACK])
            server.update(view())
            await body(server)
        finally:
            await server.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(call_in_netns, netns_path(lab.host), lambda: asyncio.run(main())).result()


def test_containers_resolve_services_over_udp_and_tcp(lab: Lab) -> None:
    async def body(server: DnsServer) -> None:
        for tcp in (False, True):
            assert addresses(await ask(lab.front, "web", tcp=tcp)) == {"10.0.1.2"}
            assert addresses(await ask(lab.back, "WEB.", tcp=tcp)) == {"10.0.2.2"}
            assert addresses(await ask(lab.back, "db", tcp=tcp)) == {"10.0.2.7", "10.0.2.8"}
            assert addresses(await ask(lab.front, "tasks.web", tcp=tcp)) == {
                "10.0.1.5",
                "10.0.1.6",
            }
            assert addresses(await ask(lab.front, "web.2", tcp=tcp)) == {"10.0.1.6"}
            aaaa = await ask(lab.front, "web", "AAAA", tcp=tcp)
            assert aaaa.rcode() == dns.rcode.NOERROR
            assert not aaaa.answer
            ptr = await ask(lab.front, "5.1.0.10.in-addr.arpa", "PTR", tcp=tcp)
            assert addresses(ptr) == {"web.1.t1."}
            # db lives only on the back network: the front container cannot see it.
            hidden = await ask(lab.front, "db", tcp=tcp)
            assert hidden.rcode() == dns.rcode.SERVFAIL
            assert not hidden.answer

    run_daemon(lab, body)


def test_a_real_resolver_client_gets_answers(lab: Lab) -> None:
    async def body(server: DnsServer) -> None:
        proc = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", lab.front, "busybox", "nslookup", "web.1.t1", "127.0.0.11"),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 0
        assert "10.0.1.5" in out.decode()

    run_daemon(lab, body)


def test_view_updates_are_seen_at_once(lab: Lab) -> None:
    async def body(server: DnsServer) -> None:
        before = view()
        extra = endpoint("10.0.1.77", task_id="t9", service="web", slot=3, network_id=FRONT)
        server.update(replace(before, endpoints=(*before.endpoints, extra)))
        assert addresses(await ask(lab.front, "tasks.web")) == {"10.0.1.5", "10.0.1.6", "10.0.1.77"}
        assert addresses(await ask(lab.front, "web.3", tcp=True)) == {"10.0.1.77"}
        server.update(replace(before, endpoints=(), services=()))
        assert (await ask(lab.front, "web")).rcode() == dns.rcode.SERVFAIL

    run_daemon(lab, body)


def test_unknown_name_without_upstream_fails_fast(lab: Lab) -> None:
    async def body(server: DnsServer) -> None:
        for tcp in (False, True):
            start = time.monotonic()
            reply = await ask(lab.front, "nowhere.example", tcp=tcp)
            assert reply.rcode() == dns.rcode.SERVFAIL
            assert time.monotonic() - start < 1.0

    run_daemon(lab, body)


def test_unknown_name_with_dead_upstream_fails_fast(lab: Lab) -> None:
    # Nothing listens at the upstream address: the ICMP error ends the wait at once.
    async def body(server: DnsServer) -> None:
        start = time.monotonic()
        reply = await ask(lab.front, "nowhere.example")
        assert reply.rcode() == dns.rcode.SERVFAIL
        assert time.monotonic() - start < 1.0

    run_daemon(lab, body, upstreams=[DEAD_IP])


def test_silent_upstream_costs_the_timeout_not_a_hang(lab: Lab) -> None:
    async def body(server: DnsServer) -> None:
        start = time.monotonic()
        reply = await ask(lab.front, "nowhere.example", query_timeout_s=5)
        assert reply.rcode() == dns.rcode.SERVFAIL
        assert 0.4 < time.monotonic() - start < 2.0
        # Meanwhile, and afterwards, our own names are answered at once.
        assert addresses(await ask(lab.front, "web", query_timeout_s=0.5)) == {"10.0.1.2"}

    run_daemon(lab, body, upstreams=[SILENT_IP], timeout_s=0.5)


def test_unknown_names_are_forwarded_upstream(lab: Lab, upstream_dns: str) -> None:
    async def body(server: DnsServer) -> None:
        for tcp in (False, True):
            assert addresses(await ask(lab.front, "upstream.test", tcp=tcp)) == {"10.99.0.7"}
        # Our own names still win.
        assert addresses(await ask(lab.front, "web")) == {"10.0.1.2"}

    # The first upstream is dead; the forwarder moves on to the live one.
    run_daemon(lab, body, upstreams=[DEAD_IP, upstream_dns])


def test_remove_container_releases_its_namespace(lab: Lab) -> None:
    async def body(server: DnsServer) -> None:
        assert addresses(await ask(lab.front, "web", tcp=True)) == {"10.0.1.2"}
        await server.remove_container("ca")
        with pytest.raises(ConnectionRefusedError):
            await ask(lab.front, "web", tcp=True)
        # The other container is unaffected.
        assert addresses(await ask(lab.back, "web")) == {"10.0.2.2"}
        ip("netns", "del", lab.front)
        await wait_for_async(
            "the container namespace to be released",
            lambda: not lab.host_link_exists(lab.front),
            5,
        )

    run_daemon(lab, body)
