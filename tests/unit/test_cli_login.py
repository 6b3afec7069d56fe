"""Logins kept as docker's CLI keeps them: config.json's auths, 0600, Docker Hub's key."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from swarmpy.cli import registry_auth as ra


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SWARMPY_CONFIG", str(tmp_path / "cfg"))
    return tmp_path / "cfg"


def test_login_is_stored_in_dockers_format_readable_by_the_owner(config_dir: Path) -> None:
    ra.store_login("127.0.0.1:5000", "alice", "s3cret")
    path = config_dir / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc == {
        "auths": {"127.0.0.1:5000": {"auth": base64.b64encode(b"alice:s3cret").decode()}}
    }
    header = ra.auth_header("127.0.0.1:5000")["X-Registry-Auth"]
    sent = json.loads(base64.urlsafe_b64decode(header))
    assert sent == {"username": "alice", "password": "s3cret", "serveraddress": "127.0.0.1:5000"}
    assert ra.forget_login("127.0.0.1:5000")
    assert not ra.forget_login("127.0.0.1:5000")
    assert (
        json.loads(base64.urlsafe_b64decode(ra.auth_header("127.0.0.1:5000")["X-Registry-Auth"]))
        == {}
    )


def test_other_keys_of_the_config_are_kept(config_dir: Path) -> None:
    config_dir.mkdir()
    (config_dir / "config.json").write_text('{"psFormat": "table {{.ID}}"}')
    ra.store_login("", "bob", "pw")
    doc = json.loads((config_dir / "config.json").read_text())
    assert doc["psFormat"] == "table {{.ID}}"
    assert list(doc["auths"]) == [ra.HUB_KEY]


@pytest.mark.parametrize(
    ("server", "key"),
    [
        ("", ra.HUB_KEY),
        ("docker.io", ra.HUB_KEY),
        ("https://index.docker.io/v1/", ra.HUB_KEY),
        ("https://registry.test:5000/v2/", "registry.test:5000"),
        ("localhost:5000", "localhost:5000"),
    ],
)
def test_server_keys_as_docker(server: str, key: str) -> None:
    assert ra.server_key(server) == key
