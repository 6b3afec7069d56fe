"""One HTTP/1.1 exchange whose request and answer fit in memory: the CLI's JSON calls to the
Engine API and its version ping (``engine.EngineClient.call``), framed by h11.

The CLI's start is measured (``bench/run.py cli``), so these calls do not go through the
standard library's http.client, which costs a sixth of a ``swarmpy node ls`` there: it
parses every answer's headers with the email package and loads ssl (OpenSSL) for any
connection, also over the unix socket. h11, the HTTP/1.1 state machine httpx is built on,
costs about half as much and is maintained: it writes the request, frames the answer as RFC
9112 section 6.3 frames it (Content-Length, chunks, or the end of the connection) and refuses
what is not HTTP/1.x (``h11.RemoteProtocolError``: a ``BadAnswer`` here), including a head
longer than its 16 KiB limit. Streams, file uploads and hijacked connections go through
http.client (``EngineClient.open``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import h11

if TYPE_CHECKING:
    import io

READ_SIZE = 65536


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


class Exchange:
    """A request, written as ``request`` for the caller to send, and ``read_answer`` for the
    answer to it: one h11 connection, since h11 frames an answer by the request it answers
    (a HEAD's has no body)."""

    def __init__(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes | None
    ) -> None:
        """ValueError for a request h11 refuses to write: a target or header holding a space
        or control character, whose line breaks would let a value smuggle in headers of its
        own (http.client refuses them too)."""
        self._conn = h11.Connection(our_role=h11.CLIENT)
        # Values as http.client encodes them (latin-1); h11 takes str only in ASCII.
        fields = [(name.encode("ascii"), value.encode("latin-1")) for name, value in headers]
        try:
            events: list[h11.Event] = [h11.Request(method=method, target=target, headers=fields)]
            if body:
                events.append(h11.Data(data=body))
            events.append(h11.EndOfMessage())
            self.request = b"".join(self._conn.send(event) or b"" for event in events)
        except h11.LocalProtocolError as exc:
            raise ValueError(f"invalid request {method} {target!r}: {exc}") from None

    def read_answer(self, reader: io.BufferedIOBase) -> Answer:
        """The answer, read from ``reader`` to its end. Interim answers (1xx: 100 Continue)
        are skipped as http.client skips them; 101 would switch protocols, which h11 refuses
        since the request did not ask for it."""
        conn = self._conn
        response: h11.Response | None = None
        body = bytearray()
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise BadAnswer(str(exc)) from None
            if event is h11.NEED_DATA:
                data = reader.read1(READ_SIZE)
                # h11 calls a close with nothing of an answer a protocol error; http.client
                # calls it a disconnection, which a TLS daemon refusing our certificate is.
                unanswered = conn.their_state is h11.SEND_RESPONSE and not conn.trailing_data[0]
                if not data and unanswered:
                    raise Disconnected("Remote end closed connection without response")
                conn.receive_data(data)
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and response is not None:
                return Answer(
                    response.status_code,
                    response.reason.decode("latin-1"),
                    _joined(response.headers),
                    bytes(body),
                )
            elif isinstance(event, h11.ConnectionClosed):
                raise Disconnected("Remote end closed connection without response")


def _joined(headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in headers:
        key, text = name.decode("latin-1"), value.decode("latin-1")
        joined[key] = f"{joined[key]}, {text}" if key in joined else text
    return joined
