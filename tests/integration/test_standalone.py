"""Containers outside services, end to end on one daemon: run (attached, --rm, -d -p),
cp both ways, wait, rename, commit, restart policies (after a crash and after a daemon
restart), prune, and the same through Debian's docker CLI."""

from __future__ import annotations

import json
import os
import pty
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from swarmpy.lab.hosts import swarmpy_executable
from tests.support.daemons import Daemon, DaemonSet, start_daemon
from tests.support.docker_cli import DOCKER, DockerCli
from tests.support.localswarm import load_busybox
from tests.support.poll import wait_for
from tests.support.ports import free_port

pytestmark = pytest.mark.root

HTTPD = ("busybox", "httpd", "-f", "-h", "/etc")
TTY_REFUSED = "the input device is not a TTY\n"  # docker/cli's CheckTty
BAD_NAME = (
    "Error response from daemon: Invalid container name (x), "
    "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
)
RUN_HELP = ".\nSee 'swarmpy run --help'."  # docker/cli's reportError


def http_get(host: str, port: int, path: str) -> str | None:
    """The body of GET ``path``, or None while nothing answers."""
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            conn.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
    except OSError:
        return None
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    return body if head.startswith("HTTP/1.") else None


def inspect(d: Daemon, ref: str) -> dict[str, Any]:
    (doc,) = d.json("inspect", ref)
    return dict(doc)


def names(d: Daemon) -> dict[str, str]:
    """Every container's name and status, as ps -a shows them."""
    return {r["Names"]: r["Status"] for r in d.json_lines("ps", "-a", "--format", "json")}


def restarted(d: Daemon, ref: str, count: int, not_pid: int = 0) -> dict[str, Any] | None:
    """Its document once it runs again: restarted ``count`` times, under another pid."""
    doc = inspect(d, ref)
    state = doc["State"]
    if doc["RestartCount"] >= count and state["Running"] and state["Pid"] != not_pid:
        return doc
    return None


def next_second() -> str:
    """An events --until past what happened so far: a duration ("0s") is whole seconds."""
    return str(int(time.time()) + 1)


def attach_detached_by_keys(d: Daemon, ref: str) -> tuple[int]:
    """``swarmpy attach --detach-keys ctrl-x`` on a terminal (a TTY's stdin must be one), the
    keys typed: its exit code. Typed again until it exits: the keys typed before the CLI made
    the terminal raw are flushed with the line they were in, as on a real terminal."""
    master, slave = pty.openpty()
    try:
        with subprocess.Popen(
            [str(swarmpy_executable()), "attach", "--detach-keys", "ctrl-x", ref],
            env={**os.environ, "SWARMPY_HOST": d.host},
            stdin=slave,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ) as proc:

            def exited() -> tuple[int] | None:
                os.write(master, b"\x18")
                code = proc.poll()
                return None if code is None else (code,)

            try:
                return wait_for("the attach to detach", exited, 30)
            finally:
                proc.kill()
    finally:
        os.close(master)
        os.close(slave)


