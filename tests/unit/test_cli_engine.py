"""The CLI's Engine API client without a daemon: where -H and the environment point it, which
TLS files it takes (Docker's rules), and how the daemon's errors come out; then against a
small HTTP server on a unix socket: version negotiation, the path sent, errors and streams."""

from __future__ import annotations

import http.client
import http.server
import json
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from swarmpy.cli import engine
from swarmpy.cli.engine import Endpoint, EngineClient, Options, TLSFiles, error_from, resolve
from swarmpy.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    SwarmpyError,
    Unavailable,
)

# ---------------------------------------------------------------- where to connect


def test_default_is_the_daemons_unix_socket() -> None:
    assert resolve(Options(), {}) == Endpoint(
        host="unix:///run/swarmpy/swarmpy.sock", path="/run/swarmpy/swarmpy.sock"
    )


def test_the_clients_constants_are_the_daemons() -> None:
    from swarmpy import config, model
    from swarmpy.cli import network

    assert engine.DEFAULT_HOST == config.DEFAULT_HOST
    assert network.MTU_OPTION == model.MTU_OPTION  # spelt out there for the same reason


def test_flag_wins_over_swarmpy_host() -> None:
    env = {"SWARMPY_HOST": "unix:///env.sock"}
    assert resolve(Options(), env).path == "/env.sock"
    assert resolve(Options(host="unix:///flag.sock"), env).path == "/flag.sock"
    assert resolve(Options(host="/bare.sock"), env).path == "/bare.sock"


def test_plain_tcp_takes_dockers_plain_port() -> None:
    ep = resolve(Options(host="tcp://10.0.0.1"), {})
    assert (ep.address, ep.tls) == (("10.0.0.1", 2375), None)
    assert resolve(Options(host="tcp://[::1]:99"), {}).address == ("::1", 99)
    assert resolve(Options(host="tcp://[::1]"), {}).address == ("::1", 2375)


@pytest.mark.parametrize(
    "host", ["tcp://", "tcp://h:port", "tcp://h:0", "tcp://h:70000", "ssh://h", "unix://rel"]
)
def test_bad_addresses_are_refused_in_one_line(host: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid daemon address"):
        resolve(Options(host=host), {})


def _cert_dir(tmp_path: Path, *names: str) -> Path:
    for name in names:
        (tmp_path / name).write_text("pem")
    return tmp_path


def test_tlsverify_uses_the_cert_path_files_as_docker(tmp_path: Path) -> None:
    certs = _cert_dir(tmp_path, "ca.pem", "cert.pem", "key.pem")
    env = {"SWARMPY_CERT_PATH": str(certs)}
    ep = resolve(Options(host="tcp://h", tlsverify=True), env)
    assert ep.address == ("h", 2376)
    assert ep.tls == TLSFiles(
        verify=True, ca=certs / "ca.pem", cert=certs / "cert.pem", key=certs / "key.pem"
    )


def test_swarmpy_tls_verify_turns_verification_on(tmp_path: Path) -> None:
    env = {"SWARMPY_TLS_VERIFY": "1", "SWARMPY_CERT_PATH": str(tmp_path)}
    tls = resolve(Options(host="tcp://h:1"), env).tls
    assert tls is not None
    assert tls.verify
    # Without a client pair in the directory, none is sent (the daemon will say no).
    assert (tls.ca, tls.cert, tls.key) == (tmp_path / "ca.pem", None, None)
    assert resolve(Options(host="tcp://h:1"), {"SWARMPY_TLS_VERIFY": ""}).tls is None


def test_cert_path_defaults_to_home(tmp_path: Path) -> None:
    tls = resolve(Options(host="tcp://h:1", tlsverify=True), {"HOME": str(tmp_path)}).tls
    assert tls is not None
    assert tls.ca == tmp_path / ".swarmpy" / "ca.pem"


def test_tls_without_verify_checks_no_ca() -> None:
    tls = resolve(Options(host="tcp://h:1", tls=True), {"HOME": "/nonexistent"}).tls
    assert tls == TLSFiles(verify=False)


def test_flags_name_the_files(tmp_path: Path) -> None:
    options = Options(
        host="tcp://h:1", tlsverify=True, tlscacert="/c", tlscert="/cert", tlskey="/key"
    )
    assert resolve(options, {}).tls == TLSFiles(
        verify=True, ca=Path("/c"), cert=Path("/cert"), key=Path("/key")
    )
    with pytest.raises(InvalidArgument, match="go together"):
        resolve(Options(host="tcp://h:1", tlsverify=True, tlscert="/cert"), {})


def test_unreadable_tls_files_are_one_line_errors(tmp_path: Path) -> None:
    files = TLSFiles(verify=True, ca=tmp_path / "missing.pem")
    with pytest.raises(InvalidArgument, match="could not read the TLS files"):
        engine.ssl_context(files)


def test_a_unix_host_ignores_tls_flags() -> None:
    assert resolve(Options(host="unix:///s", tlsverify=True), {}).tls is None


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidArgument),
        (404, NotFound),
        (409, AlreadyExists),
        (503, Unavailable),
        (500, SwarmpyError),
    ],
)
def test_error_bodies_become_remote_errors_of_their_status(
    status: int, cls: type[SwarmpyError]
) -> None:
    error = error_from(status, b'{"message": "No such node: x"}', "reason")
    assert type(error) is cls
    assert error.remote
    assert engine.error_line(error) == "Error response from daemon: No such node: x"


