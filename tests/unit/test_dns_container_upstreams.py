"""Docker's --dns for a service: the embedded DNS forwards the names it does not own to the
container's own servers instead of the node's."""

from __future__ import annotations

import asyncio

import dns.message

from swarmpy.dns.records import RecordIndex
from swarmpy.dns.responder import Responder
from swarmpy.dns.upstream import Forwarder
from tests.support.builders import FRONT, dns_view


class Recording(Forwarder):
    """A forwarder that answers every query itself, and remembers it was asked."""

    def __init__(self, name: str) -> None:
        super().__init__([f"10.0.0.{len(name)}"])
        self.name = name
        self.asked = 0

    async def forward(self, query: bytes, tcp: bool = False) -> bytes | None:
        self.asked += 1
        return dns.message.make_response(dns.message.from_wire(query)).to_wire()


def ask(responder: Responder, name: str, forwarder: Forwarder | None) -> bytes | None:
    query = dns.message.make_query(name, "A").to_wire()
    return asyncio.run(responder.respond(query, [FRONT], forwarder=forwarder))


def test_names_not_ours_go_to_the_containers_servers_when_it_has_some() -> None:
    node, own = Recording("node"), Recording("own")
    responder = Responder(node)
    responder.index = RecordIndex.from_view(dns_view())
    assert ask(responder, "example.org", own) is not None
    assert (own.asked, node.asked) == (1, 0)
    assert ask(responder, "example.org", None) is not None
    assert (own.asked, node.asked) == (1, 1)
    # A service's name is answered by the embedded DNS itself, whatever the servers.
    assert ask(responder, "web", own) is not None
    assert (own.asked, node.asked) == (1, 1)
