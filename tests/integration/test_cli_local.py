"""The node-local container commands and the image commands of the CLI against a real daemon.

Each test starts its own daemon (own data root, socket and kernel-object prefix) and ends it
with everything it made: the service, the swarm, the daemon, and any runc container or mount
left under the data root, also on failure.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from swarmpy.engine.images.removal import chain_ids
from tests.support.busybox_image import busybox_image, save_docker_tar
from tests.support.daemons import Daemon, DaemonSet
from tests.support.localswarm import TASK_START_S, free_addr, load_busybox
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

SERVICE = "t"
GREETING = "hello from t"


def leftovers(daemon: Daemon) -> tuple[list[str], list[str]]:
    """runc containers in the daemon's runc root and mounts under its data root."""
    root = daemon.data_root / "runc"
    listed = subprocess.run(
        ["runc", "--root", str(root), "list", "-q"], capture_output=True, text=True
    )
    containers = listed.stdout.split() if listed.returncode == 0 else []
    mounts = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(str(daemon.workdir))
    ]
    return containers, mounts


def force_clean(daemon: Daemon, containers: list[str], mounts: list[str]) -> None:
    """What a failed test left: removed so the next run starts clean."""
    root = str(daemon.data_root / "runc")
    for cid in containers:
        subprocess.run(["runc", "--root", root, "delete", "--force", cid], capture_output=True)
    for mount in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True)


def stop_and_check_clean(daemon: Daemon) -> None:
    daemon.stop()
    containers, mounts = leftovers(daemon)
    force_clean(daemon, containers, mounts)
    assert not containers, f"runc containers left behind: {containers}"
    assert not mounts, f"mounts left behind: {mounts}"


# ---------------------------------------------------------------- images


def layers(doc: dict[str, Any]) -> list[str]:
    """rmi's lines for an image's layers when nothing else uses them: ChainIDs, top first."""
    return [f"Deleted: {c}" for c in reversed(chain_ids(doc["RootFS"]["Layers"]))]


def test_image_commands(daemons: DaemonSet) -> None:
    (d,) = daemons.start(1)
    try:
        load_busybox(d)

        lines = d.ok("image", "ls").splitlines()
        assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
        assert lines[1].split()[:2] == ["busybox", "latest"]
        (row,) = d.json_lines("image", "ls", "--format", "{{json .}}")
        assert (row["Repository"], row["Tag"]) == ("busybox", "latest")
        assert d.ok("image", "ls", "-q").split() == [row["ID"]]

        (doc,) = d.json("image", "inspect", "busybox")
        assert doc["RepoTags"] == ["busybox:latest"]
        assert doc["Id"].removeprefix("sha256:").startswith(row["ID"])
        missing = d.cli("image", "inspect", "busybox", "nope")
        assert missing.returncode == 1
        assert len(json.loads(missing.stdout)) == 1
        assert "No such image: nope" in missing.stderr

        history = d.ok("image", "history", "busybox").splitlines()
        assert history[0].split()[:4] == ["IMAGE", "CREATED", "CREATED", "BY"]
        assert history[1].startswith(row["ID"])

        # The top-level inspect finds images too, as docker's does.
        (same,) = d.json("inspect", "busybox")
        assert same["Id"] == doc["Id"]

        removed = d.ok("image", "rm", "busybox").splitlines()
        assert removed == ["Untagged: busybox:latest", f"Deleted: {doc['Id']}", *layers(doc)]
        assert d.ok("image", "ls", "-q") == ""
        again = d.cli("image", "rm", "busybox")
        assert again.returncode == 1
        assert again.stderr == "Error: No such image: busybox\n"  # docker's client's words
    finally:
        stop_and_check_clean(d)


def test_dockers_top_level_image_commands(daemons: DaemonSet) -> None:
    """docker images, load, rmi: image ls, load and rm under Docker's top-level names."""
    (d,) = daemons.start(1)
    try:
        tar = d.workdir / "busybox.tar"
        save_docker_tar(tar, busybox_image(), ["busybox:latest"])
        assert d.ok("load", "-i", str(tar)) == "Loaded image: busybox:latest\n"
        lines = d.ok("images").splitlines()
        assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
        assert lines[1].split()[:2] == ["busybox", "latest"]
        assert d.ok("images", "-q", "busybox") == d.ok("image", "ls", "-q")
        assert d.ok("images", "-q", "nope") == ""
        with_digests = d.ok("images", "--digests").splitlines()
        assert with_digests[0].split() == [
            "REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED", "SIZE",
        ]  # fmt: skip
        assert with_digests[1].split()[:3] == ["busybox", "latest", "<none>"]  # loaded, not pulled
        (doc,) = d.json("image", "inspect", "busybox")
        removed = d.ok("rmi", "busybox").splitlines()
        assert removed == ["Untagged: busybox:latest", f"Deleted: {doc['Id']}", *layers(doc)]
        assert d.ok("images", "-q") == ""
        again = d.cli("rmi", "busybox")
        assert again.returncode == 1
        assert again.stderr == "Error: No such image: busybox\n"
    finally:
        stop_and_check_clean(d)


# ---------------------------------------------------------------- containers


def running_task(d: Daemon) -> dict[str, str] | None:
    rows = d.json_lines("ps", "--format", "json")
    return rows[0] if rows and rows[0]["Names"].startswith(f"{SERVICE}.1.") else None


