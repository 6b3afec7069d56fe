"""The hand-written fast path must say exactly what the dnspython path says."""

from __future__ import annotations

import asyncio
import struct

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

from swarmpy.dns.fastpath import parse_simple_query
from swarmpy.dns.records import RecordIndex
from swarmpy.dns.responder import Responder
from swarmpy.dns.upstream import Forwarder
from swarmpy.model import EndpointMode, NetworkView, ServiceEndpoint
from tests.support.builders import BACK, FRONT, endpoint
from tests.support.builders import dns_view as view

NETS = (FRONT, BACK)


@pytest.fixture
def responder() -> Responder:
    r = Responder(Forwarder([]))
    r.index = RecordIndex.from_view(view())
    return r


def query(name: str, rdtype: str = "A", qid: int = 4242, **kw: object) -> bytes:
    q = dns.message.make_query(name, rdtype, **kw)  # type: ignore[arg-type]
    q.id = qid
    return q.to_wire()


def general(responder: Responder, wire: bytes) -> bytes | None:
    return responder.answer_local(dns.message.from_wire(wire), NETS)


@pytest.mark.parametrize(
    ("name", "rdtype"),
    [
        ("web", "A"),
        ("WEB.", "A"),
        ("web.1.t1", "A"),
        ("Web.2", "A"),
        ("agent", "A"),
        ("web", "AAAA"),
        ("tasks.db", "MX"),
        ("tasks.agent", "A"),
    ],
)
def test_fast_path_is_byte_identical_to_dnspython(
    responder: Responder, name: str, rdtype: str
) -> None:
    wire = query(name, rdtype)
    fast = responder.answer_fast(wire, NETS)
    assert fast is not None
    assert fast == general(responder, wire)


def test_fast_path_shuffled_answers_match_as_sets(responder: Responder) -> None:
    wire = query("tasks.web")
    fast = dns.message.from_wire(responder.answer_fast(wire, NETS) or b"")
    slow = dns.message.from_wire(general(responder, wire) or b"")
    assert fast.id == slow.id == 4242
    assert fast.flags == slow.flags
    assert fast.flags & dns.flags.AA
    assert fast.flags & dns.flags.RD
    assert set(fast.answer[0]) == set(slow.answer[0])
    assert {r.to_text() for r in fast.answer[0]} == {"10.0.1.5", "10.0.1.6"}
    assert fast.answer[0].ttl == 600


@pytest.mark.parametrize(
    "wire",
    [
        query("example.com"),  # not ours: forwarded
        query("5.1.0.10.in-addr.arpa", "PTR"),  # PTR: general path
        query("web", use_edns=0),  # EDNS: general path
        query("web")[:-1],  # truncated
        query("web")[:2] + struct.pack("!H", 0x8000) + query("web")[4:],  # a response
        query("web")[:4] + struct.pack("!H", 2) + query("web")[6:],  # two questions claimed
        query("web")[:-2] + struct.pack("!H", 3),  # class CH
        b"",
        b"\x00" * 11,
    ],
)
def test_fast_path_declines_anything_unusual(responder: Responder, wire: bytes) -> None:
    assert responder.answer_fast(wire, NETS) is None


def test_fast_path_declines_compressed_question(responder: Responder) -> None:
    wire = bytearray(query("web"))
    wire[12:16] = b"\xc0\x0c\x00\x00"  # pointer instead of labels
    assert responder.answer_fast(bytes(wire), NETS) is None


def test_parse_keeps_question_bytes_and_lowercases_the_key() -> None:
    wire = query("WeB.1.T1", "AAAA")
    parsed = parse_simple_query(wire)
    assert parsed is not None
    assert parsed.key == b"\x03web\x011\x02t1\x00"
    assert parsed.qtype == 28
    assert parsed.id == 4242
    assert parsed.question == wire[12:]


def test_too_many_tasks_for_udp_truncates_on_general_path() -> None:
    eps = tuple(
        endpoint(f"10.0.3.{i}", task_id=f"t{i}", service="big", slot=i, network_id=FRONT)
        for i in range(1, 60)
    )
    r = Responder(Forwarder([]))
    svc = ServiceEndpoint("id-big", "big", EndpointMode.DNSRR, ())
    r.index = RecordIndex.from_view(NetworkView(endpoints=eps, services=(svc,)))
    wire = query("tasks.big")
    assert r.answer_fast(wire, NETS) is None
    reply = dns.message.from_wire(asyncio.run(r.respond(wire, NETS)) or b"")
    assert reply.flags & dns.flags.TC
    assert not reply.answer
    over_tcp = dns.message.from_wire(asyncio.run(r.respond(wire, NETS, tcp=True)) or b"")
    assert len(over_tcp.answer[0]) == 59


def test_ptr_answers_on_general_path(responder: Responder) -> None:
    reply = dns.message.from_wire(
        asyncio.run(responder.respond(query("2.1.0.10.in-addr.arpa", "PTR"), NETS)) or b""
    )
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.answer[0][0].to_text() == "web."


def test_edns_query_for_our_name_is_answered(responder: Responder) -> None:
    reply = dns.message.from_wire(
        asyncio.run(responder.respond(query("web", use_edns=0), NETS)) or b""
    )
    assert [r.to_text() for r in reply.answer[0]] == ["10.0.1.2"]


def test_unknown_name_without_upstream_is_servfail(responder: Responder) -> None:
    reply = dns.message.from_wire(asyncio.run(responder.respond(query("example.com"), NETS)) or b"")
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert reply.id == 4242


def test_garbage_gets_no_reply(responder: Responder) -> None:
    assert asyncio.run(responder.respond(b"\x01\x02", NETS)) is None


def test_malformed_query_gets_formerr(responder: Responder) -> None:
    wire = query("web")[:-3]
    reply = dns.message.from_wire(asyncio.run(responder.respond(wire, NETS)) or b"")
    assert reply.rcode() == dns.rcode.FORMERR
    assert reply.id == 4242


def test_other_opcodes_are_not_implemented(responder: Responder) -> None:
    q = dns.message.make_query("web", "A")
    q.set_opcode(dns.opcode.STATUS)
    reply = dns.message.from_wire(asyncio.run(responder.respond(q.to_wire(), NETS)) or b"")
    assert reply.rcode() == dns.rcode.NOTIMP


@pytest.mark.parametrize("rdtype", ["A", "AAAA", "MX", "TXT", "ANY"])
def test_every_owned_name_answers_the_same_on_both_paths(responder: Responder, rdtype: str) -> None:
    names = ["web", "db", "agent", "tasks.web", "tasks.db", "web.1.t1", "web.2.t2", "db.1"]
    names += ["db.2.t4", "agent.nodeX", "agent.nodex.t5", "tasks.agent"]
    for name in names:
        for spelled in (name, name.upper() + "."):
            wire = query(spelled, rdtype, qid=7)
            fast, slow = responder.answer_fast(wire, NETS), general(responder, wire)
            assert fast is not None, spelled
            assert slow is not None, spelled
            f, s = dns.message.from_wire(fast), dns.message.from_wire(slow)
            assert (f.id, f.flags, f.rcode(), f.question) == (s.id, s.flags, s.rcode(), s.question)
            assert [set(r) for r in f.answer] == [set(r) for r in s.answer], spelled
