"""docker run's and exec's environment flags: --env-file, then -e."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmpy.cli import runflags
from swarmpy.errors import InvalidArgument


def test_env_file_then_env_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_SHELL", "shell")
    monkeypatch.delenv("UNSET_HERE", raising=False)
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\nA=file\n\nFROM_SHELL\n")
    got = runflags.environment([str(env_file)], ["A=flag", "FROM_SHELL", "UNSET_HERE", "B="])
    assert got == ["A=file", "FROM_SHELL=shell", "A=flag", "FROM_SHELL=shell", "B="]


def test_an_env_flag_without_a_name_is_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"^invalid environment variable: =x$"):
        runflags.environment([], ["=x"])
