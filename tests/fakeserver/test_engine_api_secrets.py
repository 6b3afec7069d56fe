"""/secrets and /configs in process: Docker's shapes, status codes and messages, a service's
references checked, and docker-py driving them."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import docker
import pytest

from swarmpy.manager.state.store import SECRETS
from tests.support.engine_api import EngineApi, engine_api

pytestmark = pytest.mark.fakeserver


def run(scenario: Callable[[EngineApi], Awaitable[None]]) -> None:
    async def main() -> None:
        async with engine_api() as api:
            await scenario(api)

    asyncio.run(main())


async def call(api: EngineApi, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = await api.client.request(
        method, path, data=None if body is None else json.dumps(body)
    )
    text = await response.text()
    return response.status, json.loads(text) if text else None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def service_with_secret(secret_id: str, name: str) -> dict[str, Any]:
    reference = {
        "File": {"Name": name, "UID": "0", "GID": "0", "Mode": 0o444},
        "SecretID": secret_id,
        "SecretName": name,
    }
    return {
        "Name": "app",
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox:latest", "Secrets": [reference]}},
    }


def test_secrets_create_list_inspect_update_remove() -> None:
    async def scenario(api: EngineApi) -> None:
        status, out = await call(
            api, "POST", "/secrets/create", {"Name": "pw", "Data": b64(b"hunter2")}
        )
        assert status == 201
        secret_id = out["ID"]
        stored = api.store.view().get(SECRETS, secret_id)
        assert stored is not None
        assert b"hunter2" not in stored.data
        status, out = await call(api, "POST", "/secrets/create", {"Name": "pw", "Data": b64(b"x")})
        assert (status, out["message"]) == (409, "secret pw already exists")
        status, out = await call(api, "POST", "/secrets/create", {"Name": "-x", "Data": b64(b"x")})
        assert status == 400
        assert out["message"].startswith("invalid name, only 64 [a-zA-Z0-9-_.] characters")

        status, listed = await call(api, "GET", '/secrets?filters={"name":["p"]}')
        assert status == 200
        assert [s["Spec"]["Name"] for s in listed] == ["pw"]
        status, shown = await call(api, "GET", "/secrets/pw")
        assert shown["ID"] == secret_id
        assert "Data" not in shown["Spec"]
        version = shown["Version"]["Index"]

        status, out = await call(
            api, "POST", f"/secrets/{secret_id}/update?version={version}",
            {"Name": "pw", "Labels": {"a": "b"}},
        )  # fmt: skip
        assert status == 200
        status, shown = await call(api, "GET", f"/secrets/{secret_id}")
        assert shown["Spec"]["Labels"] == {"a": "b"}

        status, _ = await call(
            api, "POST", "/services/create", service_with_secret(secret_id, "pw")
        )
        assert status == 201
        status, out = await call(api, "DELETE", "/secrets/pw")
        assert (status, out["message"]) == (
            400,
            "secret 'pw' is in use by the following service: app",
        )
        status, out = await call(api, "POST", "/services/create", service_with_secret("nope", "x"))
        assert (status, out["message"]) == (400, "secret not found: x")
        await call(api, "DELETE", "/services/app")
        assert (await call(api, "DELETE", "/secrets/pw"))[0] == 204
        status, out = await call(api, "GET", "/secrets/pw")
        assert (status, out["message"]) == (404, "secret pw not found")

    run(scenario)


def test_docker_py_drives_secrets_and_configs() -> None:
    async def scenario(api: EngineApi) -> None:
        url = f"tcp://127.0.0.1:{api.client.port}"

        def drive() -> None:
            client = docker.DockerClient(base_url=url, version="auto")
            try:
                secret = client.secrets.create(name="pw", data=b"hunter2", labels={"k": "v"})
                assert [s.name for s in client.secrets.list()] == ["pw"]
                assert client.secrets.get(str(secret.id)).attrs["Spec"]["Labels"] == {"k": "v"}
                config = client.configs.create(name="conf", data=b"listen 80\n")
                shown = client.configs.get(str(config.id)).attrs["Spec"]["Data"]
                assert base64.b64decode(shown) == b"listen 80\n"
                secret.remove()
                config.remove()
                assert client.secrets.list() == client.configs.list() == []
                with pytest.raises(docker.errors.NotFound):
                    client.secrets.get("pw")
            finally:
                client.close()

        await asyncio.to_thread(drive)

    run(scenario)
