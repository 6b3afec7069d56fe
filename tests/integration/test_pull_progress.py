"""A pull's stream tells each layer's steps as dockerd's does, its download's bytes as
progress messages (which docker's CLI draws on a terminal)."""

from __future__ import annotations

import docker
import pytest

from tests.support.daemons import DaemonSet

pytestmark = pytest.mark.root


def test_a_pull_tells_each_layer_as_dockerd(registry: str) -> None:
    with DaemonSet() as ds:
        (d,) = ds.start(1)
        with docker.APIClient(base_url=d.host, version="1.41") as api:
            stream = list(
                api.pull(f"{registry}/library/busybox", tag="latest", stream=True, decode=True)
            )
    layers = {m["id"] for m in stream if m.get("status") == "Pulling fs layer"}
    assert layers
    for layer in layers:
        told = [m for m in stream if m.get("id") == layer]
        steps = [m["status"] for m in told]
        assert steps[0] == "Pulling fs layer"
        assert steps[-3:] == ["Verifying Checksum", "Download complete", "Pull complete"]
        downloads = [m for m in told if m["status"] == "Downloading"]
        assert downloads, steps
        last = downloads[-1]["progressDetail"]
        assert last["current"] == last["total"] > 0
        assert downloads[-1]["progress"].startswith("[" + "=" * 50 + ">]")
    assert stream[-1]["status"].startswith("Status: Downloaded newer image for ")
