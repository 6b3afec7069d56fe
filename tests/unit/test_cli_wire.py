"""The CLI's one-exchange HTTP/1.1 on h11 (swarmpy/cli/wire.py): answers framed as RFC 9112
frames them, anything else refused, and requests that cannot smuggle headers and carry the
headers http.client sent."""

from __future__ import annotations

import io

import pytest

from swarmpy.cli import wire
from swarmpy.cli.engine import Endpoint, EngineClient, TLSFiles


def answer(raw: bytes, method: str = "GET") -> wire.Answer:
    exchange = wire.Exchange(method, "/v1.41/nodes", [("Host", "localhost")], None)
    return exchange.read_answer(io.BufferedReader(io.BytesIO(raw)))


class EndlessHeaders(io.BufferedIOBase):
    """A peer that sends a status line, then header lines forever."""

    def __init__(self) -> None:
        self.head = b"HTTP/1.1 200 OK\r\n"

    def read1(self, size: int = -1) -> bytes:
        data, self.head = self.head + b"X-Filler: y\r\n" * 1000, b""
        return data


def test_a_content_length_answer_keeps_status_headers_and_body() -> None:
    got = answer(
        b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 7\r\n"
        b"Content-Type: application/json\r\n\r\n[1, 2]\nleft over"
    )
    assert got == wire.Answer(
        200,
        "OK",
        {"api-version": "1.41", "content-length": "7", "content-type": "application/json"},
        b"[1, 2]\n",
    )


def test_a_chunked_answer_is_joined_past_extensions_and_trailers() -> None:
    got = answer(
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;name=value\r\n{"mes\r\n14\r\nsage": "No such node\r\n2\r\n"}\r\n'
        b"0\r\nX-Trailer: yes\r\n\r\n"
    )
    assert (got.status, got.reason, got.body) == (404, "Not Found", b'{"message": "No such node"}')


def test_an_answer_without_length_runs_to_the_end() -> None:
    assert answer(b"HTTP/1.0 200 OK\r\n\r\n{}").body == b"{}"


def test_interim_answers_are_skipped() -> None:
    got = answer(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"
    )
    assert (got.status, got.body) == (201, b"{}")


@pytest.mark.parametrize(("method", "status"), [("HEAD", 200), ("GET", 204), ("GET", 304)], ids=str)
def test_head_204_and_304_have_no_body_whatever_their_length(method: str, status: int) -> None:
    raw = b"HTTP/1.1 %d X\r\nContent-Length: 10\r\n\r\n" % status
    assert answer(raw, method).body == b""


def test_repeated_headers_are_joined_as_http_client_joins_them() -> None:
    got = answer(b"HTTP/1.1 200 OK\r\nWarning: a\r\nwarning: b\r\nContent-Length: 0\r\n\r\n")
    assert got.headers["warning"] == "a, b"


def test_a_folded_header_is_read_as_one_line() -> None:
    # RFC 9112 section 5.2: a user agent replaces obsolete line folding with a space.
    got = answer(b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n")
    assert got.headers["x"] == "a folded"


def test_endless_headers_are_refused_not_buffered() -> None:
    exchange = wire.Exchange("GET", "/v1.41/nodes", [("Host", "localhost")], None)
    with pytest.raises(wire.BadAnswer):
        exchange.read_answer(EndlessHeaders())


def test_a_closed_connection_before_any_answer_is_a_disconnection() -> None:
    with pytest.raises(wire.Disconnected):
        answer(b"")


@pytest.mark.parametrize(
    "raw",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: tcp\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    ],
    ids=[
        "not-http",
        "two-digit-status",
        "http2",
        "short-body",
        "two-lengths",
        "negative-length",
        "header-without-colon",
        "ends-in-headers",
        "bad-chunk-size",
        "chunk-overrun",
        "unasked-upgrade",
        "unknown-coding",
    ],
)
def test_malformed_answers_are_refused(raw: bytes) -> None:
    with pytest.raises(wire.BadAnswer):
        answer(raw)


def test_a_request_is_its_line_headers_and_body() -> None:
    headers = [("Host", "localhost"), ("Accept-Encoding", "identity"), ("Content-Length", "2")]
    sent = wire.Exchange("POST", "/v1.41/nodes?x=1", headers, b"{}").request
    assert sent == (
        b"POST /v1.41/nodes?x=1 HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: identity\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/nodes HTTP/1.1\r\nX-Injected: 1", []),
        ("/a b", []),
        ("/nodes", [("X-Registry-Auth", "abc\r\nX-Injected: 1")]),
        ("/nodes", [("Bad:Name", "v")]),
    ],
    ids=["crlf-in-target", "space-in-target", "crlf-in-value", "colon-in-name"],
)
def test_a_request_cannot_smuggle_lines(target: str, headers: list[tuple[str, str]]) -> None:
    with pytest.raises(ValueError, match="invalid request"):
        wire.Exchange("GET", target, [("Host", "localhost"), *headers], None)


@pytest.mark.parametrize(
    ("endpoint", "host"),
    [
        (Endpoint(host="unix:///run/s.sock", path="/run/s.sock"), "localhost"),
        (Endpoint(host="tcp://10.0.0.1:2375", address=("10.0.0.1", 2375)), "10.0.0.1:2375"),
        (Endpoint(host="tcp://d", address=("d", 80)), "d"),
        (Endpoint(host="tcp://d", address=("d", 443), tls=TLSFiles(verify=False)), "d"),
        (Endpoint(host="tcp://d", address=("d", 80), tls=TLSFiles(verify=False)), "d:80"),
        (Endpoint(host="tcp://[::1]:2376", address=("::1", 2376)), "[::1]:2376"),
    ],
    ids=["unix", "tcp", "http-port", "https-port", "tls-on-80", "ipv6"],
)
def test_the_host_header_is_the_one_http_client_sent(endpoint: Endpoint, host: str) -> None:
    assert EngineClient(endpoint)._host_header() == host
