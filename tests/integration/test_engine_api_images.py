"""The Engine API's image endpoints driven by Debian's docker CLI and docker-py: images with
filters, pull from a registry on loopback (Debian's docker-registry) with Docker's progress,
inspect, history, rmi (409 while a container uses the image), load of a docker-save tarball.

One daemon for the module, running a service on busybox (so busybox is in use); the daemon,
the swarm and the registry are gone afterwards, pass or fail.
"""

from __future__ import annotations

from collections.abc import Iterator

import docker
import docker.errors
import pytest

from swarmpy.engine.images.removal import chain_ids
from swarmpy.lab.busybox import Entry, busybox_layer, make_image, tar_layer
from tests.support.busybox_image import save_docker_tar
from tests.support.docker_cli import DockerCli, task_under_docker
from tests.support.registry import Registry, free_port, push_image, start_registry

pytestmark = pytest.mark.root

SERVICE = "img"
APP = make_image(
    [busybox_layer(), tar_layer([Entry("app.txt", b"v1\n")])],
    created_by=["ADD busybox-static rootfs", "COPY app.txt /"],
)
LOADED = make_image([busybox_layer(), tar_layer([Entry("loaded.txt", b"yes\n")])])


@pytest.fixture(scope="module")
def task() -> Iterator[tuple[DockerCli, str]]:
    with task_under_docker(SERVICE, "busybox", "sleep", "600") as found:
        yield found


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    with start_registry(f"127.0.0.1:{free_port()}") as reg:
        push_image(reg.url, "team/app", "v1", APP)
        yield reg


def test_images_and_their_filters(task: tuple[DockerCli, str]) -> None:
    cli, _ = task
    lines = cli.ok("images").splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[1].split()[:2] == ["busybox", "latest"]
    image_id = cli.ok("image", "inspect", "-f", "{{.Id}}", "busybox").strip()
    assert cli.ok("images", "-q", "--no-trunc").split() == [image_id]
    assert cli.ok("images", "-q", "--filter", "reference=busy*").split() == [image_id[7:19]]
    assert cli.ok("images", "-q", "--filter", "reference=other") == ""
    assert cli.ok("images", "-q", "--filter", "dangling=true") == ""
    refused = cli.run("images", "--filter", "colour=red")
    assert refused.returncode == 1
    assert "invalid filter 'colour'" in refused.stderr


def test_pull_inspect_history_and_rmi(task: tuple[DockerCli, str], registry: Registry) -> None:
    cli, _ = task
    ref = f"{registry.addr}/team/app:v1"
    pulled = cli.ok("pull", ref)
    assert "v1: Pulling from team/app" in pulled
    assert f"Status: Downloaded newer image for {ref}" in pulled
    assert "Digest: sha256:" in pulled
    again = cli.ok("pull", ref)
    assert f"Status: Image is up to date for {ref}" in again

    assert cli.ok("image", "inspect", "-f", "{{.Id}}", ref).strip() == APP.config_digest
    layers = cli.ok("image", "inspect", "-f", "{{len .RootFS.Layers}}", ref)
    assert layers.strip() == "2"
    history = cli.ok("history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}", ref)
    assert history.splitlines() == [
        f"{APP.config_digest}|COPY app.txt /",
        "<missing>|ADD busybox-static rootfs",
    ]

    missing = cli.run("pull", f"{registry.addr}/team/nope")
    assert missing.returncode == 1
    assert "manifest unknown" in missing.stderr
    client = docker.APIClient(base_url=f"unix://{cli.socket}", version="1.41")
    try:
        with pytest.raises(docker.errors.NotFound):
            client.pull(f"{registry.addr}/team/nope", tag="v1")
    finally:
        client.close()

    removed = cli.ok("rmi", ref).splitlines()
    assert f"Untagged: {ref}" in removed
    assert f"Deleted: {APP.config_digest}" in removed
    gone = cli.run("rmi", ref)
    assert gone.returncode == 1
    assert gone.stderr == f"Error: No such image: {ref}\n"


def test_an_image_in_use_is_a_conflict(task: tuple[DockerCli, str]) -> None:
    cli, _ = task
    in_use = cli.run("rmi", "busybox")
    assert in_use.returncode == 1
    # Docker's words: the reference, the container and the image.
    assert 'repository reference "busybox" (must force) - container ' in in_use.stderr
    assert " is using its referenced image " in in_use.stderr
    client = docker.APIClient(base_url=f"unix://{cli.socket}", version="1.41")
    try:
        with pytest.raises(docker.errors.APIError) as caught:
            client.remove_image("busybox")
        assert caught.value.status_code == 409
        with pytest.raises(docker.errors.ImageNotFound) as unknown:
            client.inspect_image("nope:v9")  # type: ignore[no-untyped-call]
        assert unknown.value.status_code == 404
    finally:
        client.close()


def test_load_a_docker_save_tarball(task: tuple[DockerCli, str]) -> None:
    cli, _ = task
    tar = cli.daemon.workdir / "loaded.tar"
    save_docker_tar(tar, LOADED, ["loaded:v1", "loaded:latest"])
    out = cli.ok("load", "-i", str(tar))
    assert out == "Loaded image: loaded:v1\nLoaded image: loaded:latest\n"
    assert cli.ok("image", "inspect", "-f", "{{.Id}}", "loaded:v1").strip() == LOADED.config_digest
    client = docker.DockerClient(base_url=f"unix://{cli.socket}", version="1.41")
    try:
        assert client.images.get("loaded:latest").id == LOADED.config_digest
    finally:
        client.close()
    assert cli.ok("rmi", "loaded:v1").splitlines() == ["Untagged: loaded:v1"]
    # Its own layer goes with it (told by ChainID); busybox's stays for the image in use.
    assert cli.ok("rmi", "loaded").splitlines()[-2:] == [
        f"Deleted: {LOADED.config_digest}",
        f"Deleted: {chain_ids(LOADED.diff_ids)[-1]}",
    ]
