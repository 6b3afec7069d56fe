"""The CLI's client of the Docker Engine API: HTTP over the daemon's unix socket, or over TCP
with TLS (``-H tcp://host:2376 --tlsverify``), as Docker's CLI talks to dockerd.

The CLI's start is measured (``bench/run.py cli``), and importing httpx alone costs more than
the whole budget of a ``swarmpy node ls``: a request whose body and answer fit in memory
(every JSON call, and the version ping) is one exchange of ``cli/wire.py`` on a connection
of its own; streams, file uploads, HEAD's headers and hijacked connections go through the
standard library's http.client, imported only then (wire.py says why). A command gets its
``EngineClient`` from ``connect()``; the first request pings the daemon to settle the API
version (Docker's negotiation: the lower of the two); errors come back as swarmpy errors
with the daemon's one-line message, printed as "Error response from daemon: ..." as
Docker's CLI does.
"""

from __future__ import annotations

import functools
import json
import os
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn
from urllib.parse import quote, urlencode

from swarmpy.cli import wire
from swarmpy.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    SwarmpyError,
    Unavailable,
    one_line,
)

if TYPE_CHECKING:
    import http.client
    import ssl

API_VERSION = "1.41"  # the newest this client speaks
# The daemon's default -H (swarmpy.config.DEFAULT_HOST, equal by a unit test): written out here
# as docker/cli has its own, since the daemon's configuration module is not the CLI's to load.
DEFAULT_HOST = "unix:///run/swarmpy/swarmpy.sock"
# Docker's client defaults: 2376 is TLS's port, 2375 plain HTTP's.
TLS_PORT = 2376
PLAIN_PORT = 2375
# Docker's file names in its certificate directory (DOCKER_CERT_PATH, ~/.docker).
CA_FILE, CERT_FILE, KEY_FILE = "ca.pem", "cert.pem", "key.pem"
DEFAULT_CERT_DIR = ".swarmpy"  # under $HOME
UNIX_HOST_HEADER = "localhost"  # the Host header Docker's CLI sends over a unix socket
TIMEOUT_S = 60.0

ERRORS_BY_STATUS: dict[int, type[SwarmpyError]] = {
    400: InvalidArgument,
    403: PermissionDenied,
    404: NotFound,
    409: AlreadyExists,
    503: Unavailable,
}


# This module's values are NamedTuples rather than frozen dataclasses: as immutable, and
# building the classes costs a tenth as much, which every command pays at its start.
class TLSFiles(NamedTuple):
    """The client side of TLS: ``verify`` checks the daemon's certificate against ``ca``;
    ``cert``/``key`` prove who we are (the daemon's --tlsverify requires them)."""

    verify: bool
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None


class Endpoint(NamedTuple):
    """Where the daemon is: a unix socket ``path``, or ``address`` over TCP (TLS when ``tls``)."""

    host: str  # as the user gave it, for messages
    path: str = ""
    address: tuple[str, int] = ("", 0)
    tls: TLSFiles | None = None


class Options(NamedTuple):
    """The CLI's global connection options, before the environment fills them in."""

    host: str = ""
    tls: bool = False
    tlsverify: bool = False
    tlscacert: str = ""
    tlscert: str = ""
    tlskey: str = ""


def _env_flag(value: str | None) -> bool:
    # Docker: DOCKER_TLS_VERIFY set to anything but the empty string turns verification on.
    return bool(value)


def resolve(options: Options, env: Mapping[str, str]) -> Endpoint:
    """The endpoint of ``options`` with SWARMPY_HOST, SWARMPY_TLS_VERIFY and SWARMPY_CERT_PATH
    (Docker's DOCKER_* variables, same meaning) filling in what the flags left unset."""
    host = options.host or env.get("SWARMPY_HOST") or DEFAULT_HOST
    scheme, sep, rest = host.partition("://")
    if not sep:
        scheme, rest = ("unix", host) if host.startswith("/") else ("tcp", host)
    if scheme == "unix":
        if not rest.startswith("/"):
            raise InvalidArgument(f"invalid daemon address {host!r}: the path must be absolute")
        return Endpoint(host=f"unix://{rest}", path=rest)
    if scheme not in ("tcp", "https", "http"):
        raise InvalidArgument(
            f"invalid daemon address {host!r}: use unix:///path or tcp://host:port"
        )
    verify = options.tlsverify or _env_flag(env.get("SWARMPY_TLS_VERIFY"))
    use_tls = verify or options.tls or scheme == "https"
    address = _address(host, rest.rstrip("/"), TLS_PORT if use_tls else PLAIN_PORT)
    if not use_tls:
        return Endpoint(host=host, address=address)
    cert_dir = Path(
        env.get("SWARMPY_CERT_PATH") or Path(env.get("HOME", "/root")) / DEFAULT_CERT_DIR
    )
    return Endpoint(host=host, address=address, tls=tls_files(options, verify, cert_dir))


