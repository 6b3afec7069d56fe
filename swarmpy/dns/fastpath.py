"""Hand-written wire format for the query nearly every container sends: one question, no
EDNS, no compression. Building dnspython message objects costs ~5x the whole answer, so
this path parses the header and name by hand and assembles the answer bytes directly.
Anything it does not recognise returns None and goes the general (dnspython) way.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from swarmpy.dns.records import TYPE_PTR, RecordIndex, wire_name

_HEADER = struct.Struct("!HHHHHH")
_QTAIL = struct.Struct("!HH")
_CLASS_IN = 1
_TYPE_A = 1

# Flag bits of the DNS header.
QR = 0x8000
AA = 0x0400
TC = 0x0200
RD = 0x0100
RA = 0x0080
_OPCODE = 0x7800
_FORMERR = 1
# Every answer we own claims authority and recursion, as Docker's resolver does.
ANSWER_FLAGS = QR | AA | RA

# A classic (non-EDNS) UDP answer must fit 512 bytes; bigger ones take the general path,
# which truncates properly.
MAX_UDP = 512

_A_RR_PREFIX = struct.Struct("!HHHIH")  # name pointer, type, class, ttl, rdlength
_POINTER_TO_QNAME = 0xC00C


@dataclass(frozen=True, slots=True)
class SimpleQuery:
    id: int
    flags: int
    # The question name as it arrived, lowercased, still in wire form and not validated:
    # only an exact match against a name we own (built well-formed) is ever answered here.
    key: bytes
    qtype: int
    question: bytes  # the question section as sent, echoed back verbatim


def parse_simple_query(data: bytes) -> SimpleQuery | None:
    if len(data) < 17:
        return None
    qid, flags, qd, an, ns, ar = _HEADER.unpack_from(data)
    if flags & (QR | _OPCODE | TC) or qd != 1 or an or ns or ar:
        return None
    # With one question and nothing else, the question is the rest of the message and its
    # last four bytes are qtype and qclass.
    qtype, qclass = _QTAIL.unpack_from(data, len(data) - 4)
    if qclass != _CLASS_IN:
        return None
    return SimpleQuery(qid, flags, data[12:-4].lower(), qtype, data[12:])


def build_answer(query: SimpleQuery, addresses: tuple[str, ...], ttl: int) -> bytes | None:
    """A NOERROR answer carrying ``addresses`` as A records (none for other types), or None
    if it would not fit a classic UDP message."""
    if addresses and query.qtype != _TYPE_A:
        return None
    flags = ANSWER_FLAGS | (query.flags & RD)
    parts = [_HEADER.pack(query.id, flags, 1, len(addresses), 0, 0), query.question]
    rr = _A_RR_PREFIX.pack(_POINTER_TO_QNAME, _TYPE_A, _CLASS_IN, ttl, 4)
    for ip in addresses:
        parts.append(rr)
        parts.append(socket.inet_aton(ip))
    wire = b"".join(parts)
    return wire if len(wire) <= MAX_UDP else None


def build_ptr_answer(query: SimpleQuery, target: str, ttl: int) -> bytes | None:
    """A NOERROR answer carrying one PTR record to ``target``, or None if the target cannot
    be written as a plain name (the general path decides then)."""
    rdata = wire_name(target)
    if rdata is None:
        return None
    flags = ANSWER_FLAGS | (query.flags & RD)
    wire = b"".join(
        (
            _HEADER.pack(query.id, flags, 1, 1, 0, 0),
            query.question,
            _A_RR_PREFIX.pack(_POINTER_TO_QNAME, TYPE_PTR, _CLASS_IN, ttl, len(rdata)),
            rdata,
        )
    )
    return wire if len(wire) <= MAX_UDP else None


def answer_owned(
    index: RecordIndex, data: bytes, networks: Sequence[str], ptr: bool = True
) -> bytes | None:
    """The answer for a plain query about one of our names, or None when the general path
    must decide (an unusual query, a name we do not own, an oversized answer; and PTR
    queries unless ``ptr``)."""
    query = parse_simple_query(data)
    if query is None:
        return None
    found = index.answer_wire(query.key, query.qtype, networks)
    if found is None:
        return None
    if found.ptr is not None:
        return build_ptr_answer(query, found.ptr, found.ttl) if ptr else None
    return build_answer(query, found.addresses, found.ttl)


def build_format_error(data: bytes) -> bytes | None:
    """FORMERR for a query dnspython cannot parse, so the client gives up at once instead of
    waiting for its timeout; None if it is not even a DNS query header."""
    if len(data) < 12:
        return None
    qid, flags = struct.unpack_from("!HH", data)
    if flags & QR:
        return None
    return _HEADER.pack(qid, QR | RA | (flags & (_OPCODE | RD)) | _FORMERR, 0, 0, 0, 0)
