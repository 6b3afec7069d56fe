"""``docker push``: an image's layers, config and a Docker v2 manifest to a registry.

Each layer goes as the blob it was pulled or built as (so its digest is stable): skipped when
the repository has it, mounted when another repository of the same registry does (one it was
pulled from or pushed to), else uploaded. Progress is Docker's JSON messages, told as they
happen; ``tell`` may be called from this (worker) thread.
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from swarmpy.dockerjson.progress import progress_message
from swarmpy.engine.images import manifest as mf
from swarmpy.engine.images import pull as pulling
from swarmpy.engine.images.digests import digest_hex
from swarmpy.engine.images.reference import familiar_name, parse_reference
from swarmpy.engine.images.registry import Credentials, RegistryClient
from swarmpy.engine.images.store import ImageStore
from swarmpy.errors import ImageError, InvalidArgument, NotFound

Tell = Callable[[dict[str, Any]], None]
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
_GZIP_MAGIC = b"\x1f\x8b"


def manifest_bytes(config: bytes, config_digest: str, layers: list[tuple[str, int, str]]) -> bytes:
    """A Docker v2 schema 2 manifest; ``layers`` are (media type, size, digest), lowest first.
    Indented by three spaces, as Docker writes it."""
    doc = {
        "schemaVersion": 2,
        "mediaType": mf.DOCKER_MANIFEST,
        "config": {"mediaType": mf.DOCKER_CONFIG, "size": len(config), "digest": config_digest},
        "layers": [{"mediaType": t, "size": s, "digest": d} for t, s, d in layers],
    }
    return json.dumps(doc, indent=3).encode()


def push_image(store: ImageStore, ref: str, credentials: Credentials | None, tell: Tell) -> None:
    parsed = parse_reference(ref)
    if parsed.digest:
        raise InvalidArgument("cannot push a digest reference")
    repository = familiar_name(parsed.name)
    if ref.rpartition(":")[2] != parsed.tag or "/" in ref.rpartition(":")[2]:
        tags = [t for t in _tags_of(store, parsed.name)]  # no tag given: every tag of the repo
    else:
        tags = [parsed.tag or "latest"]
    if not tags:
        raise NotFound(f"An image does not exist locally with the tag: {repository}")
    endpoints = pulling.endpoints_for(parsed, store.insecure_registries, (), store.hub_url)
    if not endpoints:
        raise ImageError(f"no registry to push {repository} to")
    tell({"status": f"The push refers to repository [{repository}]"})
    for tag in tags:
        _push_tag(
            store, endpoints[-1], parsed.domain, parsed.path, parsed.name, tag, credentials, tell
        )


def _tags_of(store: ImageStore, name: str) -> list[str]:
    return sorted(
        t.rpartition(":")[2]
        for r in store.records()
        for t in r.repo_tags
        if t.rpartition(":")[0] == name
    )


def _push_tag(
    store: ImageStore,
    base_url: str,
    domain: str,
    path: str,
    name: str,
    tag: str,
    credentials: Credentials | None,
    tell: Tell,
) -> None:
    try:
        record = store.get(f"{name}:{tag}")
    except NotFound:
        raise NotFound(
            f"An image does not exist locally with the tag: {familiar_name(name)}"
        ) from None
    config = store.config_blob(record.id)
    blobs = [(d, *store.layer_blob(d)) for d in record.diff_ids]
    mounts = {
        d: [
            s.split("/", 1)[1]
            for s in store.layer_sources(d)
            if s.split("/", 1)[0] == domain and s.split("/", 1)[1] != path
        ]
        for d in record.diff_ids
    }
    scopes = tuple(sorted({f"repository:{src}:pull" for srcs in mounts.values() for src in srcs}))
    with RegistryClient(
        base_url,
        path,
        familiar_name(name),
        credentials=credentials,
        actions="pull,push",
        extra_scopes=scopes,
    ) as client:
        for diff_id, _, _ in reversed(blobs):
            tell({"status": "Preparing", "progressDetail": {}, "id": digest_hex(diff_id)[:12]})
        layers: list[tuple[str, int, str]] = []
        for diff_id, blob, digest in reversed(blobs):
            short = digest_hex(diff_id)[:12]
            pushing = functools.partial(_pushing, tell, short)
            status = _push_blob(client, blob, digest, mounts[diff_id], pushing)
            tell({"status": status, "progressDetail": {}, "id": short})
            store.add_layer_source(diff_id, name)
        for _, blob, digest in blobs:
            with blob.open("rb") as head:
                gz = head.read(2) == _GZIP_MAGIC
            layers.append(
                (mf.DOCKER_LAYER_GZIP if gz else DOCKER_LAYER_TAR, blob.stat().st_size, digest)
            )
        if not client.blob_exists(record.id):
            with tempfile.NamedTemporaryFile(dir=store.root / "tmp") as tmp:
                tmp.write(config)
                tmp.flush()
                client.upload_blob(Path(tmp.name), record.id)
        data = manifest_bytes(config, record.id, layers)
        digest = client.put_manifest(tag, data, mf.DOCKER_MANIFEST)
    store.add_repo_digest(record.id, f"{name}@{digest}")
    tell({"status": f"{tag}: digest: {digest} size: {len(data)}"})
    tell({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": len(data)}})


def _pushing(tell: Tell, short: str, done: int, size: int) -> None:
    """A layer's upload as dockerd tells it: "Pushing" with its bytes."""
    tell(progress_message("Pushing", done, size, short))


def _push_blob(
    client: RegistryClient,
    blob: Path,
    digest: str,
    sources: list[str],
    on_bytes: Callable[[int, int], None] | None = None,
) -> str:
    if client.blob_exists(digest):
        return "Layer already exists"
    location: str | None = None
    for source in sources:
        location = client.mount_blob(digest, source)
        if location is None:
            return f"Mounted from {source}"
        break
    client.upload_blob(blob, digest, location, on_bytes)
    return "Pushed"
