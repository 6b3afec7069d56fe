"""An image made on one lab host goes elsewhere as issue 15 has it: built and pushed to the lab
registry on node1, pulled and run as a service on node2; its save output loaded on node3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swarmpy.lab.hosts import Host
from tests.support.lab import TestLab
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

DOCKERFILE = """\
FROM busybox
RUN echo made-on-node1 > /made.txt
CMD ["sh", "-c", "cat /made.txt; exec sleep 600"]
"""


def _ok(lab: TestLab, host: Host, *args: str) -> str:
    done = lab.swarmpy(host, *args)
    assert done.returncode == 0, f"{host.name}: {args}: {done.stderr}"
    return done.stdout


def _removed(lab: TestLab, host: Host, ref: str) -> bool:
    """Whether ``ref`` is off ``host`` (removed now or never there); a task's container
    still ending holds it a moment."""
    if lab.swarmpy(host, "image", "rm", "-f", ref).returncode == 0:
        return True
    return "No such image" in lab.swarmpy(host, "image", "inspect", ref).stderr


def test_built_here_pushed_run_and_loaded_elsewhere(swarm_lab: TestLab, tmp_path: Path) -> None:
    lab = swarm_lab
    n1, n2, n3 = lab.hosts
    assert lab.registry is not None
    ref = f"{lab.registry.url.removeprefix('http://')}/team/made:1"
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    _ok(lab, n1, "build", "-t", ref, str(tmp_path))
    assert "1: digest: sha256:" in _ok(lab, n1, "push", ref)
    image_id = json.loads(_ok(lab, n1, "image", "inspect", ref))[0]["Id"]
    _ok(lab, n1, "service", "create", "--detach", "--name", "made", "--stop-grace-period", "1s",
        "--constraint", "node.hostname==node2", ref)  # fmt: skip
    try:
        wait_for(
            "made's output from node2",
            lambda: "made-on-node1" in _ok(lab, n1, "service", "logs", "made"),
            120,
            0.5,
        )
        assert json.loads(_ok(lab, n2, "image", "inspect", ref))[0]["Id"] == image_id
    finally:
        lab.swarmpy(n1, "service", "rm", "made")
    archive = tmp_path / "made.tar"
    _ok(lab, n1, "save", "-o", str(archive), ref)
    try:
        assert _ok(lab, n3, "image", "load", "-i", str(archive)) == f"Loaded image: {ref}\n"
        assert json.loads(_ok(lab, n3, "image", "inspect", ref))[0]["Id"] == image_id
    finally:
        for host in (n1, n2, n3):
            wait_for(f"{ref} off {host.name}", lambda h=host: _removed(lab, h, ref), 30, 0.5)  # type: ignore[misc]
