"""Images a build commits, in the store: the cache lookup by parent and container_config,
build steps hidden from the list and deleted with the image made from them, tags, and the
save archive that loads back (no mounts, no runc)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from swarmpy.engine.images import removal
from swarmpy.engine.images.export import save_images
from swarmpy.engine.images.store import ImageStore
from swarmpy.errors import Conflict, InvalidArgument


def _layer(path: Path, name: str, data: bytes) -> tuple[Path, Path, str]:
    """A step's new layer as the builder hands it over: its tree, gzipped tar, diff_id."""
    tree = path.with_suffix(".tree")
    tree.mkdir()
    (tree / name).write_bytes(data)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    path.write_bytes(gzip.compress(raw.getvalue(), mtime=0))
    return tree, path, diff_id


def _config(diff_ids: list[str], cmd: str, history: int) -> bytes:
    doc = {
        "architecture": "amd64",
        "os": "linux",
        "created": f"2026-01-01T00:00:0{history}Z",
        "config": {"Env": ["PATH=/bin"]},
        "container_config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh", "-c", cmd]},
        "history": [{"created_by": f"step {i}"} for i in range(history)],
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    return json.dumps(doc).encode()


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images", hub_url=None)


def _chain(store: ImageStore, tmp_path: Path) -> tuple[str, str, str]:
    first = _layer(tmp_path / "l1.gz", "a.txt", b"a\n")
    diff = first[2]
    base = store.register_built(_config([diff], "base", 1), "", first)
    second = _layer(tmp_path / "l2.gz", "b.txt", b"b\n")
    diff2 = second[2]
    step = store.register_built(_config([diff, diff2], "copy", 2), base.id, second)
    top = store.register_built(_config([diff, diff2], "cmd", 3), step.id)
    return base.id, step.id, top.id


def test_cache_finds_the_child_made_by_the_same_step(store: ImageStore, tmp_path: Path) -> None:
    base, step, top = _chain(store, tmp_path)
    same = {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh", "-c", "copy"]}
    assert store.cached_child(base, same) == step
    assert store.cached_child(base, {**same, "Cmd": ["/bin/sh", "-c", "other"]}) is None
    assert store.cached_child(top, same) is None
    assert store.get(step).size == 4  # "a\n" and "b\n": the trees moved in as layers
    assert [(d / "b.txt").exists() for d in store.layer_dirs(step)] == [False, True]


def test_steps_are_hidden_and_go_with_their_image(store: ImageStore, tmp_path: Path) -> None:
    base, step, top = _chain(store, tmp_path)
    store.tag(base, "base:1")
    store.tag(top, "app:v1")
    assert store.intermediate(store.get(step))
    assert not store.intermediate(store.get(top))
    with pytest.raises(Conflict, match="image has dependent child images"):
        store.remove(step)
    history = store.history("app:v1")
    assert [row["Id"] for row in history] == [top, step, base]
    # The copy's layer goes with the step that made it (top made none: CMD), told by ChainID.
    copied = removal.chain_ids(store.get(step).diff_ids)[-1]
    report = store.remove("app:v1")
    assert report == [
        {"Untagged": "app:v1"},
        {"Deleted": top},
        {"Deleted": step},
        {"Deleted": copied},
    ]
    assert [r.id for r in store.records()] == [base]


def test_removing_a_tag_of_a_parent_keeps_it_as_a_step(store: ImageStore, tmp_path: Path) -> None:
    base, _, _ = _chain(store, tmp_path)
    store.tag(base, "base:1")
    assert store.remove("base:1") == [{"Untagged": "base:1"}]
    assert store.get(base).repo_tags == ()


def test_a_tag_moves_and_refuses_digests(store: ImageStore, tmp_path: Path) -> None:
    base, _, top = _chain(store, tmp_path)
    store.tag(base, "app:v1")
    store.tag(top, "app:v1")
    assert store.get("app:v1").id == top
    assert store.get(base).repo_tags == ()
    with pytest.raises(InvalidArgument, match="digest"):
        store.tag(top, "app@sha256:" + "0" * 64)


def test_save_writes_what_load_reads(store: ImageStore, tmp_path: Path) -> None:
    _, _, top = _chain(store, tmp_path)
    store.tag(top, "app:v1")
    archive = tmp_path / "app.tar"
    with archive.open("wb") as out:
        save_images(store, ["app:v1"], out)
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["app:v1"]
    other = ImageStore(tmp_path / "other", hub_url=None)
    [loaded] = other.load(archive)
    assert loaded.id == top
    assert other.get("app:v1").diff_ids == store.get(top).diff_ids
