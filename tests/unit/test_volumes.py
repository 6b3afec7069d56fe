"""Local volumes as Docker's local driver keeps them: names, options, the store on a
temporary root, copy-up from the image, and which mounts a container gets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from swarmpy.engine import volumes
from swarmpy.engine.spec import Mount, MountKind
from swarmpy.errors import Conflict, InvalidArgument, NotFound


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a", "volume name is too short"),
        ("-x", "includes invalid characters for a local volume name"),
        ("a/b", "includes invalid characters"),
        ("", "includes invalid characters"),
    ],
)
def test_bad_names_refused_in_dockers_words(name: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        volumes.check_name(name)


def test_good_names() -> None:
    for name in ("ab", "my_volume", "v.1-x", "0" * 64):
        volumes.check_name(name)


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"bogus": "1"}, 'invalid option: "bogus"'),
        ({"type": "tmpfs"}, 'missing required option: "device"'),
        ({"o": "size=1m", "device": "tmpfs"}, 'missing required option: "type"'),
        ({"size": "10m"}, "no quota support"),
    ],
)
def test_bad_options_refused(opts: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        volumes.check_options(opts)


def test_tmpfs_mount_command() -> None:
    opts = {"type": "tmpfs", "device": "tmpfs", "o": "size=64m,uid=1000"}
    volumes.check_options(opts)
    assert volumes.needs_mount(opts)
    assert volumes.mount_argv(opts, Path("/v/_data")) == [
        "mount",
        "-t",
        "tmpfs",
        "-o",
        "size=64m,uid=1000",
        "tmpfs",
        "/v/_data",
    ]
    assert not volumes.needs_mount({})


def test_driver_other_than_local_refused() -> None:
    volumes.check_driver("local")
    with pytest.raises(NotFound, match='plugin "nfsplug" not found'):
        volumes.check_driver("nfsplug")


def test_store_lifecycle(tmp_path: Path) -> None:
    store = volumes.VolumeStore(tmp_path / "volumes")
    made = store.create("data", labels={"tier": "db"})
    assert made.mountpoint == tmp_path / "volumes" / "data" / "_data"
    assert made.mountpoint.is_dir()
    assert dict(made.labels) == {"tier": "db"}
    # Idempotent, as Docker's: the existing volume keeps its labels.
    again = store.create("data", labels={"other": "x"})
    assert dict(again.labels) == {"tier": "db"}
    unnamed = store.create()
    assert len(unnamed.name) == 64
    assert not unnamed.anonymous
    assert [v.name for v in store.list()] == sorted(["data", unnamed.name])
    with pytest.raises(Conflict, match=r"remove data: volume is in use - \[c1, c2\]"):
        store.remove("data", users=["c1", "c2"])
    store.remove("data")
    with pytest.raises(NotFound, match="get data: no such volume"):
        store.get("data")
    with pytest.raises(NotFound, match="no such volume"):
        store.remove("data")
    store.remove("data", force=True)
    with pytest.raises(NotFound):
        store.get("../volumes")


def test_volume_users_by_container() -> None:
    users = volumes.volume_users({"c1": ["a", "b", "a"], "c2": ["a"]})
    assert users == {"a": ["c1", "c2"], "b": ["c1"]}


def _image(tmp_path: Path) -> Path:
    rootfs = tmp_path / "rootfs"
    (rootfs / "srv" / "data" / "sub").mkdir(parents=True)
    (rootfs / "srv" / "data" / "seed.txt").write_text("from the image\n")
    os.chmod(rootfs / "srv" / "data", 0o750)
    (rootfs / "link").symlink_to("/srv")
    return rootfs


def test_copy_up_fills_only_an_empty_volume(tmp_path: Path) -> None:
    rootfs = _image(tmp_path)
    data = tmp_path / "v" / "_data"
    data.mkdir(parents=True)
    assert volumes.copy_up(rootfs, "/srv/data", data)
    assert (data / "seed.txt").read_text() == "from the image\n"
    assert (data / "sub").is_dir()
    assert data.stat().st_mode & 0o777 == 0o750
    (data / "seed.txt").write_text("changed\n")
    assert not volumes.copy_up(rootfs, "/srv/data", data)
    assert (data / "seed.txt").read_text() == "changed\n"


def test_image_path_resolves_links_inside_the_rootfs(tmp_path: Path) -> None:
    rootfs = _image(tmp_path)
    assert volumes.image_path(rootfs, "/link/data") == rootfs / "srv" / "data"
    assert volumes.image_path(rootfs, "/../../srv") == rootfs / "srv"
    assert volumes.image_path(rootfs, "/nope") is None


def test_prepare_mounts(tmp_path: Path) -> None:
    rootfs = _image(tmp_path)
    store = volumes.VolumeStore(tmp_path / "volumes")
    mounts = (
        Mount(MountKind.VOLUME, "/srv/data", "named", volume_labels=(("a", "b"),)),
        Mount(MountKind.VOLUME, "/srv/data/sub", "nocopy", volume_nocopy=True),
        Mount(MountKind.TMPFS, "/tmp"),
        Mount(MountKind.VOLUME, "/anon"),
    )
    out = volumes.prepare_mounts(store, mounts, ["/srv/data", "/var/cache/"], rootfs)
    by_target = {m.target: m for m in out}
    # The image's /srv/data is covered by a mount; /var/cache gets an anonymous volume.
    assert sorted(by_target) == ["/anon", "/srv/data", "/srv/data/sub", "/tmp", "/var/cache"]
    assert (store.data_dir("named") / "seed.txt").exists()
    assert dict(store.get("named").labels) == {"a": "b"}
    assert not any(store.data_dir("nocopy").iterdir())
    for target in ("/anon", "/var/cache"):
        volume = store.get(by_target[target].source)
        assert volume.anonymous
        assert len(volume.name) == 64
    assert volumes.anonymous_volumes(store, ["named", by_target["/anon"].source]) == [
        by_target["/anon"].source
    ]
