"""Loading archives into an ImageStore and querying it (no registry, no mounts)."""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmpy.engine.images.store import ImageStore
from swarmpy.errors import Conflict, ImageError, NotFound
from tests.support.busybox_image import (
    Entry,
    Image,
    busybox_image,
    busybox_layer,
    make_image,
    save_docker_tar,
    tar_layer,
    write_oci_layout,
)


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="swarmpy-store-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def store(scratch: Path) -> ImageStore:
    return ImageStore(scratch / "images", hub_url=None)


def _app_image() -> Image:
    extra = tar_layer([Entry("app.txt", b"hello from app\n")])
    return make_image(
        [busybox_layer(), extra], cmd=("cat", "/app.txt"), workdir="/", created_by=["base", "app"]
    )


def test_docker_save_tarball_loads_with_its_tags(store: ImageStore, scratch: Path) -> None:
    image = busybox_image()
    save_docker_tar(scratch / "bb.tar", image, ["busybox:latest", "busybox:1"])
    [record] = store.load(scratch / "bb.tar")
    assert record.id == image.config_digest
    rows = store.list()
    assert [(r.repository, r.tag, r.image_id) for r in rows] == [
        ("busybox", "1", image.config_digest[7:19]),
        ("busybox", "latest", image.config_digest[7:19]),
    ]
    [layer] = store.layer_dirs("busybox")
    assert (layer / "bin" / "busybox").is_file()
    assert (layer / "bin" / "sh").is_symlink()


def test_oci_layout_loads_from_a_directory_and_from_a_tar(store: ImageStore, scratch: Path) -> None:
    layout = scratch / "layout"
    write_oci_layout(layout, _app_image(), "example.test/app:v1")
    [record] = store.load(layout)
    assert store.get("example.test/app:v1") == record

    with tarfile.open(scratch / "layout.tar", "w") as tar:
        tar.add(layout, arcname=".")
    other = ImageStore(scratch / "other", hub_url=None)
    [again] = other.load(scratch / "layout.tar")
    assert again.id == record.id
    assert other.config("example.test/app:v1").cmd == ("cat", "/app.txt")


def test_an_archive_layer_that_does_not_match_the_config_is_refused(
    store: ImageStore, scratch: Path
) -> None:
    image = busybox_image()
    forged = make_image([tar_layer([Entry("evil", b"x")])])
    # Pair busybox's config (its diff_ids) with another layer's content.
    save_docker_tar(
        scratch / "bad.tar", Image(image.config, forged.layers, image.diff_ids), ["bad:1"]
    )
    with pytest.raises(ImageError, match="layer verification failed"):
        store.load(scratch / "bad.tar")
    assert store.list() == []
    with pytest.raises(NotFound):
        store.get("bad:1")


def test_inspect_history_and_runtime_config_describe_the_image(
    store: ImageStore, scratch: Path
) -> None:
    image = _app_image()
    save_docker_tar(scratch / "app.tar", image, ["app:v1"])
    store.load(scratch / "app.tar")
    view = store.inspect("app:v1")
    assert view["Id"] == image.config_digest
    assert view["RepoTags"] == ["app:v1"]
    assert view["Os"] == "linux"
    assert view["Config"]["Cmd"] == ["cat", "/app.txt"]
    assert view["RootFS"] == {"Type": "layers", "Layers": list(image.diff_ids)}
    assert view["Size"] == len(b"hello from app\n") + store.history("app:v1")[1]["Size"]
    history = store.history("app:v1")
    assert [h["CreatedBy"] for h in history] == ["app", "base"]
    assert history[0]["Id"] == image.config_digest
    assert history[1]["Id"] == "<missing>"
    config = store.config(image.config_digest[7:15])  # an id prefix works too
    assert config.image_id == image.config_digest
    assert config.env == ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    assert [p.parent.name for p in store.layer_dirs("app:v1")] == [d[7:] for d in image.diff_ids]


def test_unknown_images_are_reported_like_docker(store: ImageStore) -> None:
    with pytest.raises(NotFound) as caught:
        store.get("nope")
    assert str(caught.value) == "No such image: nope"


def test_remove_untags_then_deletes_and_keeps_shared_layers(
    store: ImageStore, scratch: Path
) -> None:
    save_docker_tar(scratch / "bb.tar", busybox_image(), ["busybox:latest", "busybox:1"])
    save_docker_tar(scratch / "app.tar", _app_image(), ["app:v1"])
    store.load(scratch / "bb.tar")
    store.load(scratch / "app.tar")
    app_layers = store.layer_dirs("app:v1")

    assert store.remove("busybox:1") == [{"Untagged": "busybox:1"}]
    report = store.remove("busybox:latest")
    assert report[-1] == {"Deleted": busybox_image().config_digest}
    assert all(p.is_dir() for p in app_layers), "app still needs the busybox layer"

    store.remove("app:v1")
    assert store.list() == []
    assert not any(p.exists() for p in app_layers)


def test_an_image_in_use_cannot_be_removed(store: ImageStore, scratch: Path) -> None:
    save_docker_tar(scratch / "bb.tar", busybox_image(), ["busybox:latest"])
    [record] = store.load(scratch / "bb.tar")
    with pytest.raises(Conflict, match="is using its referenced image"):
        store.remove("busybox", users=lambda i: [("c" * 64, False)] if i == record.id else [])
    assert store.get("busybox") == record


def test_a_tag_moves_to_the_newly_loaded_image(store: ImageStore, scratch: Path) -> None:
    save_docker_tar(scratch / "bb.tar", busybox_image(), ["thing:latest"])
    save_docker_tar(scratch / "app.tar", _app_image(), ["thing:latest"])
    store.load(scratch / "bb.tar")
    store.load(scratch / "app.tar")
    assert store.get("thing").id == _app_image().config_digest
    assert {(r.repository, r.tag) for r in store.list()} == {
        ("thing", "latest"),
        ("<none>", "<none>"),
    }


def test_records_survive_a_restart(store: ImageStore, scratch: Path) -> None:
    save_docker_tar(scratch / "bb.tar", busybox_image(), ["busybox:latest"])
    [record] = store.load(scratch / "bb.tar")
    assert ImageStore(store.root, hub_url=None).get("busybox") == record
    assert (
        json.loads((store.root / "images" / f"{record.id[7:]}.json").read_text())["id"] == record.id
    )
