"""A pull as dockerd tells it: each layer's steps, the unpacking's progress (Extracting)
included, and the last line: "Downloaded newer image" whenever the name pulled did not name
this image before (a new tag of an image already here included), "Image is up to date" only
when it did. Against an in-process registry (httpx.MockTransport)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from swarmpy.engine.images import pull as pulling
from swarmpy.engine.images.registry import RegistryClient
from swarmpy.engine.images.store import ImageStore
from tests.support.busybox_image import (
    DOCKER_MANIFEST,
    Entry,
    busybox_image,
    busybox_layer,
    make_image,
    sha256,
    tar_layer,
)

BASE = "https://registry.test"
# busybox with a layer of its own on top (tag "app" of the fake registry's busybox).
APP = make_image([busybox_layer(), tar_layer([Entry("app.txt", b"v1\n")])])


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ImageStore:
    image = busybox_image()
    manifests = {"v1": image.manifest(), "latest": image.manifest(), "app": APP.manifest()}
    blobs = {config.config_digest: config.config for config in (image, APP)} | {
        digest: blob
        for i in (image, APP)
        for digest, blob in zip(i.layer_digests, i.layers, strict=True)
    }

    def handle(request: httpx.Request) -> httpx.Response:
        kind, ref = request.url.path.split("/")[-2:]
        if kind == "manifests" and ref in manifests:
            content = manifests[ref]
            return httpx.Response(200, content=content, headers={"content-type": DOCKER_MANIFEST})
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


def test_each_layer_is_downloaded_then_extracted_with_progress(store: ImageStore) -> None:
    told: list[tuple[str, str, dict[str, Any]]] = []

    def say(line: str) -> None:
        layer, _, status = line.partition(": ")
        told.append((layer, status, {}))

    def transfer(message: dict[str, Any]) -> None:
        told.append((message["id"], message["status"], message["progressDetail"]))

    store.pull("busybox", say, transfer=transfer)
    layer = busybox_image().layers[0]
    short = sha256(layer).removeprefix("sha256:")[:12]
    steps = [status for layer_id, status, _ in told if layer_id == short]
    # Progress comes every 512 KiB of the blob: a step told again is one step.
    steps = [step for i, step in enumerate(steps) if i == 0 or steps[i - 1] != step]
    assert steps == [
        "Pulling fs layer",
        "Downloading",
        "Verifying Checksum",
        "Download complete",
        "Extracting",
        "Pull complete",
    ]
    extracted = [detail for _, status, detail in told if status == "Extracting"]
    assert extracted[-1] == {"current": len(layer), "total": len(layer)}


def test_layers_here_are_told_in_their_place_among_the_others(store: ImageStore) -> None:
    store.pull("busybox")
    lines: list[str] = []
    store.pull("busybox:app", lines.append)
    base, top = (d.removeprefix("sha256:")[:12] for d in APP.layer_digests)
    assert lines[:3] == [
        "app: Pulling from library/busybox",
        f"{base}: Already exists",
        f"{top}: Pulling fs layer",
    ]
    assert lines.count(f"{base}: Already exists") == 1
    assert f"{top}: Pull complete" in lines
