"""The node's images: pull, load, list, inspect, remove, and the runtime's two questions
(which layer dirs, which config).

On disk under ``root``: ``blobs/sha256/<hex>`` holds config blobs, ``images/<hex>.json`` one
record per image, ``layers/`` the shared unpacked layers (see layers.py), ``tmp/`` downloads.
"""

from __future__ import annotations

import builtins
import errno
import gzip
import hashlib
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from swarmpy.engine.images import pull as pulling
from swarmpy.engine.images import removal
from swarmpy.engine.images.archive import open_archive
from swarmpy.engine.images.digests import digest_hex, sha256_of
from swarmpy.engine.images.events import ImageEvents
from swarmpy.engine.images.layers import LayerStore
from swarmpy.engine.images.layertar import write_layer
from swarmpy.engine.images.records import (
    ImageConfig,
    ImageRecord,
    diff_ids_of,
    parse_config,
    record_for,
    runtime_config,
)
from swarmpy.engine.images.reference import Reference, familiar_name, parse_reference
from swarmpy.engine.images.registry import Credentials, RegistryClient
from swarmpy.engine.images.views import ImageRow, history_rows, inspect_view, list_rows
from swarmpy.errors import Conflict, ImageError, InvalidArgument, NotFound
from swarmpy.fsutil import write_atomic

Progress = Callable[[str], None]


