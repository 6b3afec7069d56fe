"""Pulling from a registry: which endpoints to try, resolving a reference to one manifest for
this platform, and fetching its config and layers (each blob verified)."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from swarmpy.dockerjson.progress import progress_message
from swarmpy.engine.images import manifest as mf
from swarmpy.engine.images.digests import digest_hex
from swarmpy.engine.images.layers import LayerStore
from swarmpy.engine.images.reference import Reference
from swarmpy.engine.images.registry import Credentials, RegistryClient
from swarmpy.errors import ImageError

DOCKER_HUB_URL = "https://registry-1.docker.io"

Progress = Callable[[str], None]
# A download's byte progress, as Docker's JSON message ("Downloading" with its progressDetail),
# for the Engine API's stream; lines (``Progress``) say the rest.
Transfer = Callable[[dict[str, Any]], None]
# As moby's progress reader: a layer's download is told after each 512 KiB (and at its end).
TELL_EVERY = 512 * 1024


def endpoints_for(
    ref: Reference,
    insecure_registries: Sequence[str] = (),
    mirrors: Sequence[str] = (),
    hub_url: str | None = DOCKER_HUB_URL,
) -> list[str]:
    """Base URLs to try in order, like dockerd: mirrors first for Docker Hub references.

    Plain http only for registries listed as insecure, or on loopback (dockerd's default).
    """
    if ref.on_docker_hub:
        return [m.rstrip("/") for m in mirrors] + ([hub_url] if hub_url else [])
    scheme = "http" if _insecure(ref.domain, insecure_registries) else "https"
    return [f"{scheme}://{ref.domain}"]


def _insecure(domain: str, insecure_registries: Sequence[str]) -> bool:
    if domain in insecure_registries:
        return True
    host = domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Resolved:
    """A reference resolved to one platform manifest on one endpoint."""

    base_url: str
    manifest_digest: str  # of what the tag pointed at (a list, for multi-arch): the RepoDigest
    manifest: mf.Manifest
    config: bytes


def resolve(
    ref: Reference,
    endpoints: Sequence[str],
    display: str,
    progress: Progress,
    credentials: Credentials | None = None,
) -> Resolved:
    if not endpoints:
        raise ImageError(f"error pulling {display}: no registry to pull from")
    error: ImageError | None = None
    for base_url in endpoints:
        try:
            with RegistryClient(base_url, ref.path, display, credentials=credentials) as client:
                return _resolve_on(client, ref, progress)
        except ImageError as exc:
            error = exc  # a mirror that fails is skipped, as dockerd does
    assert error is not None
    raise error


def _resolve_on(client: RegistryClient, ref: Reference, progress: Progress) -> Resolved:
    top = client.manifest(ref.manifest_ref)
    if ref.digest and top.digest != ref.digest:
        raise ImageError(f"manifest verification failed for digest {ref.digest}")
    progress(f"{ref.tag or ref.digest}: Pulling from {ref.path}")
    parsed = mf.parse(top.data, top.media_type)
    if isinstance(parsed, mf.Index):
        arch, variant = mf.host_platform()
        chosen = mf.choose_platform(parsed, arch, variant)
        child = client.manifest(chosen.digest)
        if child.digest != chosen.digest:
            raise ImageError(f"manifest verification failed for digest {chosen.digest}")
        parsed = mf.parse(child.data, child.media_type)
        if not isinstance(parsed, mf.Manifest):
            raise ImageError(f"manifest {chosen.digest} is a nested index, which is unsupported")
    config = client.blob_bytes(parsed.config.digest)
    return Resolved(client.base_url, top.digest, parsed, config)


def fetch_layers(
    resolved: Resolved,
    ref: Reference,
    display: str,
    diff_ids: Sequence[str],
    layers: LayerStore,
    tmp_dir: Path,
    progress: Progress,
    credentials: Credentials | None = None,
    transfer: Transfer | None = None,
) -> None:
    """Make every layer present, downloading only those the node does not have yet: each
    layer's steps in Docker's words (Pulling fs layer, Downloading, Verifying Checksum,
    Download complete, Extracting, Pull complete, or Already exists)."""
    if len(diff_ids) != len(resolved.manifest.layers):
        raise ImageError(
            f"image {display} is inconsistent: {len(resolved.manifest.layers)} layers in the "
            f"manifest, {len(diff_ids)} in the config"
        )
    pairs = list(zip(resolved.manifest.layers, diff_ids, strict=True))
    # Told lowest layer first, as dockerd: each either already here or to be pulled.
    present = {diff_id for _, diff_id in pairs if layers.has(diff_id)}
    for descriptor, diff_id in pairs:
        step = "Already exists" if diff_id in present else "Pulling fs layer"
        progress(f"{digest_hex(descriptor.digest)[:12]}: {step}")
    with RegistryClient(resolved.base_url, ref.path, display, credentials=credentials) as client:
        for descriptor, diff_id in pairs:
            short = digest_hex(descriptor.digest)[:12]

            @contextmanager
            def download(
                desc: mf.Descriptor = descriptor, short: str = short
            ) -> Iterator[BinaryIO]:
                dest = tmp_dir / f"blob-{digest_hex(desc.digest)}-{threading.get_ident()}"
                told = _Told(short, desc.size, transfer)
                with client.blob(desc.digest, dest, told.add) as path, path.open("rb") as stream:
                    told.end()
                    progress(f"{short}: Verifying Checksum")  # _stream_to verified it
                    progress(f"{short}: Download complete")
                    yield stream

            extracting = _Told(short, descriptor.size, transfer, "Extracting")
            unpacked = layers.ensure(diff_id, download, extracting=extracting.at)
            if unpacked:
                extracting.end()
            layers.add_source(diff_id, ref.name)  # push may mount it from there
            if unpacked:
                progress(f"{short}: Pull complete")
            elif diff_id not in present:  # another pull unpacked it meanwhile
                progress(f"{short}: Already exists")


class _Told:
    """One layer's download or unpacking, told as Docker's "Downloading" or "Extracting"
    progress every TELL_EVERY bytes (of the blob, compressed, as dockerd counts both)."""

    def __init__(
        self, short: str, size: int, transfer: Transfer | None, action: str = "Downloading"
    ) -> None:
        self.short, self.size, self.transfer, self.action = short, size, transfer, action
        self.done = self.last = 0

    def add(self, n: int) -> None:
        self.at(self.done + n)

    def at(self, done: int) -> None:
        self.done = done
        if self.done - self.last >= TELL_EVERY:
            self._tell()

    def end(self) -> None:
        if self.done != self.last:
            self._tell()

    def _tell(self) -> None:
        self.last = self.done
        if self.transfer is not None:
            self.transfer(progress_message(self.action, self.done, self.size, self.short))
