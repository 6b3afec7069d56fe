"""docker exec through the Engine API: Debian's docker CLI (output, exit codes, stdin, a TTY
under script(1)) and docker-py's exec_run, on a one-node daemon running a service.

The daemon runs the process (runc exec) and streams it over the hijacked connection; the
client reads the exit code once the stream ends.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import docker
import docker.errors
import pytest

from tests.support.docker_cli import DOCKER, DockerCli, task_under_docker
from tests.support.localswarm import SharedSwarm
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

SERVICE = "ex"


@pytest.fixture(scope="module")
def task(shared_one_node_swarm: SharedSwarm) -> Iterator[tuple[DockerCli, str]]:
    with task_under_docker(
        SERVICE, "busybox", "sleep", "600", shared=shared_one_node_swarm
    ) as found:
        yield found


def test_exec_output_exit_codes_stdin_and_tty(task: tuple[DockerCli, str]) -> None:
    cli, name = task
    hi = cli.run("exec", name, "echo", "hi")
    assert (hi.returncode, hi.stdout) == (0, "hi\n"), hi.stderr
    assert cli.run("exec", name, "sh", "-c", "exit 3").returncode == 3
    both = cli.run("exec", name, "sh", "-c", "echo out; echo err >&2")
    assert (both.stdout, both.stderr) == ("out\n", "err\n")
    env = cli.run("exec", "-e", "GREET=yo", "-w", "/tmp", name, "sh", "-c", "echo $GREET $PWD")
    assert env.stdout == "yo /tmp\n", env.stderr

    # -u takes a name or a uid, looked up in the container's /etc/passwd as Docker does.
    assert cli.ok("exec", "-u", "nobody", name, "id") == "uid=65534(nobody) gid=65534(nogroup)\n"
    assert cli.ok("exec", "-u", "65534:0", name, "id") == "uid=65534(nobody) gid=0(root)\n"
    unknown = cli.run("exec", "-u", "nosuch", name, "id")
    assert unknown.returncode == 1
    assert "unable to find user nosuch" in unknown.stderr

    piped = cli.run("exec", "-i", name, "cat", input="line one\nline two\n")
    assert (piped.returncode, piped.stdout) == (0, "line one\nline two\n"), piped.stderr
    counted = cli.run("exec", "-i", name, "wc", "-l", input="a\nb\nc\n")
    assert counted.stdout.strip() == "3"

    # -t needs a terminal on the CLI's side: script(1) gives it one.
    # script's terminal has no size of its own (its stdin is not one): give it one, which
    # the CLI passes on with a resize once the exec started (API 1.41 has no size in the
    # create), so the command waits a moment before it reads it.
    inner = "tty; sleep 1; stty size; exit 4"
    command = f"stty rows 37 cols 101; {DOCKER} exec -t {name} sh -c '{inner}'"
    tty = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert tty.returncode == 4, tty.stdout + tty.stderr
    out = [line for line in tty.stdout.replace("\r", "").splitlines() if line]
    assert out[0].startswith("/dev/pts/"), tty.stdout
    assert out[1] == "37 101", tty.stdout

    # -it: a shell reading the keyboard (script's stdin) on the terminal the daemon owns.
    interactive = subprocess.run(
        ["script", "-qec", f"stty rows 24 cols 80; {DOCKER} exec -it {name} sh", "/dev/null"],
        input="echo from-the-shell; exit 7\n",
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=60,
    )
    assert interactive.returncode == 7, interactive.stdout + interactive.stderr
    lines = interactive.stdout.replace("\r", "").splitlines()
    assert "from-the-shell" in lines, interactive.stdout

    nope = cli.run("exec", "nope", "true")
    assert nope.returncode == 1
    assert nope.stderr == "Error: No such container: nope\n"


def test_docker_py_exec_run_and_exec_inspect(task: tuple[DockerCli, str]) -> None:
    cli, name = task
    client = docker.DockerClient(base_url=f"unix://{cli.socket}", version="1.41")
    try:
        container = client.containers.get(name)
        assert container.status == "running"
        assert container.labels["com.docker.swarm.service.name"] == SERVICE
        code, output = container.exec_run(["sh", "-c", "echo py; exit 5"])
        assert (code, output) == (5, b"py\n")
        code, output = container.exec_run("echo ok", demux=True)
        assert code == 0
        # demux=True gives (stdout, stderr), which docker's stubs do not know.
        assert cast(object, output) == (b"ok\n", None)

        api = client.api
        made = api.exec_create(name, ["sleep", "30"])
        api.exec_start(made["Id"], detach=True)
        running = wait_for(
            "the detached exec's pid",
            lambda: (i := api.exec_inspect(made["Id"]))["Pid"] and i,
            10,
            0.1,
        )
        assert running["Running"] is True
        assert api.inspect_container(name)["ExecIDs"] == [made["Id"]]
        assert running["ProcessConfig"] == {
            "tty": False,
            "entrypoint": "sleep",
            "arguments": ["30"],
            "privileged": False,
            "user": "",
        }
        assert Path(f"/proc/{running['Pid']}").exists()
        os.kill(running["Pid"], 9)
        done = wait_for(
            "the exec to end",
            lambda: i if (i := api.exec_inspect(made["Id"]))["Running"] is False else None,
            10,
        )
        assert done["ExitCode"] == 137
        with pytest.raises(docker.errors.APIError) as again:
            api.exec_start(made["Id"])
        assert again.value.status_code == 409
    finally:
        client.close()


def test_no_exec_in_a_paused_container_or_for_an_unknown_exec(
    task: tuple[DockerCli, str],
) -> None:
    cli, name = task
    cli.ok("pause", name)
    try:
        paused = cli.run("exec", name, "true")
        assert paused.returncode == 1
        assert "is paused, unpause the container before exec" in paused.stderr
    finally:
        cli.ok("unpause", name)
    client = docker.APIClient(base_url=f"unix://{cli.socket}", version="1.41")
    try:
        with pytest.raises(docker.errors.NotFound):
            client.exec_inspect("nope")
        with pytest.raises(docker.errors.NotFound):
            client.exec_start("nope")
    finally:
        client.close()
