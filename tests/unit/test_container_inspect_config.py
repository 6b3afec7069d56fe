"""`docker inspect`'s Config.User and Config.WorkingDir show what the container was asked to
run as and in (the run's, else the image's), as dockerd does: "" when neither said, not the
uid:gid and directory they resolved to."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

import pytest

from swarmpy.engine import bundle
from swarmpy.engine.containers import Containers
from swarmpy.engine.runc import Runc


class NoRunc:
    """runc knowing no container: the daemon's dirs alone say which exist (as "created")."""

    async def list_containers(self) -> list[dict[str, Any]]:
        return []


def _made(root: Path, cid: str, record: dict[str, Any], user: dict[str, int], cwd: str) -> None:
    """A container dir as the engine's create leaves it: bundle config and record."""
    cdir = root / cid
    cdir.mkdir(parents=True)
    config = {
        "annotations": {bundle.ANN_NAME: cid, bundle.ANN_IMAGE: "busybox"},
        "process": {"args": ["sleep", "9"], "user": user, "cwd": cwd, "env": []},
    }
    (cdir / "config.json").write_text(json.dumps(config))
    (cdir / "record.json").write_text(json.dumps({"created_at": 1.0, **record}))


ROOT, NOBODY = {"uid": 0, "gid": 0}, {"uid": 65534, "gid": 65534}


@pytest.mark.parametrize(
    ("record", "runs_as", "cwd", "shown"),
    [
        ({"user": "", "workdir": ""}, ROOT, "/", ("", "")),  # docker run busybox
        ({"user": "nobody", "workdir": "/tmp"}, NOBODY, "/tmp", ("nobody", "/tmp")),
        ({}, NOBODY, "/tmp", ("65534:65534", "/tmp")),  # made before records kept them
    ],
)
def test_config_shows_the_user_and_workdir_as_given(
    tmp_path: Path,
    record: dict[str, Any],
    runs_as: dict[str, int],
    cwd: str,
    shown: tuple[str, str],
) -> None:
    _made(tmp_path, "c1", record, runs_as, cwd)
    containers = Containers(cast(Runc, NoRunc()), tmp_path)
    doc = asyncio.run(containers.inspect("c1"))
    assert (doc["Config"]["User"], doc["Config"]["WorkingDir"]) == shown
