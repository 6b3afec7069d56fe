"""One HTTP/1.1 exchange whose request and answer fit in memory: the CLI's JSON calls to the
Engine API and its version ping (``engine.EngineClient.call``).

The CLI's start is measured (``bench/run.py cli``). The standard library's http.client costs
a sixth of a ``swarmpy node ls`` there: it parses every answer's headers with the email
package and loads ssl (OpenSSL) for any connection; h11, the state machine httpx is built on,
costs a tenth. The answer to a JSON call is HTTP at its plainest, a status line, headers and a
body framed by its Content-Length, by chunks, or by the end of the connection (RFC 9112
section 6.3), and that is all this module reads, strictly: anything else is a ``BadAnswer``.
Streams, file uploads and hijacked connections go through http.client (``EngineClient.open``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO, NamedTuple

MAX_LINE = 65536  # http.client's limits on a line and on the number of headers
MAX_HEADERS = 100
# Bytes a request line or a header may not hold (http.client refuses them too): they would
# end the line early and let a value smuggle in headers of its own.
_FORBIDDEN = frozenset("\r\n\0")


class BadAnswer(Exception):
    """An answer that is not HTTP/1.x as RFC 9112 frames it."""


class Disconnected(ConnectionResetError):
    """The daemon closed the connection before it answered (http.client's
    RemoteDisconnected)."""


class Answer(NamedTuple):
    """A whole answer: its status, reason, headers (names in lower case; repeated headers
    joined with ", " as http.client's getheader joins them) and body."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes


def request_bytes(
    method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes | None
) -> bytes:
    """The request as sent: ValueError for a target or header http.client would refuse."""
    if " " in target or any(c in _FORBIDDEN or c == "\x7f" for c in target):
        raise ValueError(f"invalid URL {target!r}: it holds a space or control character")
    for name, value in headers:
        if not name or ":" in name or any(c in _FORBIDDEN for c in name + value):
            raise ValueError(f"invalid header {name!r}: {value!r}")
    head = f"{method} {target} HTTP/1.1\r\n".encode("ascii")
    head += "".join(f"{name}: {value}\r\n" for name, value in headers).encode("latin-1")
    return head + b"\r\n" + (body or b"")


def _line(reader: BinaryIO) -> bytes:
    line = reader.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise BadAnswer("a line longer than 65536 bytes")
    return line


def _status(reader: BinaryIO) -> tuple[int, str]:
    line = _line(reader)
    if not line:
        raise Disconnected("Remote end closed connection without response")
    version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(code) != 3 or not "100" <= code <= "999":
        raise BadAnswer(f"bad status line {line[:80]!r}")
    return int(code), reason.strip()


def _headers(reader: BinaryIO) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = _line(reader)
        if line in (b"\r\n", b"\n"):
            return headers
        if not line.endswith(b"\n"):
            raise BadAnswer("the answer ends within its headers")
        text = line.decode("latin-1").rstrip("\r\n")
        name, colon, value = text.partition(":")
        # A line folded onto the one before is obsolete (RFC 9112 section 5.2); "name :"
        # is forbidden (section 5.1).
        if not colon or not name or name != name.strip():
            raise BadAnswer(f"bad header line {text[:80]!r}")
        key, value = name.lower(), value.strip(" \t")
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    raise BadAnswer(f"more than {MAX_HEADERS} headers")


def _exactly(reader: BinaryIO, n: int) -> bytes:
    data = reader.read(n)
    if len(data) != n:
        raise BadAnswer(f"the answer ends after {len(data)} of its {n} bytes")
    return data


def _chunks(reader: BinaryIO) -> bytes:
    body = bytearray()
    while True:
        line = _line(reader)
        size = line.split(b";", 1)[0].strip()
        if not size or any(c not in b"0123456789abcdefABCDEF" for c in size):
            raise BadAnswer(f"bad chunk size line {line[:80]!r}")
        n = int(size, 16)
        if n == 0:
            break
        body += _exactly(reader, n)
        if _line(reader) not in (b"\r\n", b"\n"):
            raise BadAnswer("a chunk longer than its size")
    # The trailer section, up to the empty line (or the end, which http.client takes too).
    for _ in range(MAX_HEADERS + 1):
        if _line(reader) in (b"\r\n", b"\n", b""):
            return bytes(body)
    raise BadAnswer(f"more than {MAX_HEADERS} trailer lines")


def _body(reader: BinaryIO, method: str, status: int, headers: dict[str, str]) -> bytes:
    """The body as RFC 9112 section 6.3 frames it."""
    if method == "HEAD" or status in (204, 304):
        return b""
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if coding.rsplit(",", 1)[-1].strip().lower() == "chunked":
            return _chunks(reader)
        return reader.read()  # another final coding: the body runs to the end
    length = headers.get("content-length")
    if length is None:
        return reader.read()
    lengths = {part.strip() for part in length.split(",")}
    if len(lengths) != 1 or not (value := lengths.pop()).isdigit():
        raise BadAnswer(f"bad Content-Length {length!r}")
    return _exactly(reader, int(value))


def read_answer(reader: BinaryIO, method: str) -> Answer:
    """The answer to a ``method`` request, read to its end. Interim answers (1xx: 100
    Continue) are skipped as http.client skips them; 101 would switch protocols, which a
    request of this kind never asks for."""
    while True:
        status, reason = _status(reader)
        headers = _headers(reader)
        if status == 101:
            raise BadAnswer("101 Switching Protocols to a request that did not ask for it")
        if status >= 200:
            return Answer(status, reason, headers, _body(reader, method, status, headers))
