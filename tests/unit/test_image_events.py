"""The image store tells Docker's image events (load, tag, untag, delete) and counts each
layer once for system df."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmpy.engine.images.store import ImageStore
from tests.support.busybox_image import busybox_image, save_docker_tar


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="swarmpy-imgev-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_load_and_remove_tell_dockers_image_events(scratch: Path) -> None:
    store = ImageStore(scratch / "images", hub_url=None)
    heard: list[tuple[str, str, str]] = []
    store.events.subscribe(
        lambda action, actor, attributes: heard.append((action, actor, attributes["name"]))
    )
    image = busybox_image()
    save_docker_tar(scratch / "bb.tar", image, ["busybox:latest", "busybox:1"])
    [record] = store.load(scratch / "bb.tar")
    assert heard[0] == ("load", record.id, record.id)
    assert sorted(heard[1:]) == [
        ("tag", record.id, "busybox:1"),
        ("tag", record.id, "busybox:latest"),
    ]
    sizes = store.layer_sizes()
    assert set(sizes) == set(record.diff_ids)
    assert sum(sizes.values()) == record.size

    heard.clear()
    store.remove("busybox:1")
    assert heard == [("untag", record.id, record.id)]
    heard.clear()
    store.remove("busybox:latest")
    assert heard == [("untag", record.id, record.id), ("delete", record.id, record.id)]
    assert store.layer_sizes() == {}
