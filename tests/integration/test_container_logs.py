"""Container and service logs kept as Docker's json-file: a task writes to stdout and stderr,
then again a second later; swarmpy's CLI, the Engine API and Debian's docker CLI read it back
with timestamps, by stream, and by --since/--until.

One task for the module, on the session's shared one-node swarm (a daemon, a swarm and a
running task take seconds to set up); the task and all it made are gone after the module,
pass or fail.
"""

from __future__ import annotations

import datetime as dt
import http.client
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from swarmpy.dockerjson.logtime import parse_rfc3339_ns
from swarmpy.server.stream import STDERR, STDOUT, unframe
from tests.support.docker_cli import DockerCli, task_under_docker
from tests.support.localswarm import SharedSwarm
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

SERVICE = "chat"
# Two bursts a second apart, each one line on stdout and one on stderr; then it waits.
COMMAND = (
    "echo out-1; echo err-1 >&2; sleep 1; echo out-2; echo err-2 >&2; "
    "printf 'no newline'; exec sleep 600"
)
NANOS = 1_000_000_000


@pytest.fixture(scope="module")
def task(shared_one_node_swarm: SharedSwarm) -> Iterator[tuple[DockerCli, str]]:
    with task_under_docker(
        SERVICE, "busybox", "sh", "-c", COMMAND, shared=shared_one_node_swarm
    ) as found:
        cli, name = found
        wait_for("both bursts in the log", lambda: "out-2" in cli.ok("logs", name), 20)
        yield found


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(self.path))


def frames(cli: DockerCli, path: str, **query: str) -> list[tuple[int, bytes]]:
    """The multiplexed frames of a GET on the daemon's Engine API."""
    conn = UnixConnection(cli.socket)
    try:
        conn.request("GET", f"/v1.41{path}?{urlencode(query)}")
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, body
    finally:
        conn.close()
    got, rest = unframe(body)
    assert rest == b""
    return got


def stamped(lines: list[str]) -> list[tuple[int, str]]:
    """``<RFC3339NanoFixed> <text>`` lines as (nanoseconds, text)."""
    out = []
    for line in lines:
        stamp, _, text = line.partition(" ")
        assert len(stamp) == len("2026-01-01T00:00:00.000000000Z"), line
        out.append((parse_rfc3339_ns(stamp), text))
    return out


def rfc3339(time_ns: int) -> str:
    seconds, nanos = divmod(time_ns, NANOS)
    base = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


def test_each_line_has_its_stream_and_time(task: tuple[DockerCli, str]) -> None:
    cli, name = task
    got = frames(cli, f"/containers/{name}/logs", stdout="1", stderr="1", timestamps="1")
    lines = [(stream, data.decode()) for stream, data in got]
    texts = [(stream, text.split(" ", 1)[1]) for stream, text in lines]
    assert sorted(texts) == sorted(
        [
            (STDOUT, "out-1\n"),
            (STDERR, "err-1\n"),
            (STDOUT, "out-2\n"),
            (STDERR, "err-2\n"),
        ]
    )
    # The last, unfinished line waits for its newline (or the container's end), as Docker's.
    times = stamped([text for _, text in lines])
    assert [t for t, _ in times] == sorted(t for t, _ in times), "not in time order"
    when = {text: t for t, text in times}
    assert when["out-2\n"] - when["err-1\n"] >= NANOS // 2  # the second burst came later
    # One stream alone, and no timestamps unless asked.
    errors = frames(cli, f"/containers/{name}/logs", stderr="1")
    assert errors == [(STDERR, b"err-1\n"), (STDERR, b"err-2\n")]
    # tail counts records of both streams, before the stream is chosen (as Docker's).
    tail = frames(cli, f"/containers/{name}/logs", stdout="1", stderr="1", tail="2")
    assert sorted(tail) == [(STDOUT, b"out-2\n"), (STDERR, b"err-2\n")]


def test_the_log_file_is_dockers_json_file_and_private(task: tuple[DockerCli, str]) -> None:
    cli, name = task
    path = Path(cli.ok("inspect", "-f", "{{.LogPath}}", name).strip())
    assert path.name.endswith("-json.log")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = path.read_text().splitlines()[0]
    assert first.startswith('{"log":"out-1\\n","stream":"stdout","time":"'), first


