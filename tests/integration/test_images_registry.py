"""Pulling from a real registry (Debian's docker-registry on loopback) and mounting rootfs."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from swarmpy.engine.images.rootfs import is_mounted, mount_rootfs, remove_rootfs, unmount_rootfs
from swarmpy.engine.images.store import ImageStore
from swarmpy.errors import ImageError
from tests.support.busybox_image import (
    Entry,
    busybox_image,
    busybox_layer,
    dir_entry,
    make_image,
    tar_layer,
)
from tests.support.registry import free_port, push_image, start_registry

pytestmark = pytest.mark.root


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A private dir for one test; anything still mounted under it is unmounted first."""
    path = Path(tempfile.mkdtemp(prefix="swarmpy-img-"))
    try:
        yield path
    finally:
        for container in path.glob("c*"):
            remove_rootfs(container)
        shutil.rmtree(path, ignore_errors=True)


def _store(workdir: Path, registry_addr: str) -> ImageStore:
    return ImageStore(workdir / "data", mirrors=[f"http://{registry_addr}"], hub_url=None)


def test_busybox_pulls_through_a_mirror_and_mounts_as_a_rootfs(
    registry: str,
    workdir: Path,
) -> None:
    store = _store(workdir, registry)
    lines: list[str] = []
    record = store.pull("busybox", lines.append)
    assert record.id == busybox_image().config_digest
    assert [(r.repository, r.tag) for r in store.list()] == [("busybox", "latest")]
    assert lines[-1] == "Status: Downloaded newer image for busybox:latest"
    store.pull("busybox", lines.append)
    assert lines[-1] == "Status: Image is up to date for busybox:latest"

    rootfs = mount_rootfs(store.layer_dirs("busybox"), workdir / "c1")
    assert mount_rootfs(store.layer_dirs("busybox"), workdir / "c1") == rootfs  # idempotent
    assert os.access(rootfs / "bin" / "busybox", os.X_OK)
    assert os.readlink(rootfs / "bin" / "ping") == "busybox"
    assert stat.S_IMODE((rootfs / "tmp").stat().st_mode) == 0o1777

    (rootfs / "tmp" / "written").write_text("mine")
    assert (workdir / "c1" / "upper" / "tmp" / "written").exists()
    assert not (store.layer_dirs("busybox")[0] / "tmp" / "written").exists()

    unmount_rootfs(workdir / "c1")
    unmount_rootfs(workdir / "c1")
    assert not is_mounted(rootfs)


def test_a_second_image_reuses_the_shared_layer(
    registry: str,
    workdir: Path,
) -> None:
    app = make_image([busybox_layer(), tar_layer([Entry("app.txt", b"v1\n")])])
    push_image(f"http://{registry}", "app", "v1", app)
    store = _store(workdir, registry)
    store.pull(f"{registry}/busybox")
    [base] = store.layer_dirs(f"{registry}/busybox")
    inode = base.stat().st_ino

    lines: list[str] = []
    store.pull(f"{registry}/app:v1", lines.append)
    assert f"{app.layer_digests[0][7:19]}: Already exists" in lines
    assert f"{app.layer_digests[1][7:19]}: Pull complete" in lines
    layers = store.layer_dirs(f"{registry}/app:v1")
    assert layers[0] == base
    assert base.stat().st_ino == inode

    rootfs = mount_rootfs(layers, workdir / "c2")
    assert (rootfs / "app.txt").read_text() == "v1\n"
    assert (rootfs / "bin" / "busybox").is_file()


def test_concurrent_pulls_of_one_image_both_succeed(
    registry: str,
    workdir: Path,
) -> None:
    store = _store(workdir, registry)
    with ThreadPoolExecutor(3) as pool:
        pulls = [pool.submit(store.pull, f"{registry}/busybox:latest") for _ in range(3)]
    # result() raises what a pull raised, in the test's thread.
    assert [p.result().id for p in pulls] == [busybox_image().config_digest] * 3
    assert len(list((workdir / "data" / "layers").iterdir())) == 1
    assert (store.layer_dirs(f"{registry}/busybox")[0] / "bin").is_dir()


def test_missing_repositories_and_tags_give_one_clear_line(
    registry: str,
    workdir: Path,
) -> None:
    store = _store(workdir, registry)
    # Docker Hub answers 401 here ("pull access denied ...", see the unit tests); the
    # distribution registry answers MANIFEST_UNKNOWN, and docker prints the same as we do.
    with pytest.raises(ImageError) as caught:
        store.pull(f"{registry}/nope")
    assert str(caught.value) == f"manifest for {registry}/nope:latest not found: manifest unknown"
    with pytest.raises(ImageError) as caught:
        store.pull(f"{registry}/busybox:nope")
    assert str(caught.value) == f"manifest for {registry}/busybox:nope not found: manifest unknown"
    assert store.list() == []


def test_an_unreachable_registry_is_reported(workdir: Path) -> None:
    addr = f"127.0.0.1:{free_port()}"  # nothing listens there
    store = ImageStore(workdir / "data", hub_url=None)
    with pytest.raises(ImageError, match="unreachable"):
        store.pull(f"{addr}/busybox")


def test_a_tampered_blob_is_refused_and_nothing_is_kept(workdir: Path) -> None:
    image = make_image([tar_layer([Entry("data", os.urandom(64))])])
    with start_registry(f"127.0.0.1:{free_port()}") as reg:
        push_image(reg.url, "victim", "latest", image)
        hex_digest = image.layer_digests[0][7:]
        [blob] = reg.storage.rglob(f"blobs/sha256/{hex_digest[:2]}/{hex_digest}/data")
        tampered = bytearray(image.layers[0])
        tampered[len(tampered) // 2] ^= 0xFF
        blob.write_bytes(bytes(tampered))

        store = ImageStore(workdir / "data", hub_url=None)
        with pytest.raises(ImageError, match="verification failed"):
            store.pull(f"{reg.addr}/victim")
    assert store.list() == []
    assert list((workdir / "data" / "layers").iterdir()) == []
    assert list((workdir / "data" / "tmp").iterdir()) == []


def test_whiteouts_hide_lower_files_in_the_mounted_rootfs(workdir: Path) -> None:
    base = tar_layer(
        [
            dir_entry("etc"),
            Entry("etc/gone", b"x"),
            Entry("etc/kept", b"x"),
            dir_entry("cache"),
            Entry("cache/old", b"x"),
        ]
    )
    top = tar_layer(
        [Entry("etc/.wh.gone", b""), Entry("cache/.wh..wh..opq", b""), Entry("cache/new", b"y")]
    )
    image = make_image([base, top])
    with start_registry(f"127.0.0.1:{free_port()}") as reg:
        push_image(reg.url, "layered", "latest", image)
        store = ImageStore(workdir / "data", hub_url=None)
        store.pull(f"{reg.addr}/layered")
    lower, upper = store.layer_dirs(f"{reg.addr}/layered")
    whiteout = os.lstat(upper / "etc" / "gone")
    assert stat.S_ISCHR(whiteout.st_mode)
    assert whiteout.st_rdev == 0
    assert os.getxattr(upper / "cache", "trusted.overlay.opaque") == b"y"

    rootfs = mount_rootfs([lower, upper], workdir / "c3")
    assert sorted(os.listdir(rootfs / "etc")) == ["kept"]
    assert sorted(os.listdir(rootfs / "cache")) == ["new"]
