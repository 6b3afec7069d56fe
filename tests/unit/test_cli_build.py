"""What ``swarmpy build`` sends: the context without what .dockerignore leaves out (the
Dockerfile and .dockerignore always go), a Dockerfile from elsewhere under a name of its own,
stdin as a context or a lone Dockerfile, and --build-arg as docker reads it."""

from __future__ import annotations

import io
import socket
import tarfile
from pathlib import Path

import pytest

from swarmpy.cli.build import build_args, context_tar, stdin_context


def _names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return sorted(m.name for m in tar.getmembers())


def test_context_leaves_out_what_dockerignore_says(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".dockerignore").write_text("*.log\nDockerfile\nbuild\n!build/keep.txt\n")
    (tmp_path / "a.log").write_text("x")
    (tmp_path / "app.py").write_text("x")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "out.o").write_text("x")
    (tmp_path / "build" / "keep.txt").write_text("x")
    out = io.BytesIO()
    assert context_tar(tmp_path, None, out) == "Dockerfile"
    assert _names(out.getvalue()) == [
        ".dockerignore",
        "Dockerfile",
        "app.py",
        "build",
        "build/keep.txt",
    ]


def test_an_excluded_dir_is_not_sent_at_all(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("node_modules\n")
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    (tmp_path / "node_modules" / "x" / "big.js").write_text("x")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    out = io.BytesIO()
    context_tar(tmp_path, None, out)
    assert _names(out.getvalue()) == [".dockerignore", "Dockerfile"]


def test_a_socket_in_the_context_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(tmp_path / "daemon.sock"))
        out = io.BytesIO()
        context_tar(tmp_path, None, out)
    assert _names(out.getvalue()) == ["Dockerfile"]


def test_a_dockerfile_outside_the_context_goes_in_under_its_own_name(tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "Other").write_text("FROM scratch\n")
    out = io.BytesIO()
    name = context_tar(tmp_path / "ctx", tmp_path / "Other", out)
    assert name.startswith(".dockerfile.")
    assert _names(out.getvalue()) == [name]


def test_stdin_is_a_context_tar_or_a_lone_dockerfile() -> None:
    lone = io.BytesIO()
    assert stdin_context(b"FROM scratch\n", "", lone) == "Dockerfile"
    assert _names(lone.getvalue()) == ["Dockerfile"]
    tar = lone.getvalue()
    again = io.BytesIO()
    assert stdin_context(tar, "", again) == "Dockerfile"
    assert again.getvalue() == tar


def test_build_args_from_the_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_ENV", "e")
    monkeypatch.delenv("UNSET", raising=False)
    assert build_args(["A=1", "B=", "FROM_ENV", "UNSET"]) == {
        "A": "1",
        "B": "",
        "FROM_ENV": "e",
        "UNSET": None,
    }
