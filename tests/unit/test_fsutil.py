"""Whole-file replacement: the mode a file is born with, and what a failed write leaves."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from swarmpy.fsutil import write_atomic


def test_a_key_is_never_readable_by_others_even_under_umask_000(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_atomic(tmp_path / "key.pem", "secret")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "key.pem").stat().st_mode) == 0o600
    assert (tmp_path / "key.pem").read_text() == "secret"


def test_a_public_file_gets_the_mode_asked_for(tmp_path: Path) -> None:
    write_atomic(tmp_path / "ca.pem", b"cert", 0o644)
    assert stat.S_IMODE((tmp_path / "ca.pem").stat().st_mode) == 0o644


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    write_atomic(target, "old")

    def full_disk(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