def test_an_error_without_json_keeps_its_text_or_status() -> None:
    assert error_from(502, b"bad gateway\n", "Bad Gateway").message == "bad gateway"
    assert error_from(500, b"", "Internal Server Error").message == "500 Internal Server Error"
    assert error_from(400, b'{"message": "a\\nb"}', "").message == "a\\nb"  # one line


def test_for_each_goes_on_past_failures_and_reports_each(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import typer

    done = []

    def act(ref: str) -> None:
        if ref.startswith("bad"):
            missing = NotFound(f"node {ref} not found")
            missing.remote = True  # the daemon's; docker's client words it
            raise missing
        if ref.startswith("odd"):
            raise InvalidArgument(f"cannot act on {ref}")  # the CLI's own: as it is
        done.append(ref)

    with pytest.raises(typer.Exit) as info:
        engine.for_each(["bad1", "ok", "odd", "bad2"], act, kind="node")
    assert info.value.exit_code == 1
    assert done == ["ok"]
    assert capsys.readouterr().err == (
        "Error: No such node: bad1\ncannot act on odd\nError: No such node: bad2\n"
    )


# ---------------------------------------------------------------- against a server


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[str] = []
    headers_seen: list[dict[str, str]] = []
    api_version = "1.40"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in {"Api-Version": self.api_version, **(headers or {})}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        type(self).seen.append(self.path)
        if self.path == "/_ping":
            self._send(200, b"OK")
        elif self.path.split("?")[0].endswith("/nodes"):
            self._send(200, b'[{"ID": "n1"}]', {"Content-Type": "application/json"})
        elif self.path.startswith("/v1.40/events"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for doc in ({"Action": "create"}, {"Action": "remove"}):
                line = json.dumps(doc).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._send(404, b'{"message": "No such node: x"}', {"Content-Type": "application/json"})

    def do_POST(self) -> None:
        type(self).seen.append(self.path)
        type(self).headers_seen.append(dict(self.headers.items()))
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        # Chunked, as aiohttp frames an answer it streams.
        self.send_response(201)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body) + 2, b"[" + body + b"]"))


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def served(tmp_path: Path) -> Iterator[EngineClient]:
    path = tmp_path / "api.sock"
    _Handler.seen = []
    _Handler.headers_seen = []
    server = _UnixServer(str(path), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield EngineClient(Endpoint(host=f"unix://{path}", path=str(path)), timeout=5.0)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_negotiates_the_older_version_and_prefixes_paths(served: EngineClient) -> None:
    assert served.get("/nodes", filters=engine.filters_json({"role": ["manager"]})) == [
        {"ID": "n1"}
    ]
    assert _Handler.seen[0] == "/_ping"
    assert _Handler.seen[1].startswith("/v1.40/nodes?filters=")
    served.get("/nodes")
    assert _Handler.seen.count("/_ping") == 1, "one ping per client"


def test_an_error_status_raises_the_daemons_message(served: EngineClient) -> None:
    with pytest.raises(NotFound) as info:
        served.get(engine.path_of("nodes", "x/../y"))
    assert info.value.message == "No such node: x"
    assert _Handler.seen[-1] == "/v1.40/nodes/x%2F..%2Fy"


def test_a_call_sends_the_headers_http_client_sent(served: EngineClient) -> None:
    assert served.post("/nodes/n1/update", {"Role": "worker"}, version=3) == [{"Role": "worker"}]
    assert served.post("/swarm/leave") == []
    with_body, without = _Handler.headers_seen
    assert _Handler.seen[1:] == ["/v1.40/nodes/n1/update?version=3", "/v1.40/swarm/leave"]
    assert with_body["Host"] == without["Host"] == "localhost"
    assert with_body["Content-Type"] == "application/json"
    assert with_body["Content-Length"] == str(len(b'{"Role": "worker"}'))
    assert without["Content-Length"] == "0"
    assert "Content-Type" not in without


def test_streams_come_line_by_line(served: EngineClient) -> None:
    assert list(served.json_lines("GET", "/events")) == [
        {"Action": "create"},
        {"Action": "remove"},
    ]


def test_no_daemon_is_dockers_sentence(tmp_path: Path) -> None:
    path = tmp_path / "none.sock"
    client = EngineClient(Endpoint(host=f"unix://{path}", path=str(path)))
    with pytest.raises(Unavailable) as info:
        client.get("/nodes")
    assert info.value.message == (
        f"Cannot connect to the swarmpy daemon at unix://{path}. Is the swarmpy daemon running?"
    )


def test_a_stream_cut_off_mid_chunk_is_an_unexpected_eof() -> None:
    # `service logs -f` on a follower whose relaying leader died printed http.client's
    # traceback (IncompleteRead); docker says "unexpected EOF".
    unread = bytearray([1, 0, 0, 0, 0, 0, 0, 3]) + b"hi\n"

    def read(n: int) -> bytes:
        if not unread:
            raise http.client.IncompleteRead(b"")
        data = bytes(unread[:n])
        del unread[:n]
        return data

    frames = engine.demux(read)
    assert next(frames) == (1, b"hi\n")
    with pytest.raises(Unavailable) as cut:
        next(frames)
    assert (cut.value.message, cut.value.remote) == ("unexpected EOF", False)
