"""`swarmpy daemon --config-file`: dockerd's daemon.json keys merged under the flags, with
dockerd's refusals of unknown keys, keys also given as flags, and values of the wrong type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from swarmpy.cli import daemonjson
from swarmpy.errors import InvalidArgument

PATH = Path("/etc/swarmpy/daemon.json")
FLAGS: dict[str, Any] = {
    "data_root": "/var/lib/swarmpy",
    "host": ["unix:///run/swarmpy/swarmpy.sock"],
    "node_generic_resource": [],
    "debug": False,
}


def test_file_settings_fill_the_flags_not_given() -> None:
    merged = daemonjson.merge(
        PATH, {"node-generic-resources": ["gpu=UUID1", "SSD=3"], "debug": True}, FLAGS, set()
    )
    assert merged["node_generic_resource"] == ["gpu=UUID1", "SSD=3"]
    assert merged["debug"] is True
    assert merged["data_root"] == "/var/lib/swarmpy"


@pytest.mark.parametrize(
    ("settings", "given", "reason"),
    [
        (
            {"log-level": "debug", "bogus": 1},
            set(),
            "the following directives don't match any configuration option: bogus, log-level",
        ),
        (
            {"node-generic-resources": ["gpu=1"]},
            {"node_generic_resource"},
            "the following directives are specified both as a flag and in the configuration "
            "file: node-generic-resource: (from flag: [], from file: [gpu=1])",
        ),
        (
            {"hosts": "unix:///x"},
            set(),
            "json: cannot unmarshal string into Go struct field Config.hosts of type []string",
        ),
    ],
)
def test_bad_settings_stop_the_daemon_in_dockerds_words(
    settings: dict[str, Any], given: set[str], reason: str
) -> None:
    with pytest.raises(InvalidArgument) as err:
        daemonjson.merge(PATH, settings, FLAGS, given)
    assert str(err.value) == f"unable to configure the Docker daemon with file {PATH}: {reason}"


def test_a_missing_file_matters_only_when_named(tmp_path: Path) -> None:
    assert daemonjson.read(tmp_path / "none.json", required=False) == {}
    with pytest.raises(InvalidArgument, match="no such file or directory"):
        daemonjson.read(tmp_path / "none.json", required=True)
    (tmp_path / "d.json").write_text('{"debug": true}')
    assert daemonjson.read(tmp_path / "d.json", required=True) == {"debug": True}
