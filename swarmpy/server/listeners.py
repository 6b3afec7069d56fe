"""Where the Engine API listens: dockerd's ``-H unix:///path`` and ``-H tcp://addr:port``, TCP
with TLS and client certificates (``--tlsverify --tlscacert --tlscert --tlskey``), plain TCP
only when asked for by name, with a loud warning."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from swarmpy import localsocket
from swarmpy.config import DaemonConfig, split_addr
from swarmpy.errors import InvalidArgument
from swarmpy.server.app import make_app
from swarmpy.server.backend import EngineNode

log = logging.getLogger(__name__)

DEFAULT_TCP_PORT = 2376  # dockerd's port for TLS (2375 is its plain one)


@dataclass(frozen=True)
class Listener:
    scheme: str  # "unix" or "tcp"
    path: Path | None = None
    host: str = ""
    port: int = 0


def parse_host(text: str) -> Listener:
    """One ``-H`` value, as dockerd reads it."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise InvalidArgument(
            f"invalid API host {text!r}: expected unix:///path or tcp://addr:port"
        )
    if scheme == "unix":
        if not rest.startswith("/"):
            raise InvalidArgument(f"invalid API host {text!r}: the socket path must be absolute")
        return Listener("unix", path=Path(rest))
    if scheme == "tcp":
        try:
            host, port = split_addr(rest.rstrip("/"), DEFAULT_TCP_PORT)
        except ValueError:
            raise InvalidArgument(f"invalid API host {text!r}: bad port") from None
        return Listener("tcp", host=host or "0.0.0.0", port=port)
    raise InvalidArgument(f"invalid API host {text!r}: only unix:// and tcp:// are supported")


def tls_context(config: DaemonConfig) -> ssl.SSLContext | None:
    """The TCP listeners' TLS: server certificate, and client certificates the CA signed."""
    given = [p for p in (config.tls_ca, config.tls_cert, config.tls_key) if p is not None]
    if not config.tls_verify:
        if given:
            raise InvalidArgument(
                "--tlscacert/--tlscert/--tlskey without --tlsverify would let any client in: "
                "add --tlsverify"
            )
        return None
    if config.tls_ca is None or config.tls_cert is None or config.tls_key is None:
        raise InvalidArgument("--tlsverify needs --tlscacert, --tlscert and --tlskey")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
        context.load_verify_locations(cafile=config.tls_ca)
    except (OSError, ssl.SSLError) as e:
        raise InvalidArgument(f"could not load the API's TLS files: {e}") from None
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def plan_listeners(config: DaemonConfig) -> list[Listener]:
    """The listeners of ``config``, refused when TCP would be open without TLS unasked."""
    listeners = [parse_host(h) for h in config.hosts]
    tcp = [listener for listener in listeners if listener.scheme == "tcp"]
    if tcp and not config.tls_verify and not config.api_insecure_tcp:
        raise InvalidArgument(
            "the Engine API on TCP needs --tlsverify (with --tlscacert, --tlscert, --tlskey); "
            "plain TCP gives root on this host to anyone who can reach the port: "
            "pass --api-insecure-tcp only if that is what you want"
        )
    return listeners


def unix_socket(path: Path, group: str) -> socket.socket:
    localsocket.make_socket_dir(path.parent)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        # Before listen(): nobody can connect in between. As the local socket (and
        # docker.sock): 0660 root:<group>, root's only without the group.
        localsocket.restrict(path, group)
    except OSError:
        sock.close()
        raise
    return sock


class EngineApiServer:
    """The Engine API on every listener of the daemon's configuration."""

    def __init__(self, node: EngineNode, config: DaemonConfig) -> None:
        self._node = node
        self._config = config
        self._runner: web.AppRunner | None = None
        self._paths: list[Path] = []

    async def start(self) -> None:
        listeners = plan_listeners(self._config)
        context = tls_context(self._config)
        runner = web.AppRunner(make_app(self._node), access_log=None, handle_signals=False)
        await runner.setup()
        self._runner = runner
        try:
            await self._start_sites(runner, listeners, context)
        except BaseException:
            await self.stop()
            raise

    async def _start_sites(
        self, runner: web.AppRunner, listeners: list[Listener], context: ssl.SSLContext | None
    ) -> None:
        for listener in listeners:
            if listener.path is not None:
                site: web.BaseSite = web.SockSite(
                    runner, unix_socket(listener.path, self._config.socket_group)
                )
                self._paths.append(listener.path)
            else:
                if context is None:
                    log.warning(
                        "API listening on tcp://%s:%d WITHOUT TLS: anyone who can reach this "
                        "port has root on this host. Use --tlsverify.",
                        listener.host,
                        listener.port,
                    )
                site = web.TCPSite(runner, listener.host, listener.port, ssl_context=context)
            await site.start()
            log.info("Engine API listening on %s", site.name)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for path in self._paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._paths.clear()