def test_since_and_until_select_by_time(task: tuple[DockerCli, str]) -> None:
    cli, name = task
    got = frames(cli, f"/containers/{name}/logs", stdout="1", stderr="1", timestamps="1")
    when = {text: t for t, text in stamped([data.decode() for _, data in got])}
    middle = (when["err-1\n"] + when["out-2\n"]) // 2
    seconds, nanos = divmod(middle, NANOS)
    query = f"{seconds}.{nanos:09d}"
    after = frames(cli, f"/containers/{name}/logs", stdout="1", stderr="1", since=query)
    assert sorted(data for _, data in after) == [b"err-2\n", b"out-2\n"]
    before = frames(cli, f"/containers/{name}/logs", stdout="1", stderr="1", until=query)
    assert sorted(data for _, data in before) == [b"err-1\n", b"out-1\n"]
    # A line's own time, as printed by -t, selects that line (nanoseconds kept).
    exact = when["out-2\n"]
    seconds, nanos = divmod(exact, NANOS)
    one = frames(
        cli, f"/containers/{name}/logs", stdout="1", since=f"{seconds}.{nanos:09d}", tail="all"
    )
    assert one[0] == (STDOUT, b"out-2\n")

    # swarmpy's CLI: RFC 3339 in, stderr to stderr.
    d = cli.daemon
    run = d.cli("logs", "-t", "--since", rfc3339(middle), name)
    assert run.returncode == 0, run.stderr
    assert [text for _, text in stamped(run.stdout.splitlines())] == ["out-2"]
    assert [text for _, text in stamped(run.stderr.splitlines())] == ["err-2"]
    until = d.cli("logs", "--until", rfc3339(middle), name)
    assert (until.stdout, until.stderr) == ("out-1\n", "err-1\n")
    # A time long ago and a relative one.
    assert d.cli("logs", "--since", "10m", name).stdout == "out-1\nout-2\n"
    assert d.cli("logs", "--until", "10m", name).stdout == ""
    bad = d.cli("logs", "--since", "yesterday", name)
    assert bad.returncode == 1
    assert 'invalid value for "since"' in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr


def test_docker_cli_reads_them(task: tuple[DockerCli, str]) -> None:
    cli, name = task
    run = cli.run("logs", "-t", "--since", "10m", name)
    assert run.returncode == 0, run.stderr
    assert [text for _, text in stamped(run.stdout.splitlines())] == ["out-1", "out-2"]
    assert [text for _, text in stamped(run.stderr.splitlines())] == ["err-1", "err-2"]
    assert cli.ok("logs", "--until", "10m", name) == ""
    container_flags: list[tuple[str, ...]] = [
        (),
        ("-t",),
        ("--details", "--tail", "1"),
        ("--since", "1h", "-t"),
    ]
    for flags in container_flags:
        ours = cli.daemon.cli("logs", *flags, name)
        theirs = cli.run("logs", *flags, name)
        assert (ours.stdout, ours.stderr) == (theirs.stdout, theirs.stderr), flags
    details = cli.run("logs", "--details", "--tail", "2", name)
    assert details.stdout == " out-2\n", details

    # service logs: docker's prefix after the timestamp, the task's stderr on stderr.
    service = cli.run("service", "logs", "-t", "--since", "1m", SERVICE)
    assert service.returncode == 0, service.stderr
    out = stamped(service.stdout.splitlines())
    assert [text.split("    | ", 1)[1] for _, text in out] == ["out-1", "out-2"]
    assert all(text.startswith(f"{SERVICE}.1.") for _, text in out), out
    err = stamped(service.stderr.splitlines())
    assert [text.split("    | ", 1)[1] for _, text in err] == ["err-1", "err-2"]
    # IDs, not names, and whole: the task's and the node's.
    task_id = cli.ok("inspect", "-f", '{{index .Config.Labels "com.docker.swarm.task.id"}}', name)
    node_id = cli.ok("node", "ls", "-q").split()[0]
    plain = cli.ok("service", "logs", "--no-resolve", "--no-trunc", "--tail", "2", SERVICE)
    service_id = cli.ok("service", "inspect", "-f", "{{.ID}}", SERVICE).strip()
    assert plain.startswith(f"{service_id}.1.{task_id.strip()}@{node_id}    | "), plain
    # swarmpy's CLI prints what docker's does, byte for byte.
    service_flags: list[tuple[str, ...]] = [
        (),
        ("-t", "--no-trunc"),
        ("--no-task-ids", "--details"),
        ("--raw",),
    ]
    for flags in service_flags:
        ours = cli.daemon.cli("service", "logs", *flags, SERVICE)
        theirs = cli.run("service", "logs", *flags, SERVICE)
        assert (ours.stdout, ours.stderr) == (theirs.stdout, theirs.stderr), flags
    # The same times as the container's own log.
    own = stamped(cli.ok("logs", "-t", name).splitlines())
    assert [t for t, _ in out] == [t for t, _ in own]


def test_swarmpy_service_logs_with_timestamps_and_since(task: tuple[DockerCli, str]) -> None:
    cli, name = task
    d = cli.daemon
    run = d.cli("service", "logs", "-t", SERVICE)
    assert run.returncode == 0, run.stderr
    out = stamped(run.stdout.splitlines())
    task_id = cli.ok("inspect", "-f", '{{index .Config.Labels "com.docker.swarm.task.id"}}', name)
    prefix = f"{SERVICE}.1.{task_id.strip()[:12]}@"
    assert all(text.startswith(prefix) for _, text in out), out
    assert [text.split("    | ", 1)[1] for _, text in out] == ["out-1", "out-2"]
    err = stamped(run.stderr.splitlines())
    assert [text.split("    | ", 1)[1] for _, text in err] == ["err-1", "err-2"]

    middle = (err[0][0] + out[1][0]) // 2
    later = d.cli("service", "logs", "--since", rfc3339(middle), "--no-task-ids", SERVICE)
    assert later.returncode == 0, later.stderr
    assert [line.split("    | ", 1)[1] for line in later.stdout.splitlines()] == ["out-2"]
    assert later.stdout.startswith(f"{SERVICE}.1@")
    full = d.cli("service", "logs", "--no-trunc", "--tail", "2", SERVICE)
    assert full.stdout.startswith(f"{SERVICE}.1.{task_id.strip()}@"), full
