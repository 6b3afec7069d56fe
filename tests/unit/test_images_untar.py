from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pytest

from swarmpy.engine.images.layers import LayerSource, LayerStore
from swarmpy.engine.images.untar import Whiteout, classify, extract_layer, safe_name
from swarmpy.errors import ImageError
from tests.support.busybox_image import Entry, dir_entry, sha256, tar_layer


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="swarmpy-untar-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("etc/passwd", (Whiteout.NONE, "etc/passwd")),
        ("etc/.wh.passwd", (Whiteout.FILE, "etc/passwd")),
        (".wh.tmp", (Whiteout.FILE, "tmp")),
        ("var/cache/.wh..wh..opq", (Whiteout.OPAQUE, "var/cache")),
        (".wh..wh..opq", (Whiteout.OPAQUE, "")),
    ],
)
def test_aufs_whiteouts_map_to_overlay_actions(name: str, expected: tuple[Whiteout, str]) -> None:
    assert classify(name) == expected


@pytest.mark.parametrize(
    ("name", "clean"), [("./bin/sh", "bin/sh"), ("/etc//hosts", "etc/hosts"), ("./", "")]
)
def test_member_names_are_made_relative(name: str, clean: str) -> None:
    assert safe_name(name) == clean


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/../evil"])
def test_names_escaping_the_layer_are_refused(name: str) -> None:
    with pytest.raises(ImageError, match="escapes the layer"):
        safe_name(name)


def _extract(data: bytes, dest: Path) -> tuple[str, int]:
    return extract_layer(io.BytesIO(data), dest)


def test_extraction_keeps_files_modes_and_symlinks_and_reports_the_diff_id(scratch: Path) -> None:
    layer = tar_layer(
        [
            dir_entry("bin"),
            Entry("bin/tool", b"#!/bin/sh\n", mode=0o755),
            Entry("bin/alias", link="tool"),
            Entry(
                "etc/abs", link="/etc/passwd"
            ),  # absolute targets are fine: they live in the rootfs
            dir_entry("tmp", 0o1777),
        ]
    )
    diff_id, size = _extract(layer, scratch)
    assert diff_id == sha256(layer)
    assert size == len(b"#!/bin/sh\n")
    assert (scratch / "bin/tool").read_bytes() == b"#!/bin/sh\n"
    assert (scratch / "bin/tool").stat().st_mode & 0o7777 == 0o755
    assert os.readlink(scratch / "bin/alias") == "tool"
    assert os.readlink(scratch / "etc/abs") == "/etc/passwd"
    assert (scratch / "tmp").stat().st_mode & 0o7777 == 0o1777


def test_a_symlink_cannot_redirect_later_entries_outside(scratch: Path) -> None:
    outside = scratch / "outside"
    outside.mkdir()
    dest = scratch / "layer"
    dest.mkdir()
    layer = tar_layer([Entry("escape", link=str(outside)), Entry("escape/pwned", b"x")])
    with pytest.raises(ImageError, match="not a directory"):
        _extract(layer, dest)
    assert not (outside / "pwned").exists()


def test_gzipped_layers_hash_to_the_uncompressed_diff_id(scratch: Path) -> None:
    import gzip

    layer = tar_layer([Entry("hello", b"hi")])
    diff_id, _ = _extract(gzip.compress(layer), scratch)
    assert diff_id == sha256(layer)


def _source(data: bytes) -> LayerSource:
    @contextmanager
    def opener() -> Iterator[BinaryIO]:
        yield io.BytesIO(data)

    return opener


def test_a_layer_whose_content_does_not_match_its_diff_id_is_not_kept(scratch: Path) -> None:
    store = LayerStore(scratch)
    layer = tar_layer([Entry("hello", b"hi")])
    wrong = sha256(b"something else")
    with pytest.raises(ImageError, match="layer verification failed"):
        store.ensure(wrong, _source(layer))
    assert not store.has(wrong)
    assert list(scratch.iterdir()) == []


def test_a_layer_is_unpacked_once(scratch: Path) -> None:
    store = LayerStore(scratch)
    layer = tar_layer([Entry("hello", b"hi")])
    assert store.ensure(sha256(layer), _source(layer))
    assert not store.ensure(sha256(layer), _source(b"never read"))
    assert (store.diff_dir(sha256(layer)) / "hello").read_bytes() == b"hi"
    assert store.size(sha256(layer)) == 2