def test_standalone_containers(daemons: DaemonSet, tmp_path: Path) -> None:
    d = start_daemon(daemons)
    load_busybox(d)

    # run attached: the output, the container's exit code; --rm leaves nothing.
    hi = d.cli("run", "--rm", "busybox", "echo", "hi")
    assert (hi.returncode, hi.stdout) == (0, "hi\n"), hi.stderr
    mixed = d.cli("run", "--name", "mixed", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (mixed.returncode, mixed.stdout, mixed.stderr) == (3, "out\n", "err\n")
    listed = names(d)
    assert set(listed) == {"mixed"}
    assert listed["mixed"].startswith("Exited (3) ")
    missing = d.cli("run", "--rm", "busybox", "nosuchcommand")
    assert missing.returncode == 127
    assert "executable file not found" in missing.stderr
    # A bad name: run words the daemon's error as docker's (reportError, 125); create prints
    # it as it is, exit 1.
    bad_name = d.cli("run", "--name", "x", "busybox", "true")
    assert (bad_name.returncode, bad_name.stderr) == (125, f"swarmpy: {BAD_NAME}{RUN_HELP}\n")
    bad_create = d.cli("create", "--name", "x", "busybox", "true")
    assert (bad_create.returncode, bad_create.stderr) == (1, BAD_NAME + "\n")
    piped = subprocess.run(
        [str(swarmpy_executable()), "run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z"],
        env={**os.environ, "SWARMPY_HOST": d.host},
        input="shout\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (piped.returncode, piped.stdout) == (0, "SHOUT\n"), piped.stderr

    # run -d -p: reachable at the host's loopback, and from another container (hairpin).
    port = free_port("0.0.0.0")
    cid = d.ok("run", "-d", "-p", f"{port}:80", "--name", "web", *HTTPD).strip()
    assert len(cid) == 64
    assert (
        wait_for("web's page", lambda: http_get("127.0.0.1", port, "/hostname")) == cid[:12] + "\n"
    )
    (row,) = [r for r in d.json_lines("ps", "--format", "json") if r["Names"] == "web"]
    assert row["Ports"] == f"0.0.0.0:{port}->80/tcp"
    assert row["Status"].startswith("Up ")
    assert d.ok("port", "web") == f"80/tcp -> 0.0.0.0:{port}\n"
    doc = inspect(d, "web")
    assert doc["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": str(port)}]}
    gateway = doc["NetworkSettings"]["Gateway"]
    hairpin = d.ok(
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        f"printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {gateway} {port} | tail -1",
    )
    assert hairpin == cid[:12] + "\n"

    # cp both ways.
    local = tmp_path / "note.txt"
    local.write_text("from the host\n")
    d.ok("cp", str(local), "web:/tmp/")
    assert d.ok("exec", "web", "cat", "/tmp/note.txt") == "from the host\n"
    d.ok("cp", "web:/etc/hostname", str(tmp_path / "hostname"))
    assert (tmp_path / "hostname").read_text() == cid[:12] + "\n"
    assert d.cli("cp", "web:/nonexistent", str(tmp_path)).returncode == 1

    # wait, rename, commit (--change sets the image's config) and run the committed image;
    # run --entrypoint "" clears the Entrypoint the commit set.
    d.ok("run", "-d", "--name", "quick", "busybox", "sh", "-c", "sleep 0.3; exit 4")
    assert d.ok("wait", "quick") == "4\n"
    d.ok("rename", "web", "web2")
    listed = names(d)
    assert "web2" in listed
    assert "web" not in listed
    image_id = d.ok("commit", "-c", 'ENTRYPOINT ["cat"]', "-c", "ENV MODE=on", "web2", "noted:v1")
    assert image_id.strip().startswith("sha256:")
    committed = d.ok(
        "events", "--since", "10m", "--until", next_second(), "--filter", "event=commit",
        "--format",
        "{{.Actor.Attributes.name}} {{.Actor.Attributes.imageRef}} {{.Actor.Attributes.imageID}}",
    )  # fmt: skip
    assert committed == f"web2 noted:v1 {image_id.strip()}\n"
    assert d.ok("run", "--rm", "noted:v1", "/tmp/note.txt") == "from the host\n"
    assert d.ok("run", "--rm", "--entrypoint", "", "noted:v1", "sh", "-c", "echo $MODE") == "on\n"

    # Stopped, a container leaves the bridge as moby's (its address back in the pool); its
    # start joins it again, published port and all.
    d.ok("stop", "-t", "1", "web2")
    assert cid not in d.json("network", "inspect", "bridge")[0]["Containers"]
    d.ok("start", "web2")
    assert cid in d.json("network", "inspect", "bridge")[0]["Containers"]
    page = wait_for("web2's page again", lambda: http_get("127.0.0.1", port, "/hostname"))
    assert page == cid[:12] + "\n"

    # --network container:web2: in web2's network namespace, with its host name and files;
    # the container it names must run.
    joined = d.ok(
        "run", "--name", "joiner", "--network", "container:web2", "busybox",
        "sh", "-c", "wget -qO- http://127.0.0.1/hostname; hostname",
    )  # fmt: skip
    assert joined == f"{cid[:12]}\n{cid[:12]}\n"
    assert inspect(d, "joiner")["HostConfig"]["NetworkMode"] == f"container:{cid}"
    ended = d.cli("run", "--rm", "--network", "container:quick", "busybox", "true")
    assert ended.returncode == 125
    assert (
        "cannot join network namespace of a non running container: container quick is exited"
        in ended.stderr
    )
    # build --network container:web2: RUN in web2's namespace as well (moby's NetworkMode of
    # the step's container), with its host name; the container must run there too.
    joining = tmp_path / "joining"
    joining.mkdir()
    (joining / "Dockerfile").write_text(
        "FROM busybox\nRUN wget -qO- http://127.0.0.1/hostname; hostname\n"
    )
    built = d.ok("build", "--network", "container:web2", str(joining))
    assert f"\n{cid[:12]}\n{cid[:12]}\n" in built
    stale = d.cli("build", "--no-cache", "--network", "container:quick", str(joining))
    assert stale.returncode == 1
    assert (
        "cannot join network namespace of a non running container: container quick is exited"
        in stale.stderr
    )

    # --env-file (with -e over it), -w, -u, --hostname; -P publishes the EXPOSEd ports on
    # free host ports; --cpus and --memory are kept as Docker's NanoCpus and Memory.
    envs = tmp_path / "env.list"
    envs.write_text("A=1\n# a comment\nB=two words\nC=overridden\n")
    shown = d.ok(
        "run", "--rm", "--env-file", str(envs), "-e", "C=3", "-w", "/tmp", "-u", "1000:1000",
        "--hostname", "hh", "busybox", "sh", "-c", 'echo "$A|$B|$C"; pwd; id -u; hostname',
    )  # fmt: skip
    assert shown == "1|two words|3\n/tmp\n1000\nhh\n"
    d.ok("run", "-d", "--expose", "80", "-P", "--cpus", ".5", "--memory", "100m",
         "--name", "auto", *HTTPD)  # fmt: skip
    auto = inspect(d, "auto")
    assert auto["HostConfig"]["NanoCpus"] == 500_000_000
    assert auto["HostConfig"]["Memory"] == 100 * 1024 * 1024
    (binding,) = auto["NetworkSettings"]["Ports"]["80/tcp"]
    assert int(binding["HostPort"]) >= 1024
    page = wait_for(
        "auto's page", lambda: http_get("127.0.0.1", int(binding["HostPort"]), "/hostname")
    )
    assert page == auto["Id"][:12] + "\n"
    d.ok("rm", "-f", "auto")

    # Detach keys typed to an attach of a -t container end the stream; it runs on. The CLI
    # watches its own input (a key read alone), and so does the daemon for an API client.
    with docker.APIClient(base_url=d.host, version="1.41") as api:
        api.create_container("busybox", "sh", tty=True, stdin_open=True, name="tt")
        api.start("tt")
        assert attach_detached_by_keys(d, "tt") == (0,)
        sock = api.attach_socket("tt", params={"stdin": 1, "stream": 1, "detachKeys": "ctrl-x"})
        raw = sock._sock
        raw.settimeout(20)
        raw.sendall(b"\x18")
        while raw.recv(4096):
            pass  # until the daemon ends the stream
        sock.close()
        assert api.inspect_container("tt")["State"]["Running"]
        # A TTY's stdin must be a terminal: a pipe is refused as docker's CLI refuses it,
        # before anything is made.
        before = d.ok("ps", "-aq")
        for args in (
            ("run", "-it", "busybox", "true"),
            ("exec", "-it", "tt", "true"),
            ("attach", "tt"),
        ):
            refused = d.cli(*args, input="")
            assert (refused.returncode, refused.stderr) == (1, TTY_REFUSED), args
        assert d.ok("ps", "-aq") == before
        # Each attach is an event; a detach only where the daemon read the keys (docker's CLI,
        # like ours, keeps them and just hangs up).
        attaches = d.ok(
            "events", "--since", "10m", "--until", next_second(), "--filter", "container=tt",
            "--filter", "event=attach", "--filter", "event=detach", "--format", "{{.Action}}",
        )  # fmt: skip
        assert attaches.split() == ["attach", "attach", "detach"]
        api.remove_container("tt", force=True)
        # A container that ends while its client's stdin is still open: dockerd's Cleanup
        # cancels the attach, a detach after the die.
        api.create_container("busybox", ["head", "-c", "2"], stdin_open=True, name="ends")
        sock = api.attach_socket("ends", params={"stdin": 1, "stdout": 1, "stream": 1})
        api.start("ends")
        raw = sock._sock
        raw.settimeout(20)
        raw.sendall(b"ab")
        while raw.recv(4096):
            pass  # until the daemon ends the stream
        sock.close()
        ends_events = d.ok(
            "events", "--since", "10m", "--until", next_second(), "--filter", "container=ends",
            "--filter", "event=attach", "--filter", "event=die", "--filter", "event=detach",
            "--format", "{{.Action}}",
        )  # fmt: skip
        assert ends_events.split() == ["attach", "die", "detach"]
        api.remove_container("ends")
        # A container never started (runc does not know it yet) is attached to and
        # committed with its events too, as `run` attaches before it starts.
        d.ok("create", "--name", "made", "busybox", "true")
        api.attach_socket("made", params={"stdout": 1, "stream": 0}).close()
        d.ok("commit", "made", "made:v1")
        made = d.ok(
            "events", "--since", "10m", "--until", next_second(), "--filter", "container=made",
            "--filter", "event=attach", "--filter", "event=commit", "--format", "{{.Action}}",
        )  # fmt: skip
        assert made.split() == ["attach", "commit"]
        d.ok("rm", "made")
        d.ok("image", "rm", "made:v1")

    # --restart always: back after its process dies, and after a daemon restart.
    d.ok("run", "-d", "--restart", "always", "--name", "keeper", "busybox", "sleep", "1000")
    first = inspect(d, "keeper")["State"]["Pid"]
    os.kill(first, signal.SIGKILL)
    again = wait_for("keeper's restart", lambda: restarted(d, "keeper", 1), 15)
    assert again["State"]["Pid"] != first
    assert again["HostConfig"]["RestartPolicy"] == {"Name": "always", "MaximumRetryCount": 0}
    d.stop()
    os.kill(again["State"]["Pid"], signal.SIGKILL)  # it dies while no daemon watches
    d.start()
    d.wait_ready()
    back = wait_for(
        "keeper back after the daemon restart",
        lambda: restarted(d, "keeper", 0, again["State"]["Pid"]),
        20,
    )
    assert back["State"]["Pid"] != again["State"]["Pid"]
    assert back["RestartCount"] == 0  # the daemon's start begins afresh, as dockerd's restore
    assert wait_for("web2 still serving", lambda: http_get("127.0.0.1", port, "/hostname"))

    # A kill through the API is a manual stop: the policy does not bring it back (as
    # Docker's), and prune removes what is stopped.
    assert d.ok("kill", "keeper") == "keeper\n"
    wait_for("keeper to end", lambda: names(d)["keeper"].startswith("Exited ") or None)
    pruned = d.ok("container", "prune", "-f")
    assert "Deleted Containers:" in pruned
    assert set(names(d)) == {"web2"}
    d.ok("rm", "-f", "web2")
    assert names(d) == {}
    assert http_get("127.0.0.1", port, "/hostname") is None