def test_container_commands(daemons: DaemonSet) -> None:
    (d,) = daemons.start(1)
    in_swarm = False
    try:
        load_busybox(d)
        addr, port = free_addr()
        d.ok("swarm", "init", "--advertise-addr", addr, "--listen-addr", f"{addr}:{port}")
        in_swarm = True
        d.ok(
            "service", "create", "-d", "--name", SERVICE, "busybox",
            "sh", "-c", f"echo {GREETING}; exec sleep 600",
        )  # fmt: skip
        row = wait_for("the task's container", lambda: running_task(d), TASK_START_S, 0.5)
        name = row["Names"]
        assert row["Image"].split(":")[0] == "busybox"
        assert row["Command"] == '"sh -c echo hello fr…"'
        assert row["Status"].startswith("Up ")
        assert d.ok("ps", "-q").split() == [row["ID"]]
        table = d.ok("ps").splitlines()
        assert table[0].split() == [
            "CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES",
        ]  # fmt: skip

        # exec: output and exit status pass straight through.
        hi = d.cli("exec", name, "echo", "hi")
        assert (hi.returncode, hi.stdout) == (0, "hi\n"), hi.stderr
        assert d.cli("exec", row["ID"], "sh", "-c", "exit 3").returncode == 3
        env = d.cli("exec", "-e", "GREET=yo", name, "sh", "-c", "echo $GREET")
        assert env.stdout == "yo\n", env.stderr
        as_user = d.cli("exec", "-u", "1000:1001", "-w", "/tmp", name, "sh", "-c", "id -u; pwd")
        assert as_user.stdout == "1000\n/tmp\n", as_user.stderr
        # -d: nothing printed, the process runs on in the daemon; --env-file, then -e.
        env_file = d.workdir / "exec.env"
        env_file.write_text("# a comment\nGREET=from-file\nOTHER=file\n")
        script = "sleep 0.2; echo $GREET $OTHER > /tmp/detached"
        flags = ("-d", "--env-file", str(env_file), "-e", "OTHER=flag")
        assert d.ok("exec", *flags, name, "sh", "-c", script) == ""
        wait_for(
            "the detached exec's file",
            lambda: d.cli("exec", name, "cat", "/tmp/detached").stdout == "from-file flag\n",
        )
        nope = d.cli("exec", "nope", "true")
        assert nope.returncode == 1
        assert nope.stderr == "Error response from daemon: No such container: nope\n"

        wait_for("the greeting in the logs", lambda: GREETING in d.ok("logs", name))
        assert d.ok("logs", "--tail", "1", name) == f"{GREETING}\n"

        (doc,) = d.json("inspect", name)
        assert doc["Name"] == "/" + name
        assert doc["State"]["Running"] is True
        assert doc["Config"]["Labels"]["com.docker.swarm.service.name"] == SERVICE

        top = d.ok("top", name).splitlines()
        assert "PID" in top[0].split()
        assert any("sleep 600" in line for line in top[1:])

        stats = d.ok("stats", "--no-stream").splitlines()
        assert stats[0].startswith("CONTAINER ID")
        assert "MEM USAGE / LIMIT" in stats[0]
        assert stats[1].split()[:2] == [row["ID"], name]
        (sample,) = d.json_lines("stats", "--no-stream", "--format", "json", name)
        assert sample["PIDs"] == "1"

        assert d.ok("pause", name) == f"{name}\n"
        assert d.ok("ps", "--format", "json").count("(Paused)") == 1
        assert d.ok("unpause", name) == f"{name}\n"

        busy = d.cli("rm", name)
        assert busy.returncode == 1
        assert "cannot remove a running container" in busy.stderr
        in_use = d.cli("image", "rm", "busybox")
        assert in_use.returncode == 1
        # dockerd's words: 'conflict: unable to remove repository reference "busybox" (must
        # force) - container <id> is using its referenced image <id>'.
        assert 'reference "busybox" (must force) - container ' in in_use.stderr
        assert "is using its referenced image" in in_use.stderr

        # Last: the agent replaces the task once its container is stopped.
        started = time.monotonic()
        assert d.ok("stop", "-t", "0", name) == f"{name}\n"
        assert time.monotonic() - started < 8, "-t 0 must not wait for the default 10s"
    finally:
        if in_swarm:
            with contextlib.suppress(Exception):
                d.cli("service", "rm", SERVICE)
                wait_for("the task's container to go", lambda: not leftovers(d)[0], 30)
            d.cli("swarm", "leave", "--force")
        stop_and_check_clean(d)


def test_ps_without_containers(daemons: DaemonSet) -> None:
    (d,) = daemons.start(1)
    try:
        assert d.ok("ps", "-a").split() == [
            "CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES",
        ]  # fmt: skip
        assert d.ok("stats", "--no-stream").startswith("CONTAINER ID")
        missing = d.cli("inspect", "nope")
        assert missing.returncode == 1
        assert (missing.stdout, missing.stderr) == ("[]\n", "Error: No such object: nope\n")
        for command in (["stop"], ["kill"], ["rm", "-f"], ["pause"], ["logs"], ["top"]):
            result = d.cli(*command, "nope")
            assert result.returncode == 1, command
            assert "No such container: nope" in result.stderr, command
        started = time.monotonic()
        assert d.cli("stop", "nope", "nada").stderr.count("No such container") == 2
        assert time.monotonic() - started < 10
    finally:
        stop_and_check_clean(d)


def test_ps_with_an_empty_runc_root(daemons: DaemonSet) -> None:
    """What every node looks like once its last container is gone."""
    (d,) = daemons.start(1)
    try:
        (d.data_root / "runc").mkdir(parents=True, exist_ok=True)
        assert d.ok("ps", "-a", "-q") == ""
    finally:
        stop_and_check_clean(d)
