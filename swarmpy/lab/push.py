"""Pushing an image to a registry (blobs, then the manifest), as ``docker push`` does."""

from __future__ import annotations

from urllib.parse import urljoin

import httpx

from swarmpy.engine.images.digests import sha256_of
from swarmpy.engine.images.manifest import DOCKER_MANIFEST
from swarmpy.errors import ImageError
from swarmpy.lab.busybox import Image


def push_image(base_url: str, repo: str, tag: str, image: Image) -> str:
    """Push ``image`` as ``repo:tag``; return the manifest digest the registry reports."""
    try:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            for blob in (image.config, *image.layers):
                _push_blob(http, repo, blob)
            response = http.put(
                f"/v2/{repo}/manifests/{tag}",
                content=image.manifest(),
                headers={"Content-Type": DOCKER_MANIFEST},
            )
            response.raise_for_status()
            return response.headers["Docker-Content-Digest"]
    except httpx.HTTPError as exc:
        raise ImageError(f"cannot push {repo}:{tag} to {base_url}: {exc}") from None


def _push_blob(http: httpx.Client, repo: str, blob: bytes) -> None:
    digest = sha256_of(blob)
    if http.head(f"/v2/{repo}/blobs/{digest}").status_code == 200:
        return  # registries deduplicate; skip the upload like docker push does
    started = http.post(f"/v2/{repo}/blobs/uploads/")
    started.raise_for_status()
    location = urljoin(str(http.base_url), started.headers["Location"])
    separator = "&" if "?" in location else "?"
    done = http.put(
        f"{location}{separator}digest={digest}",
        content=blob,
        headers={"Content-Type": "application/octet-stream"},
    )
    done.raise_for_status()
