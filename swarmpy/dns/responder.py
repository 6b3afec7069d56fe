"""From query bytes to answer bytes: our own names first (fast path, then dnspython), the
rest forwarded upstream, SERVFAIL when nobody upstream answers."""

from __future__ import annotations

from collections.abc import Sequence

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from swarmpy.dns.fastpath import MAX_UDP, answer_owned, build_format_error
from swarmpy.dns.records import Answer, RecordIndex
from swarmpy.dns.upstream import Forwarder

_MAX_TCP = 65535


class Responder:
    def __init__(self, forwarder: Forwarder) -> None:
        self._forwarder = forwarder
        # Replaced wholesale on each view update, so a query always sees one consistent view.
        self.index = RecordIndex()

    def answer_fast(self, data: bytes, networks: Sequence[str]) -> bytes | None:
        """The answer for a plain query about one of our names, or None when the general path
        must decide (unusual query, a PTR, a name we do not own, an oversized answer)."""
        # PTR is left to dnspython here; the resolver loop (fastloop.py) answers it by hand.
        return answer_owned(self.index, data, networks, ptr=False)

    async def respond(
        self,
        data: bytes,
        networks: Sequence[str],
        tcp: bool = False,
        forwarder: Forwarder | None = None,
    ) -> bytes | None:
        """The answer to send back, or None to stay silent (the query was not DNS at all).
        Names not ours go to ``forwarder`` (a container's own DNS servers, Docker's --dns),
        else to the node's."""
        fast = self.answer_fast(data, networks)
        if fast is not None:
            return fast
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return build_format_error(data)
        local = self.answer_local(query, networks, tcp)
        if local is not None:
            return local
        upstream = forwarder or self._forwarder
        forwarded = await upstream.forward(data, tcp) if upstream.configured else None
        return forwarded if forwarded is not None else _error(query, dns.rcode.SERVFAIL)

    def answer_local(
        self, query: dns.message.Message, networks: Sequence[str], tcp: bool = False
    ) -> bytes | None:
        """The general (dnspython) answer for our own names, or None to forward."""
        if query.flags & dns.flags.QR:
            return None
        if query.opcode() != dns.opcode.QUERY:
            return _error(query, dns.rcode.NOTIMP)
        if len(query.question) != 1:
            return _error(query, dns.rcode.FORMERR)
        question = query.question[0]
        if question.rdclass != dns.rdataclass.IN:
            return None
        found = self.index.answer(
            question.name.to_text(omit_final_dot=True), question.rdtype, networks
        )
        if found is None:
            return None
        response = _reply(query)
        response.answer = _rrsets(question.name, found)
        limit = _MAX_TCP if tcp else max(MAX_UDP, query.payload if query.edns >= 0 else 0)
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            # Too many tasks for one datagram: the client retries over TCP.
            response.answer = []
            response.flags |= dns.flags.TC
            return response.to_wire(max_size=limit)


def _reply(query: dns.message.Message) -> dns.message.Message:
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA | dns.flags.RA
    return response


def _error(query: dns.message.Message, rcode: dns.rcode.Rcode) -> bytes:
    response = _reply(query)
    response.flags &= ~dns.flags.AA
    response.set_rcode(rcode)
    return response.to_wire()


def _rrsets(name: dns.name.Name, found: Answer) -> list[dns.rrset.RRset]:
    if found.addresses:
        return [dns.rrset.from_text_list(name, found.ttl, "IN", "A", list(found.addresses))]
    if found.ptr is not None:
        return [dns.rrset.from_text_list(name, found.ttl, "IN", "PTR", [found.ptr + "."])]
    return []
