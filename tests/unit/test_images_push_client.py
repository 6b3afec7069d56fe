"""Push and auth of the registry client against an in-process fake registry: one PUT for a
small blob, PATCHed chunks for a big one, a cross-repository mount, a manifest PUT, basic
credentials and a bearer token fetched with them."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import httpx
import pytest

from swarmpy.engine.images import manifest as mf
from swarmpy.engine.images import registry as reg
from swarmpy.engine.images.push import manifest_bytes
from swarmpy.engine.images.registry import Credentials, RegistryClient, Unauthorized

BASE = "https://registry.test"
ALICE = Credentials("alice", "s3cret")


class PushRegistry:
    """Keeps what is uploaded; ``scheme`` "basic" or "bearer" demands alice's credentials."""

    def __init__(self, scheme: str = "") -> None:
        self.scheme = scheme
        self.blobs: dict[str, dict[str, bytes]] = {"other/repo": {}, "team/app": {}}
        self.uploads: dict[str, bytearray] = {}
        self.manifests: dict[str, tuple[bytes, str]] = {}
        self.requests: list[str] = []
        self.token_queries: list[httpx.QueryParams] = []

    def _authorized(self, request: httpx.Request) -> bool:
        given = str(request.headers.get("authorization", ""))
        if self.scheme == "basic":
            return given == ALICE.basic
        if self.scheme == "bearer":
            return given == "Bearer tok"
        return True

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.path == "/token":
            self.token_queries.append(url.params)
            if request.headers.get("authorization") != ALICE.basic:
                return httpx.Response(401)
            return httpx.Response(200, json={"token": "tok"})
        if not self._authorized(request):
            challenge = (
                'Basic realm="test"'
                if self.scheme == "basic"
                else 'Bearer realm="https://auth.test/token",service="registry.test"'
            )
            return httpx.Response(401, headers={"www-authenticate": challenge})
        self.requests.append(f"{request.method} {url.path}")
        parts = url.path.split("/")
        if url.path == "/v2/":
            return httpx.Response(200)
        if "uploads" in parts:
            repo = "/".join(parts[2 : parts.index("blobs")])
            return self._upload(request, repo, parts[-1])
        repo = "/".join(parts[2:-2])
        kind, ref = parts[-2], parts[-1]
        if kind == "blobs":
            found = ref in self.blobs[repo]
            return httpx.Response(200 if found else 404)
        if kind == "manifests" and request.method == "PUT":
            self.manifests[ref] = (request.content, request.headers["content-type"])
            digest = "sha256:" + hashlib.sha256(request.content).hexdigest()
            return httpx.Response(201, headers={"docker-content-digest": digest})
        return httpx.Response(404)

    def _upload(self, request: httpx.Request, repo: str, upload: str) -> httpx.Response:
        params = request.url.params
        if request.method == "POST":
            mount, source = params.get("mount"), params.get("from")
            if mount and source and mount in self.blobs[source]:
                self.blobs[repo][mount] = self.blobs[source][mount]
                return httpx.Response(201)
            self.uploads["u1"] = bytearray()
            return httpx.Response(202, headers={"location": f"/v2/{repo}/blobs/uploads/u1?s=1"})
        if request.method == "PATCH":
            start = int(request.headers["content-range"].split("-")[0])
            assert start == len(self.uploads[upload])
            self.uploads[upload] += request.content
            return httpx.Response(
                202, headers={"location": f"/v2/{repo}/blobs/uploads/{upload}?s=2"}
            )
        data = bytes(self.uploads.pop(upload)) + request.content
        assert "sha256:" + hashlib.sha256(data).hexdigest() == params["digest"]
        self.blobs[repo][params["digest"]] = data
        return httpx.Response(201)

    def client(self, creds: Credentials | None = None) -> RegistryClient:
        return RegistryClient(
            BASE,
            "team/app",
            "registry.test/team/app",
            httpx.MockTransport(self.handle),
            credentials=creds,
            actions="pull,push",
            extra_scopes=("repository:other/repo:pull",),
        )


def _blob(path: Path, data: bytes) -> tuple[Path, str]:
    path.write_bytes(data)
    return path, "sha256:" + hashlib.sha256(data).hexdigest()


def test_small_blob_in_one_put_big_blob_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reg, "CHUNK_SIZE", 4)
    fake = PushRegistry()
    small, small_digest = _blob(tmp_path / "s", b"abc")
    big, big_digest = _blob(tmp_path / "b", b"0123456789")
    with fake.client() as client:
        client.upload_blob(small, small_digest)
        client.upload_blob(big, big_digest)
        assert client.blob_exists(big_digest)
    assert fake.blobs["team/app"][small_digest] == b"abc"
    assert fake.blobs["team/app"][big_digest] == b"0123456789"
    patches = [r for r in fake.requests if r.startswith("PATCH")]
    assert len(patches) == 3  # 4 + 4 + 2 bytes
    puts = [r for r in fake.requests if r.startswith("PUT")]
    assert len(puts) == 2


def test_mount_from_another_repository_then_manifest(tmp_path: Path) -> None:
    fake = PushRegistry()
    _, digest = _blob(tmp_path / "l", b"layer")
    fake.blobs["other/repo"][digest] = b"layer"
    config = b"{}"
    data = manifest_bytes(
        config, "sha256:" + hashlib.sha256(config).hexdigest(), [(mf.DOCKER_LAYER_GZIP, 5, digest)]
    )
    with fake.client() as client:
        assert client.mount_blob(digest, "other/repo") is None
        pushed = client.put_manifest("v1", data, mf.DOCKER_MANIFEST)
    assert fake.blobs["team/app"][digest] == b"layer"
    assert fake.manifests["v1"] == (data, mf.DOCKER_MANIFEST)
    assert pushed == "sha256:" + hashlib.sha256(data).hexdigest()
    assert data.startswith(b'{\n   "schemaVersion": 2')  # Docker's three-space indent


def test_basic_auth_sends_the_credentials() -> None:
    fake = PushRegistry("basic")
    with fake.client(ALICE) as client:
        client.check_login()
    with fake.client() as anonymous, pytest.raises(Unauthorized, match="401 Unauthorized"):
        anonymous.check_login()


def test_bearer_token_fetched_with_the_credentials_for_each_scope() -> None:
    fake = PushRegistry("bearer")
    with fake.client(ALICE) as client:
        assert not client.blob_exists("sha256:" + "0" * 64)
    (query,) = fake.token_queries
    assert query.get_list("scope") == [
        "repository:team/app:pull,push",
        "repository:other/repo:pull",
    ]
    assert query["account"] == "alice"
    wrong = Credentials("alice", "nope")
    with fake.client(wrong) as client, pytest.raises(Unauthorized, match="incorrect username"):
        client.blob_exists("sha256:" + "0" * 64)


def test_registry_auth_header_decodes_as_dockers() -> None:
    doc = b'{"username":"alice","password":"s3cret","serveraddress":"r.test"}'
    header = base64.urlsafe_b64encode(doc).decode().rstrip("=")
    assert reg.credentials_of_header(header) == ALICE
    legacy = {"auth": base64.b64encode(b"alice:s3cret").decode()}
    assert reg.credentials_from(legacy) == ALICE  # type: ignore[arg-type]
    assert reg.credentials_of_header("") is None
    assert reg.credentials_of_header(base64.urlsafe_b64encode(b"{}").decode()) is None
