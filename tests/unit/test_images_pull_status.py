"""A pull's last line, as dockerd's: "Downloaded newer image" whenever the name pulled did not
name this image before (a new tag of an image already here included), "Image is up to date"
only when it did. Against an in-process registry (httpx.MockTransport)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from swarmpy.engine.images import pull as pulling
from swarmpy.engine.images.registry import RegistryClient
from swarmpy.engine.images.store import ImageStore
from tests.support.busybox_image import DOCKER_MANIFEST, busybox_image

BASE = "https://registry.test"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ImageStore:
    image = busybox_image()
    manifest = image.manifest()
    layers = zip(image.layer_digests, image.layers, strict=True)
    blobs = {image.config_digest: image.config, **dict(layers)}

    def handle(request: httpx.Request) -> httpx.Response:
        kind, ref = request.url.path.split("/")[-2:]
        if kind == "manifests" and ref in ("v1", "latest"):
            return httpx.Response(200, content=manifest, headers={"content-type": DOCKER_MANIFEST})
        if kind == "blobs" and ref in blobs:
            return httpx.Response(200, content=blobs[ref])
        return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})

    def client(*args: Any, **kwargs: Any) -> RegistryClient:
        kwargs["transport"] = httpx.MockTransport(handle)
        return RegistryClient(*args, **kwargs)

    monkeypatch.setattr(pulling, "RegistryClient", client)
    return ImageStore(tmp_path / "images", hub_url=BASE)


def _status(store: ImageStore, ref: str) -> str:
    lines: list[str] = []
    store.pull(ref, lines.append)
    return lines[-1]


def test_a_new_name_for_an_image_here_is_a_newer_image(store: ImageStore) -> None:
    assert _status(store, "busybox:v1") == "Status: Downloaded newer image for busybox:v1"
    assert _status(store, "busybox:v1") == "Status: Image is up to date for busybox:v1"
    assert _status(store, "busybox") == "Status: Downloaded newer image for busybox:latest"
    assert _status(store, "busybox") == "Status: Image is up to date for busybox:latest"
