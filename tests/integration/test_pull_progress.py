"""A pull's and a push's streams tell each layer's steps as dockerd's do, the bytes moved as
progress messages (which docker's CLI draws on a terminal)."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from tests.support.daemons import DaemonSet

pytestmark = pytest.mark.root


def test_a_pull_and_a_push_tell_each_layer_as_dockerd(registry: str, tmp_path: Path) -> None:
    with DaemonSet() as ds:
        (d,) = ds.start(1)
        with docker.APIClient(base_url=d.host, version="1.41") as api:
            stream = list(
                api.pull(f"{registry}/library/busybox", tag="latest", stream=True, decode=True)
            )
            # A layer of its own to push (busybox's is mounted from where it came).
            (tmp_path / "Dockerfile").write_text(
                f"FROM {registry}/library/busybox\nRUN head -c 300000 /dev/urandom > /noise\n"
            )
            d.ok("build", "-t", f"{registry}/team/noise:1", str(tmp_path))
            pushed = list(api.push(f"{registry}/team/noise", tag="1", stream=True, decode=True))
    pushing = [m for m in pushed if m.get("status") == "Pushing"]
    assert pushing, pushed
    (short,) = {m["id"] for m in pushing}
    steps = [m["status"] for m in pushed if m.get("id") == short]
    assert steps[0] == "Preparing"
    assert steps[-1] == "Pushed"
    last = pushing[-1]["progressDetail"]
    assert last["current"] == last["total"] > 300_000 // 2  # gzipped random bytes
    layers = {m["id"] for m in stream if m.get("status") == "Pulling fs layer"}
    assert layers
    for layer in layers:
        told = [m for m in stream if m.get("id") == layer]
        steps = [m["status"] for m in told]
        assert steps[0] == "Pulling fs layer"
        # Extracting is told every 512 KiB unpacked, as Downloading: one step each.
        once = [s for i, s in enumerate(steps) if i == 0 or steps[i - 1] != s]
        assert once[-4:] == [
            "Verifying Checksum",
            "Download complete",
            "Extracting",
            "Pull complete",
        ]
        downloads = [m for m in told if m["status"] == "Downloading"]
        assert downloads, steps
        last = downloads[-1]["progressDetail"]
        assert last["current"] == last["total"] > 0
        assert downloads[-1]["progress"].startswith("[" + "=" * 50 + ">]")
    assert stream[-1]["status"].startswith("Status: Downloaded newer image for ")