class ImageStore:
    def __init__(
        self,
        root: Path,
        insecure_registries: Sequence[str] = (),
        mirrors: Sequence[str] = (),
        hub_url: str | None = pulling.DOCKER_HUB_URL,
    ) -> None:
        """``hub_url=None`` never falls back to Docker Hub (tests and labs without internet)."""
        self.root = root
        self.insecure_registries = tuple(insecure_registries)
        self.mirrors = tuple(mirrors)
        self.hub_url = hub_url
        self._blobs = root / "blobs" / "sha256"
        self._images = root / "images"
        self._tmp = root / "tmp"
        shutil.rmtree(self._tmp, ignore_errors=True)  # downloads a crash interrupted
        for path in (self._blobs, self._images, self._tmp):
            path.mkdir(parents=True, exist_ok=True)
        self._layers = LayerStore(root / "layers")
        self._lock = threading.RLock()
        self.events = ImageEvents()
        # Layers an unfinished pull or load relies on: removal must not collect them.
        self._pinned: Counter[str] = Counter()
        self._records = {
            r.id: r
            for r in (ImageRecord.from_json(p.read_text()) for p in self._images.glob("*.json"))
        }

    # ------------------------------------------------------------ adding images

    def pull(
        self,
        ref: str,
        progress: Progress | None = None,
        credentials: Credentials | None = None,
        transfer: pulling.Transfer | None = None,
    ) -> ImageRecord:
        """Pull ``ref``, telling its steps to ``progress`` and its downloads' bytes (Docker's
        JSON messages) to ``transfer``."""
        say = progress or (lambda _line: None)
        parsed = parse_reference(ref)
        display = familiar_name(str(parsed))
        endpoints = pulling.endpoints_for(
            parsed, self.insecure_registries, self.mirrors, self.hub_url
        )
        resolved = pulling.resolve(parsed, endpoints, display, say, credentials)
        doc = parse_config(resolved.config)
        diff_ids = diff_ids_of(doc)
        # dockerd's tagUpdated: up to date only if the name pulled named this image already.
        with self._lock:
            before = self._by_reference(str(parsed))
        known = before is not None and before.id == sha256_of(resolved.config)
        with self._pinning(diff_ids):
            pulling.fetch_layers(
                resolved,
                parsed,
                display,
                diff_ids,
                self._layers,
                self._tmp,
                say,
                credentials,
                transfer,
            )
            record = self._register(
                resolved.config,
                tags=(f"{parsed.name}:{parsed.tag}",) if parsed.tag else (),
                digests=(f"{parsed.name}@{resolved.manifest_digest}",),
            )
        say(f"Digest: {resolved.manifest_digest}")
        say(f"Status: {'Image is up to date' if known else 'Downloaded newer image'} for {display}")
        self.events.emit("pull", display, familiar_name(parsed.name), self._labels(record))
        return record

    def load(self, path: Path) -> builtins.list[ImageRecord]:
        """Load every image of a ``docker save`` tarball or an OCI layout (tar or dir)."""
        if not path.exists():
            raise NotFound(f"open {path}: no such file or directory")
        records = []
        with open_archive(path) as images:
            for image in images:
                doc = parse_config(image.config)
                diff_ids = diff_ids_of(doc)
                if len(diff_ids) != len(image.layers):
                    raise ImageError("invalid archive: layer count does not match the config")
                with self._pinning(diff_ids):
                    for diff_id, source in zip(diff_ids, image.layers, strict=True):
                        self._layers.ensure(diff_id, source)
                    records.append(self._register(image.config, tags=image.repo_tags))
        for record in records:
            labels = self._labels(record)
            self.events.emit("load", record.id, record.id, labels)
            for tag in record.repo_tags:
                self.events.emit("tag", record.id, familiar_name(tag), labels)
        return records

    def register_built(
        self, config: bytes, parent: str, layer: tuple[Path, Path, str] | None = None
    ) -> ImageRecord:
        """Add an image a build step made: its config, and when the step changed files its
        new layer, ``(tree, gzipped tar, diff_id)``: the tree (an overlay upper dir, whiteouts
        as overlayfs has them) is moved into the store as the layer, the tar kept as its
        blob."""
        diff_ids = diff_ids_of(parse_config(config))
        with self._pinning(diff_ids):
            if layer is not None:
                tree, blob, diff_id = layer
                try:
                    self._layers.adopt(tree, blob, diff_id)
                except OSError as e:
                    if e.errno != errno.EXDEV:
                        raise

                    # The build's work dir on another file system: unpack the blob instead.
                    @contextmanager
                    def source() -> Iterator[Any]:
                        with blob.open("rb") as stream:
                            yield stream

                    self._layers.ensure(diff_id, source)
            return self._register(config, tags=(), parent=parent)

    def cached_child(self, parent: str, container_config: dict[str, Any]) -> str | None:
        """The build cache: an image made from ``parent`` by a step with this run config."""
        with self._lock:
            children = [r for r in self._records.values() if r.parent == parent]
        for child in sorted(children, key=lambda r: r.created, reverse=True):
            try:
                doc = self._config_doc(child)
            except (OSError, ImageError):
                continue
            if doc.get("container_config") == container_config and all(
                self._layers.has(d) for d in child.diff_ids
            ):
                return child.id
        return None

    def config_doc(self, ref_or_id: str) -> dict[str, Any]:
        return self._config_doc(self.get(ref_or_id))

    def tag(self, source: str, target: str) -> ImageRecord:
        """``docker tag``: ``target`` names the image ``source`` names (and no other)."""
        parsed = parse_reference(target)
        if parsed.digest:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        key = _ref_key(parsed)
        with self._lock:
            record = self.get(source)
            self._untag_others(key, record.id)
            if key not in record.repo_tags:
                record = replace(record, repo_tags=(*record.repo_tags, key))
                self._save(record)
        self.events.emit("tag", record.id, familiar_name(key), self._labels(record))
        return record

    def layer_blob(self, diff_id: str) -> tuple[Path, str]:
        """The layer's blob as kept (path, digest); one made now from the unpacked tree when
        none was kept, if that tree still gives the layer's diff_id."""
        kept = self._layers.blob(diff_id)
        if kept is not None:
            return kept
        with tempfile.NamedTemporaryFile(dir=self._tmp, delete=False) as raw:
            tmp = Path(raw.name)
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                hashing = _HashingWriter(gz)
                write_layer(self._layers.diff_dir(diff_id), hashing)  # type: ignore[arg-type]
        if hashing.digest != diff_id:
            tmp.unlink(missing_ok=True)
            raise ImageError(
                f"layer {diff_id} cannot be exported: its original content was not kept and "
                "its files no longer give the same digest; pull or build the image again"
            )
        self._layers.keep_blob(diff_id, tmp)
        kept = self._layers.blob(diff_id)
        assert kept is not None
        return kept

    def config_blob(self, image_id: str) -> bytes:
        return (self._blobs / digest_hex(image_id)).read_bytes()

    def add_repo_digest(self, image_id: str, digest_ref: str) -> None:
        with self._lock:
            record = self._records.get(image_id)
            if record is not None and digest_ref not in record.repo_digests:
                self._save(replace(record, repo_digests=(*record.repo_digests, digest_ref)))

    def check_login(self, server: str, credentials: Credentials | None) -> None:
        """``docker login``'s check: GET /v2/ on ``server`` with the credentials."""
        host = server.split("://", 1)[-1].rstrip("/")
        if host.endswith("/v1") or host.endswith("/v2"):
            host = host.rsplit("/", 1)[0]
        if not host or host in ("index.docker.io", "docker.io", "registry-1.docker.io"):
            base = self.hub_url
        else:
            ref = parse_reference(f"{host}/x")
            base = pulling.endpoints_for(ref, self.insecure_registries, (), self.hub_url)[0]
        if base is None:
            raise ImageError("no registry to log in to")
        with RegistryClient(base, "", server or "docker.io", credentials=credentials) as client:
            client.check_login()

    def layer_sources(self, diff_id: str) -> builtins.list[str]:
        return self._layers.sources(diff_id)

    def add_layer_source(self, diff_id: str, repository: str) -> None:
        self._layers.add_source(diff_id, repository)

    def _register(
        self,
        config: bytes,
        tags: tuple[str, ...],
        digests: tuple[str, ...] = (),
        parent: str = "",
    ) -> ImageRecord:
        image_id = sha256_of(config)
        doc = parse_config(config)
        size = sum(self._layers.size(d) for d in diff_ids_of(doc))
        with self._lock:
            write_atomic(self._blobs / digest_hex(image_id), config)
            for tag in tags:  # a tag names one image: take it away from any other
                self._untag_others(tag, image_id)
            old = self._records.get(image_id)
            record = record_for(
                image_id,
                doc,
                size,
                repo_tags=_merge(old.repo_tags if old else (), tags),
                repo_digests=_merge(old.repo_digests if old else (), digests),
            )
            record = replace(record, parent=parent or (old.parent if old else ""))
            self._save(record)
            return record

    def _untag_others(self, tag: str, keep_id: str) -> None:
        for other in list(self._records.values()):
            if other.id != keep_id and tag in other.repo_tags:
                self._save(replace(other, repo_tags=tuple(t for t in other.repo_tags if t != tag)))

    # ------------------------------------------------------------ queries

    def list(self) -> builtins.list[ImageRow]:
        with self._lock:
            return list_rows(self._records.values())

    def records(self) -> builtins.list[ImageRecord]:
        with self._lock:
            return list(self._records.values())

    def _labels(self, record: ImageRecord) -> dict[str, str]:
        """The image's labels (its config's), as its events carry them."""
        try:
            labels = (self._config_doc(record).get("config") or {}).get("Labels")
        except (OSError, ImageError):
            return {}  # its config gone with it: an event says no more than its name
        return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}

    def layer_sizes(self) -> dict[str, int]:
        """The content size of each layer an image uses, by diff id (``system df``: shared
        layers count once)."""
        with self._lock:
            used = {d for r in self._records.values() for d in r.diff_ids}
            return {d: self._layers.size(d) for d in used if self._layers.has(d)}

    def get(self, ref_or_id: str) -> ImageRecord:
        """By reference (``busybox``, ``busybox:1``, ``name@sha256:...``) or id (prefix)."""
        with self._lock:
            record = self._by_reference(ref_or_id) or self._by_id_prefix(ref_or_id)
        if record is None:
            raise NotFound(f"No such image: {ref_or_id}")
        return record

    def inspect(self, ref: str) -> dict[str, Any]:
        record = self.get(ref)
        return inspect_view(record, self._config_doc(record))

    def history(self, ref: str) -> builtins.list[dict[str, Any]]:
        record = self.get(ref)
        rows = history_rows(record, self._config_doc(record), self._layers.size)
        # A built image's steps are images here too: each row its step made shows its id.
        ancestor = self._records.get(record.parent)
        while ancestor is not None:
            try:
                depth = len(self._config_doc(ancestor).get("history") or ())
            except (OSError, ImageError):
                break
            index = len(rows) - depth
            if 0 <= index < len(rows):
                rows[index]["Id"] = ancestor.id
                rows[index]["Tags"] = [familiar_name(t) for t in ancestor.repo_tags] or None
            ancestor = self._records.get(ancestor.parent)
        return rows

    def layer_dirs(self, ref_or_id: str) -> builtins.list[Path]:
        """The image's unpacked layers for overlayfs lowerdirs, lowest layer first."""
        return [self._layers.diff_dir(d) for d in self.get(ref_or_id).diff_ids]

    def config(self, ref_or_id: str) -> ImageConfig:
        record = self.get(ref_or_id)
        return runtime_config(record.id, self._config_doc(record))

    def _config_doc(self, record: ImageRecord) -> dict[str, Any]:
        return parse_config((self._blobs / digest_hex(record.id)).read_bytes())

    def _by_reference(self, text: str) -> ImageRecord | None:
        try:
            ref = parse_reference(text)
        except InvalidArgument:
            return None
        key = _ref_key(ref)
        for record in self._records.values():
            if key in record.repo_tags or key in record.repo_digests:
                return record
        return None

    def _by_id_prefix(self, text: str) -> ImageRecord | None:
        prefix = text.removeprefix("sha256:")
        if not prefix or any(c not in "0123456789abcdef" for c in prefix):
            return None
        matches = [r for r in self._records.values() if digest_hex(r.id).startswith(prefix)]
        if len(matches) > 1:
            raise Conflict(f"ambiguous image id prefix {text}: {len(matches)} images match")
        return matches[0] if matches else None

    # ------------------------------------------------------------ removal

    def remove(
        self,
        ref: str,
        users: removal.ImageUsers = removal.no_users,
        force: bool = False,
        prune: bool = True,
    ) -> builtins.list[dict[str, str]]:
        """``docker rmi``, as dockerd decides it: a name given goes (with its repository's
        digests once no tag of it is left), and the image with the last name; an id given
        deletes the image and its names. ``users(image_id)`` are the containers made from
        an image (id, running); ``prune`` also deletes the untagged build steps under it.

        Returns Docker's report rows (``{"Untagged": ...}``, ``{"Deleted": ...}``).
        """
        with self._lock:
            record = self.get(ref)
            report: builtins.list[dict[str, str]] = []
            refs = record.repo_tags + record.repo_digests
            if self._by_reference(ref) is record:
                key = _ref_key(parse_reference(ref))
                using = users(record.id)
                if not force and removal.single_reference(refs) and using:
                    raise Conflict(
                        f'conflict: unable to remove repository reference "{ref}" (must '
                        f"force) - container {using[0][0][:12]} is using its referenced "
                        f"image {record.short_id}"
                    )
                left = [r for r in refs if r != key]
                gone = [key, *removal.digests_left_alone(key, left)]
                record = self._untag(record, gone, report)
                if record.repo_tags or record.repo_digests:
                    return report
                quiet = True  # the name is gone; a conflict only keeps the image
            else:
                if removal.single_reference(refs):
                    conflict = self._conflict(record, users, soft=not force, refs=False)
                    if conflict is not None:
                        raise Conflict(str(conflict))
                    record = self._untag(record, refs, report)
                quiet = False
            self._delete_image(record, users, report, force, prune, quiet)
            return report

    def _untag(
        self, record: ImageRecord, refs: Sequence[str], report: builtins.list[dict[str, str]]
    ) -> ImageRecord:
        labels = self._labels(record)
        record = replace(
            record,
            repo_tags=tuple(t for t in record.repo_tags if t not in refs),
            repo_digests=tuple(d for d in record.repo_digests if d not in refs),
        )
        self._save(record)
        for ref in refs:
            report.append({"Untagged": familiar_name(ref)})
            self.events.emit("untag", record.id, record.id, labels)
        return record

    def _conflict(
        self, record: ImageRecord, users: removal.ImageUsers, soft: bool, refs: bool = True
    ) -> removal.DeleteConflict | None:
        has_refs = refs and bool(record.repo_tags or record.repo_digests)
        children = any(r.parent == record.id for r in self._records.values())
        return removal.delete_conflict(record.short_id, children, users(record.id), has_refs, soft)

    def _delete_image(
        self,
        record: ImageRecord,
        users: removal.ImageUsers,
        report: builtins.list[dict[str, str]],
        force: bool,
        prune: bool,
        quiet: bool,
    ) -> None:
        """dockerd's imageDeleteHelper: the image with its names unless a conflict keeps it
        (told, unless ``quiet`` and the image is still named, has children or is used),
        then, with ``prune``, its parent quietly."""
        conflict = self._conflict(record, users, soft=not force)
        if conflict is not None:
            named = bool(record.repo_tags or record.repo_digests)
            children = any(r.parent == record.id for r in self._records.values())
            if quiet and (named or children or conflict.used):
                return
            raise Conflict(str(conflict))
        record = self._untag(record, record.repo_tags + record.repo_digests, report)
        others = [r.diff_ids for r in self._records.values() if r.id != record.id]
        layers = removal.released_layers(record.diff_ids, others)
        self._delete(record)
        self.events.emit("delete", record.id, record.id, {})
        report.append({"Deleted": record.id})
        report += [{"Deleted": chain} for chain in layers]
        parent = self._records.get(record.parent)
        if prune and parent is not None:
            self._delete_image(parent, users, report, False, True, True)

    def intermediate(self, record: ImageRecord) -> bool:
        """An untagged build step another image was made from (``image ls`` hides it)."""
        with self._lock:
            return not record.repo_tags and any(
                r.parent == record.id for r in self._records.values()
            )

    def _delete(self, record: ImageRecord) -> None:
        (self._images / f"{digest_hex(record.id)}.json").unlink(missing_ok=True)
        (self._blobs / digest_hex(record.id)).unlink(missing_ok=True)
        del self._records[record.id]
        used = {d for r in self._records.values() for d in r.diff_ids} | set(self._pinned)
        for diff_id in set(record.diff_ids) - used:
            self._layers.remove(diff_id)

    # ------------------------------------------------------------ plumbing

    def _save(self, record: ImageRecord) -> None:
        write_atomic(self._images / f"{digest_hex(record.id)}.json", record.to_json().encode())
        self._records[record.id] = record

    @contextmanager
    def _pinning(self, diff_ids: Sequence[str]) -> Iterator[None]:
        with self._lock:
            self._pinned.update(diff_ids)
        try:
            yield
        finally:
            with self._lock:
                self._pinned.subtract(diff_ids)
                self._pinned += Counter()  # drop zero counts


class _HashingWriter:
    """A write-only stream that hashes what goes through it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        return int(self._inner.write(data))

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


def _ref_key(ref: Reference) -> str:
    """How a reference is stored in a record: ``name:tag`` or ``name@digest``."""
    return f"{ref.name}@{ref.digest}" if ref.digest else f"{ref.name}:{ref.tag}"


def _merge(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, ...]:
    return old + tuple(n for n in new if n not in old)


__all__ = ["ImageConfig", "ImageRecord", "ImageRow", "ImageStore"]