def test_standalone_containers_through_docker(daemons: DaemonSet, tmp_path: Path) -> None:
    assert DOCKER.exists(), f"{DOCKER} is missing: run scripts/install-deps.sh (docker.io)"
    d = start_daemon(daemons)
    load_busybox(d)
    docker = DockerCli(d)

    hi = docker.run("run", "--rm", "busybox", "echo", "hi")
    assert (hi.returncode, hi.stdout) == (0, "hi\n"), hi.stderr
    assert docker.run("run", "--rm", "busybox", "sh", "-c", "exit 9").returncode == 9
    port = free_port("0.0.0.0")
    cid = docker.ok("run", "-d", "-p", f"{port}:80", "--name", "web", *HTTPD).strip()
    assert (
        wait_for("web's page", lambda: http_get("127.0.0.1", port, "/hostname")) == cid[:12] + "\n"
    )
    lines = docker.ok("ps").splitlines()
    assert lines[0].split() == [
        "CONTAINER",
        "ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    assert f"0.0.0.0:{port}->80/tcp" in lines[1]
    assert lines[1].split()[-1] == "web"
    doc = json.loads(docker.ok("inspect", "web"))[0]
    assert doc["NetworkSettings"]["Ports"] == {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]
    }

    joined = docker.ok(
        "run", "--rm", "--network", "container:web", "busybox",
        "wget", "-qO-", "http://127.0.0.1/hostname",
    )  # fmt: skip
    assert joined == cid[:12] + "\n"

    (tmp_path / "in.txt").write_text("docker cp\n")
    docker.ok("cp", str(tmp_path / "in.txt"), "web:/tmp/in.txt")
    docker.ok("cp", "web:/tmp/in.txt", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == "docker cp\n"

    # commit --change (WORKDIR, CMD); an empty --entrypoint drops the image's Cmd too.
    docker.ok("commit", "-c", "WORKDIR /tmp", "--change", "CMD cat in.txt", "web", "cp:v1")
    assert docker.ok("run", "--rm", "cp:v1") == "docker cp\n"
    bare = docker.run("run", "--rm", "--entrypoint", "", "cp:v1")
    assert bare.returncode == 125
    assert "no command specified" in bare.stderr
    docker.ok("run", "-d", "--name", "quick", "busybox", "sh", "-c", "sleep 0.3; exit 6")
    assert docker.ok("wait", "quick") == "6\n"
    before = doc["State"]["Pid"]
    assert docker.ok("restart", "-t", "1", "web") == "web\n"
    after = json.loads(docker.ok("inspect", "web"))[0]["State"]
    assert after["Running"]
    assert after["Pid"] != before
    assert wait_for("web after restart", lambda: http_get("127.0.0.1", port, "/hostname"))
    bad_name = docker.run("run", "--name", "x", "busybox", "true")
    docker_help = RUN_HELP.replace("swarmpy run", "docker run")
    assert (bad_name.returncode, bad_name.stderr) == (125, f"docker: {BAD_NAME}{docker_help}\n")
    bad_create = docker.run("create", "--name", "x", "busybox", "true")
    assert (bad_create.returncode, bad_create.stderr) == (1, BAD_NAME + "\n")
    tty = docker.run("run", "-it", "busybox", "true", input="")
    assert (tty.returncode, tty.stderr) == (1, TTY_REFUSED)
    docker.ok("rm", "-f", "web", "quick")
    assert docker.ok("ps", "-aq") == ""
