"""The Engine API's listeners: TCP with TLS requires a client certificate the CA signed, plain
TCP only when asked for by name, and settings that would open the API are refused."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
from pathlib import Path

import aiohttp
import pytest

from swarmpy.ca import certificates as ca
from swarmpy.errors import InvalidArgument
from swarmpy.server.listeners import EngineApiServer, parse_host, plan_listeners, tls_context
from tests.support.engine_api import EngineApi, client_context, engine_api, issue
from tests.support.registry import free_port

pytestmark = pytest.mark.fakeserver


async def ping(url: str, context: ssl.SSLContext | None) -> int:
    connector = aiohttp.TCPConnector(ssl=context if context is not None else False)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(f"{url}/_ping") as response,
    ):
        return response.status


def test_tls_requires_a_client_certificate_of_the_ca(tmp_path: Path) -> None:
    root = ca.create_root_ca()
    root_pem = tmp_path / "ca.pem"
    root_pem.write_text(root.cert_pem)
    server = issue(root, "server", tmp_path)
    client = issue(root, "client", tmp_path)
    stranger_root = ca.create_root_ca()
    stranger = issue(stranger_root, "stranger", tmp_path)
    port = free_port()

    async def scenario(api: EngineApi) -> None:
        config = dataclasses.replace(
            api.node.config,
            hosts=(f"tcp://127.0.0.1:{port}",),
            tls_verify=True,
            tls_ca=root_pem,
            tls_cert=server[0],
            tls_key=server[1],
        )
        listener = EngineApiServer(api.node, config)
        await listener.start()
        try:
            url = f"https://127.0.0.1:{port}"
            assert await ping(url, client_context(root_pem, client)) == 200
            for refused in (None, stranger):
                with pytest.raises(aiohttp.ClientError):
                    await ping(url, client_context(root_pem, refused))
            with pytest.raises(aiohttp.ClientError):
                await ping(f"http://127.0.0.1:{port}", None)
        finally:
            await listener.stop()

    async def main() -> None:
        async with engine_api() as api:
            await scenario(api)

    asyncio.run(main())


def test_plain_tcp_only_when_asked_and_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()

    async def main() -> None:
        async with engine_api() as api:
            config = dataclasses.replace(api.node.config, hosts=(f"tcp://127.0.0.1:{port}",))
            with pytest.raises(InvalidArgument, match="needs --tlsverify"):
                await EngineApiServer(api.node, config).start()
            insecure = EngineApiServer(api.node, dataclasses.replace(config, api_insecure_tcp=True))
            with caplog.at_level(logging.WARNING):
                await insecure.start()
            try:
                assert await ping(f"http://127.0.0.1:{port}", None) == 200
            finally:
                await insecure.stop()

    asyncio.run(main())
    assert any("WITHOUT TLS" in r.getMessage() for r in caplog.records)


def test_listener_settings_that_would_open_the_api_are_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with engine_api() as api:
            base = api.node.config
            with pytest.raises(InvalidArgument, match="without --tlsverify"):
                tls_context(dataclasses.replace(base, tls_cert=tmp_path / "c.pem"))
            with pytest.raises(InvalidArgument, match="needs --tlscacert"):
                tls_context(dataclasses.replace(base, tls_verify=True))
            with pytest.raises(InvalidArgument, match="only unix:// and tcp://"):
                plan_listeners(dataclasses.replace(base, hosts=("fd://",)))

    asyncio.run(main())
    assert parse_host("tcp://127.0.0.1").port == 2376
    assert parse_host("unix:///run/x.sock").path == Path("/run/x.sock")
    with pytest.raises(InvalidArgument, match="absolute"):
        parse_host("unix://relative.sock")