def _address(host: str, rest: str, default_port: int) -> tuple[str, int]:
    name, sep, port = rest.rpartition(":")
    if not sep or rest.endswith("]"):  # no port (an IPv6 literal's colons are not one)
        name, port = rest, str(default_port)
    name = name.strip("[]")  # an IPv6 literal
    if not name or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidArgument(f"invalid daemon address {host!r}: expected tcp://host:port")
    return name, int(port)


def tls_files(options: Options, verify: bool, cert_dir: Path) -> TLSFiles:
    """Docker's rules: files given by flag must exist; otherwise the certificate directory's
    ca.pem (needed to verify) and cert.pem/key.pem (used when both are there)."""
    ca = Path(options.tlscacert) if options.tlscacert else cert_dir / CA_FILE
    if options.tlscert or options.tlskey:
        if not (options.tlscert and options.tlskey):
            raise InvalidArgument("--tlscert and --tlskey go together")
        cert, key = Path(options.tlscert), Path(options.tlskey)
    else:
        cert, key = cert_dir / CERT_FILE, cert_dir / KEY_FILE
        if not (cert.exists() and key.exists()):
            return TLSFiles(verify=verify, ca=ca if verify else None)
    return TLSFiles(verify=verify, ca=ca if verify else None, cert=cert, key=key)


def ssl_context(files: TLSFiles) -> ssl.SSLContext:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if files.verify:
            assert files.ca is not None
            context.load_verify_locations(cafile=files.ca)
        else:
            # --tls without --tlsverify: encrypted, the daemon's certificate unchecked.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if files.cert is not None and files.key is not None:
            context.load_cert_chain(files.cert, files.key)
    except (OSError, ssl.SSLError) as e:
        raise InvalidArgument(f"could not read the TLS files: {e}") from None
    return context


