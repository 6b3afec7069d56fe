"""The registry client against an in-process fake registry (httpx.MockTransport)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from swarmpy.engine.images import manifest as mf
from swarmpy.engine.images.registry import RegistryClient, RegistryUnreachable
from swarmpy.errors import ImageError
from tests.support.busybox_image import DOCKER_MANIFEST, sha256

BASE = "https://registry.test"
TOKEN = "t0k3n"


class FakeRegistry:
    """Serves ``blobs`` and ``manifests`` of one repository; optionally demands a Bearer token."""

    def __init__(self, require_token: bool = False) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, bytes] = {}
        self.require_token = require_token
        self.token_requests: list[httpx.URL] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            self.token_requests.append(request.url)
            return httpx.Response(200, json={"token": TOKEN})
        if self.require_token and request.headers.get("authorization") != f"Bearer {TOKEN}":
            challenge = 'Bearer realm="https://auth.test/token",service="registry.test"'
            return httpx.Response(401, headers={"www-authenticate": challenge})
        parts = request.url.path.split("/")  # "", "v2", repo..., kind, ref
        repo, kind, ref = "/".join(parts[2:-2]), parts[-2], parts[-1]
        if repo != "library/app":
            return _error(404, "NAME_UNKNOWN")
        if kind == "manifests" and ref in self.manifests:
            return httpx.Response(
                200, content=self.manifests[ref], headers={"content-type": DOCKER_MANIFEST}
            )
        if kind == "blobs" and ref in self.blobs:
            return httpx.Response(200, content=self.blobs[ref])
        return _error(404, "MANIFEST_UNKNOWN" if kind == "manifests" else "BLOB_UNKNOWN")

    def client(self) -> RegistryClient:
        return RegistryClient(BASE, "library/app", "app", httpx.MockTransport(self.handle))


def _error(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": [{"code": code, "message": code.lower()}]})


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="swarmpy-reg-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_an_anonymous_bearer_token_is_fetched_and_used() -> None:
    fake = FakeRegistry(require_token=True)
    fake.manifests["latest"] = b'{"schemaVersion": 2}'
    with fake.client() as client:
        fetched = client.manifest("latest")
    assert fetched.digest == sha256(b'{"schemaVersion": 2}')
    assert fetched.media_type == DOCKER_MANIFEST
    [url] = fake.token_requests
    assert url.params["service"] == "registry.test"
    assert url.params["scope"] == "repository:library/app:pull"


def test_an_unknown_repository_reads_like_docker() -> None:
    fake = FakeRegistry()
    client = RegistryClient(BASE, "nope", "nope", httpx.MockTransport(fake.handle))
    with client, pytest.raises(ImageError) as caught:
        client.manifest("latest")
    assert str(caught.value) == (
        "pull access denied for nope, repository does not exist or may require 'docker login':"
        " name unknown: name_unknown"
    )


def test_an_unknown_tag_reads_like_docker() -> None:
    with FakeRegistry().client() as client, pytest.raises(ImageError) as caught:
        client.manifest("missing")
    assert str(caught.value) == "manifest for app not found: manifest unknown"


def test_a_blob_whose_content_does_not_match_its_digest_is_refused(scratch: Path) -> None:
    fake = FakeRegistry()
    digest = sha256(b"the real layer")
    fake.blobs[digest] = b"a tampered layer"
    dest = scratch / "blob"
    client = fake.client()
    with client, pytest.raises(ImageError, match="verification failed"), client.blob(digest, dest):
        pass
    assert not dest.exists()
    with fake.client() as client, pytest.raises(ImageError, match="verification failed"):
        client.blob_bytes(digest)


def test_an_unreachable_registry_is_named() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = RegistryClient(BASE, "library/app", "app", httpx.MockTransport(refuse))
    with client, pytest.raises(RegistryUnreachable, match=r"registry\.test unreachable"):
        client.manifest("latest")


def _index(*platforms: tuple[str, str, str]) -> mf.Index:
    doc = {
        "mediaType": mf.OCI_INDEX,
        "manifests": [
            {
                "mediaType": mf.OCI_MANIFEST,
                "digest": sha256(f"{os}/{arch}/{variant}".encode()),
                "size": 1,
                "platform": {"os": os, "architecture": arch, "variant": variant},
            }
            for os, arch, variant in platforms
        ],
    }
    parsed = mf.parse(json.dumps(doc).encode())
    assert isinstance(parsed, mf.Index)
    return parsed


def test_a_manifest_list_resolves_to_this_platform() -> None:
    index = _index(("linux", "arm", "v7"), ("linux", "arm64", "v8"), ("linux", "amd64", ""))
    assert mf.choose_platform(index, "amd64").digest == sha256(b"linux/amd64/")
    assert mf.choose_platform(index, "arm64", "v8").digest == sha256(b"linux/arm64/v8")
    with pytest.raises(ImageError, match="no matching manifest for linux/s390x"):
        mf.choose_platform(index, "s390x")
