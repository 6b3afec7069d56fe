"""docker rmi as dockerd decides it: a tag takes its repository's digests along once no
other tag of it is left (no ``<none>`` row stays behind), the last name deletes the image,
and a conflict is worded as Docker's."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmpy.engine.images import removal
from swarmpy.engine.images.store import ImageStore
from swarmpy.errors import Conflict
from tests.support.busybox_image import busybox_image, save_docker_tar

DIGEST = "sha256:" + "7" * 64
REGISTRY = "198.51.100.2:5000/library/busybox"


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images", hub_url=None)


def _pulled_twice(store: ImageStore, tmp_path: Path) -> str:
    """busybox as `docker pull busybox` and a pull from a registry leave it: a tag and a
    digest in each repository."""
    save_docker_tar(tmp_path / "bb.tar", busybox_image(), ["busybox:latest", f"{REGISTRY}:latest"])
    [record] = store.load(tmp_path / "bb.tar")
    store.add_repo_digest(record.id, f"docker.io/library/busybox@{DIGEST}")
    store.add_repo_digest(record.id, f"{REGISTRY}@{DIGEST}")
    return record.id


def test_a_repositorys_last_tag_takes_its_digest_along(store: ImageStore, tmp_path: Path) -> None:
    image_id = _pulled_twice(store, tmp_path)
    assert store.remove(REGISTRY) == [
        {"Untagged": f"{REGISTRY}:latest"},
        {"Untagged": f"{REGISTRY}@{DIGEST}"},
    ]
    # docker images lists an image's digests too: none of the registry's is left.
    assert store.get("busybox").repo_digests == (f"docker.io/library/busybox@{DIGEST}",)
    (layer,) = busybox_image().diff_ids  # one layer: its ChainID is its diff_id
    assert store.remove("busybox") == [
        {"Untagged": "busybox:latest"},
        {"Untagged": f"busybox@{DIGEST}"},
        {"Deleted": image_id},
        {"Deleted": layer},
    ]
    assert store.records() == []


def test_a_digest_named_goes_alone(store: ImageStore, tmp_path: Path) -> None:
    _pulled_twice(store, tmp_path)
    assert store.remove(f"busybox@{DIGEST}") == [{"Untagged": f"busybox@{DIGEST}"}]
    assert len(store.records()) == 1


def test_conflicts_are_worded_as_dockers(store: ImageStore, tmp_path: Path) -> None:
    image_id = _pulled_twice(store, tmp_path)
    short = image_id.removeprefix("sha256:")[:12]
    running = "a" * 64
    stopped = "b" * 64
    with pytest.raises(Conflict) as many:
        store.remove(short)
    assert many.value.message == (
        f"conflict: unable to delete {short} (must be forced) - image is referenced in "
        "multiple repositories"
    )
    store.remove(REGISTRY)
    with pytest.raises(Conflict) as used:
        store.remove("busybox", lambda _i: [(stopped, False)])
    assert used.value.message == (
        'conflict: unable to remove repository reference "busybox" (must force) - container '
        f"{stopped[:12]} is using its referenced image {short}"
    )
    with pytest.raises(Conflict) as up:
        store.remove(short, lambda _i: [(running, True)], force=True)
    assert up.value.message == (
        f"conflict: unable to delete {short} (cannot be forced) - image is being used by "
        f"running container {running[:12]}"
    )
    # Forced by name while a container runs it: the names go, the image stays (dangling).
    report = store.remove("busybox", lambda _i: [(running, True)], force=True)
    assert report == [{"Untagged": "busybox:latest"}, {"Untagged": f"busybox@{DIGEST}"}]
    assert [r.id for r in store.records()] == [image_id]
    # Unused and unnamed: by id, it is deleted, its layer with it.
    assert store.remove(short) == [{"Deleted": image_id}, {"Deleted": busybox_image().diff_ids[0]}]


def test_the_layers_no_other_image_stands_on_are_told_top_first() -> None:
    """dockerd's rmi lists the ChainIDs it released, down to one another image shares."""
    a, b, c = ("sha256:" + ch * 64 for ch in "abc")
    ab, abc = removal.chain_ids([a, b, c])[1:]
    assert removal.chain_ids([a]) == [a]
    assert removal.released_layers([a, b, c], [[a]]) == [abc, ab]
    assert removal.released_layers([a, b, c], [[a, b]]) == [abc]
    assert removal.released_layers([a, b], [[a, b, c]]) == []
    assert removal.released_layers([a, c], [[a, b, c]]) == [removal.chain_ids([a, c])[1]]