def _unix_socket(path: str, timeout: float | None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


@functools.cache
def _unix_connection() -> Callable[[str, float | None], http.client.HTTPConnection]:
    """http.client's connection over a unix socket (http.client is imported only for the
    requests it serves: streams, uploads, hijacks)."""
    import http.client

    class UnixConnection(http.client.HTTPConnection):
        def __init__(self, path: str, timeout: float | None) -> None:
            super().__init__(UNIX_HOST_HEADER, timeout=timeout)
            self._path = path

        def connect(self) -> None:
            self.sock = _unix_socket(self._path, self.timeout)

    return UnixConnection


def error_from(status: int, body: bytes, reason: str) -> SwarmpyError:
    """The daemon's error as a swarmpy error: its ``{"message": ...}`` (or its text) with the
    class of its status; printed as "Error response from daemon: <message>"."""
    message = ""
    try:
        doc = json.loads(body)
        if isinstance(doc, dict):
            message = str(doc.get("message", ""))
    except ValueError:
        message = body.decode(errors="replace").strip()
    cls = ERRORS_BY_STATUS.get(status, SwarmpyError)
    error = cls(message or f"{status} {reason}")
    error.remote = True
    return error


def path_of(*parts: str) -> str:
    """A URL path from parts, each quoted (an object's name may hold anything)."""
    return "/" + "/".join(quote(part, safe=":@") for part in parts)


def image_path(ref: str, *rest: str) -> str:
    """``/images/{ref}/...``: an image reference keeps its slashes (registry/repo:tag), as
    Docker's client sends it and its router reads it."""
    return "/images/" + quote(ref, safe="/:@") + (path_of(*rest) if rest else "")


class Hijacked(NamedTuple):
    """A hijacked connection: write the process's stdin to ``sock``, read its output with
    ``read1`` (the response's buffer may already hold its first bytes). The response is kept
    here: when it is collected it closes the reader."""

    conn: http.client.HTTPConnection
    response: http.client.HTTPResponse

    @property
    def sock(self) -> socket.socket:
        assert self.conn.sock is not None
        return self.conn.sock

    def read1(self, n: int) -> bytes:
        assert self.response.fp is not None
        return self.response.fp.read1(n)

    def close(self) -> None:
        self.response.close()
        self.conn.close()


class EngineClient:
    """One daemon's Engine API; a connection per request (streams hold theirs)."""

    def __init__(self, endpoint: Endpoint, timeout: float = TIMEOUT_S) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._version = ""
        self._ssl: ssl.SSLContext | None = None

    # ------------------------------------------------------------------ transport

    def _tls_context(self, files: TLSFiles) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl_context(files)
        return self._ssl

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        """A connection; ``timeout`` None for a stream, which may be quiet for hours."""
        import http.client

        ep = self.endpoint
        if ep.path:
            return _unix_connection()(ep.path, timeout)
        host, port = ep.address
        if ep.tls is None:
            return http.client.HTTPConnection(host, port, timeout=timeout)
        context = self._tls_context(ep.tls)
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)

    def _socket(self, timeout: float) -> socket.socket:
        """A socket connected to the daemon as http.client connects one (TCP_NODELAY, TLS
        with the daemon's host name), for one exchange of ``wire``."""
        ep = self.endpoint
        if ep.path:
            return _unix_socket(ep.path, timeout)
        sock = socket.create_connection(ep.address, timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if ep.tls is not None:
                return self._tls_context(ep.tls).wrap_socket(sock, server_hostname=ep.address[0])
        except BaseException:
            sock.close()
            raise
        return sock

    def _host_header(self) -> str:
        """The Host header http.client sends: the port only when not the scheme's own."""
        if self.endpoint.path:
            return UNIX_HOST_HEADER
        host, port = self.endpoint.address
        name = f"[{host}]" if ":" in host else host
        return name if port == (443 if self.endpoint.tls else 80) else f"{name}:{port}"

    def _unreachable(self, exc: OSError) -> SwarmpyError:
        if isinstance(exc, PermissionError):
            return PermissionDenied(
                f"permission denied while trying to connect to the swarmpy daemon socket at "
                f"{self.endpoint.host}"
            )
        if self.endpoint.tls is not None:
            import http.client
            import ssl

            if isinstance(exc, ssl.SSLError):
                return Unavailable(f"TLS with the daemon at {self.endpoint.host} failed: {exc}")
            if isinstance(exc, http.client.RemoteDisconnected | wire.Disconnected):
                # TLS 1.3: a daemon that refuses our certificate (or its absence) hangs up
                # after the handshake, so this is all the client sees of it.
                return Unavailable(
                    f"the daemon at {self.endpoint.host} closed the TLS connection: it takes "
                    "only client certificates its CA signed (--tlscert, --tlskey)"
                )
        if self.endpoint.path:
            return Unavailable(
                f"Cannot connect to the swarmpy daemon at {self.endpoint.host}. "
                "Is the swarmpy daemon running?"
            )
        return Unavailable(f"Cannot connect to the swarmpy daemon at {self.endpoint.host}: {exc}")

    def _bad_answer(self, exc: Exception) -> SwarmpyError:
        return Unavailable(f"bad answer from the daemon at {self.endpoint.host}: {exc}")

    def _send(
        self,
        method: str,
        url: str,
        body: Any,
        headers: Mapping[str, str],
        timeout: float | None,
    ) -> http.client.HTTPResponse:
        return self._exchange(self._connection(timeout), method, url, body, headers)

    def _exchange(
        self,
        conn: http.client.HTTPConnection,
        method: str,
        url: str,
        body: Any,
        headers: Mapping[str, str],
    ) -> http.client.HTTPResponse:
        import http.client

        try:
            conn.request(method, url, body=body, headers=dict(headers))
            return conn.getresponse()
        except OSError as exc:
            conn.close()
            raise self._unreachable(exc) from None
        except http.client.HTTPException as exc:
            conn.close()
            raise self._bad_answer(exc) from None

    def _ask(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> wire.Answer:
        """One request whose body and answer fit in memory, on a connection of its own, with
        the headers http.client would add (Host, Accept-Encoding, and a zero Content-Length
        on a POST or PUT without a body)."""
        sent = [("Host", self._host_header()), ("Accept-Encoding", "identity"), *headers.items()]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            sent.append(("Content-Length", str(len(body or b""))))
        try:
            exchange = wire.Exchange(method, url, sent, body)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        try:
            with self._socket(self.timeout) as sock, sock.makefile("rb") as reader:
                sock.sendall(exchange.request)
                return exchange.read_answer(reader)
        except OSError as exc:
            raise self._unreachable(exc) from None
        except wire.BadAnswer as exc:
            raise self._bad_answer(exc) from None

    def version(self) -> str:
        """The API version of this session: the daemon's if older than ours (from /_ping)."""
        if not self._version:
            answer = self._ask("GET", "/_ping", None, {})
            theirs = answer.headers.get("api-version", "") or API_VERSION
            self._version = min(theirs, API_VERSION, key=_version_key)
        return self._version

    def _request(
        self,
        path: str,
        query: Mapping[str, Any] | None,
        body: Any,
        content_type: str,
        headers: Mapping[str, str] | None,
    ) -> tuple[str, Any, dict[str, str]]:
        """A request's URL (the API version's prefix, the query), its body (JSON encoded, or
        bytes or a file as they are) and its headers."""
        url = f"/v{self.version()}{path}"
        params = [
            (k, _query_value(one))
            for k, v in (query or {}).items()
            if v is not None
            for one in (v if isinstance(v, tuple) else (v,))
        ]
        if params:
            url += "?" + urlencode(params)
        data = None
        sent = dict(headers or {})
        if body is not None:
            raw = isinstance(body, bytes) or hasattr(body, "read")
            data = body if raw else json.dumps(body).encode()
            sent["Content-Type"] = content_type
        return url, data, sent

    def open(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        *,
        stream: bool = False,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> http.client.HTTPResponse:
        """Send one request; the response, its status checked (an error status raises the
        daemon's error). The caller reads (and closes) it: a ``stream`` as it comes, without
        a timeout. ``body`` is JSON, or bytes or a binary file sent as ``content_type``
        (a file in chunks, as it is read). A tuple value repeats its parameter (``t=a&t=b``)."""
        url, data, sent = self._request(path, query, body, content_type, headers)
        response = self._send(method, url, data, sent, None if stream else self.timeout)
        if response.status >= 400:
            payload = response.read()
            response.close()
            raise error_from(response.status, payload, response.reason)
        return response

    # ------------------------------------------------------------------ helpers

    def call(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """A request whose answer is JSON (or empty: None)."""
        url, data, sent = self._request(path, query, body, "application/json", headers)
        if data is not None and not isinstance(data, bytes):  # a file, sent as it is read
            with self.open(method, path, query, body, headers=headers) as response:
                payload = response.read()
        else:
            answer = self._ask(method, url, data, sent)
            if answer.status >= 400:
                raise error_from(answer.status, answer.body, answer.reason)
            payload = answer.body
        return json.loads(payload) if payload.strip() else None

    def get(self, path: str, **query: Any) -> Any:
        return self.call("GET", path, query)

    def post(self, path: str, body: Any = None, **query: Any) -> Any:
        return self.call("POST", path, query, body)

    def delete(self, path: str, **query: Any) -> Any:
        return self.call("DELETE", path, query)

    def hijack(self, path: str, body: Any) -> Hijacked:
        """POST ``body`` to ``path`` asking for Docker's hijacked connection (``Upgrade:
        tcp``)."""
        url = f"/v{self.version()}{path}"
        headers = {"Content-Type": "application/json", "Connection": "Upgrade", "Upgrade": "tcp"}
        conn = self._connection(None)
        response = self._exchange(conn, "POST", url, json.dumps(body).encode(), headers)
        if response.status >= 400:
            payload = response.read()
            conn.close()
            raise error_from(response.status, payload, response.reason)
        # A 101 has no body for http.client: what follows its headers is the stream, read
        # through the response's buffered reader (it may hold the first bytes already).
        if response.status != 101 or response.fp is None or conn.sock is None:
            conn.close()
            raise Unavailable(f"the daemon at {self.endpoint.host} did not hijack the connection")
        return Hijacked(conn, response)

    def json_lines(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[Any]:
        """A stream of JSON documents, one a line (events, pull progress), as they come."""
        with self.open(
            method, path, query, body, stream=True, content_type=content_type, headers=headers
        ) as response:
            for line in response:
                if line.strip():
                    yield json.loads(line)


def check_message(message: dict[str, Any]) -> None:
    """A JSONMessage of a stream (pull progress, load): its error is the daemon's."""
    if message.get("error"):
        error = SwarmpyError(str(message["error"]))
        error.remote = True
        raise error


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _version_key(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return (0,)


def filters_json(filters: Mapping[str, list[str]]) -> str | None:
    """Docker's ``filters=`` form: {"key": {"value": true}}; None when there are none."""
    if not filters:
        return None
    return json.dumps({k: dict.fromkeys(v, True) for k, v in filters.items()})


# Set by the top-level options (swarmpy.cli.main) before any command runs.
OPTIONS = Options()


def connect() -> EngineClient:
    """The client of the daemon the global options (and the environment) name."""
    return EngineClient(resolve(OPTIONS, os.environ))


def error_line(exc: SwarmpyError) -> str:
    """An error as Docker's CLI prints it: the daemon's with its prefix, ours as it is (docker's
    main prints an error as it is; the few of its own that start "Error: " say so)."""
    return ("Error response from daemon: " if exc.remote else "") + exc.message


def no_such(kind: str, ref: str) -> str:
    """A ref the daemon does not know, as docker's client words it (objectNotFoundError)."""
    return f"Error: No such {kind}: {ref}"


def fail(messages: Sequence[str]) -> NoReturn:
    """Several errors at once, as docker's multi-line error: each line as it is (docker
    prints a joined error without a prefix), exit 1."""
    import typer

    for message in messages:
        typer.echo(one_line(message), err=True)
    raise typer.Exit(1)


def for_each(refs: Sequence[str], act: Callable[[str], None], kind: str = "") -> None:
    """Docker's multi-ref commands go on past a failing ref, print each failure on its own
    line, and exit 1 once all were tried. With ``kind`` ("service", "node", ...), a ref the
    daemon does not know is worded as docker's client words it (its objectNotFoundError)."""
    import typer

    failed = False
    for ref in refs:
        try:
            act(ref)
        except NotFound as exc:
            line = no_such(kind, ref) if kind and exc.remote else error_line(exc)
            typer.echo(one_line(line), err=True)
            failed = True
        except SwarmpyError as exc:
            typer.echo(error_line(exc), err=True)
            failed = True
    if failed:
        raise typer.Exit(1)


FRAME_HEADER = 8  # Docker's multiplexed stream: [stream, 0, 0, 0, size as 4 big-endian bytes]
STDOUT, STDERR = 1, 2


def read_stream(read: Callable[[int], bytes], n: int) -> bytes:
    """``read(n)`` of a response streamed in chunks; a stream cut off mid-chunk (the daemon
    died, or a manager relaying it) is docker's "unexpected EOF", not a traceback."""
    import http.client

    try:
        return read(n)
    except http.client.IncompleteRead:
        raise Unavailable("unexpected EOF") from None


def _read_exact(read: Callable[[int], bytes], n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = read_stream(read, n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def demux(read: Callable[[int], bytes]) -> Iterator[tuple[int, bytes]]:
    """The (stream, payload) frames of a multiplexed stream (a container without a TTY), as
    they come; ends with the stream (a cut frame ends it too)."""
    while True:
        header = _read_exact(read, FRAME_HEADER)
        if len(header) < FRAME_HEADER:
            return
        size = int.from_bytes(header[4:], "big")
        payload = _read_exact(read, size)
        yield header[0], payload
        if len(payload) < size:
            return


def copy_output(read: Callable[[int], bytes], tty: bool) -> None:
    """A container's output stream to our stdout and stderr: raw behind a TTY, else frames."""
    import sys

    out, err = sys.stdout.buffer, sys.stderr.buffer
    if tty:
        while chunk := read_stream(read, 32768):
            out.write(chunk)
            out.flush()
        return
    for stream, payload in demux(read):
        target = err if stream == STDERR else out
        target.write(payload)
        target.flush()
