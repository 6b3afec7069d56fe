"""`pull` against a fake Engine API: its progress drawn per layer on a terminal (a pty made by
script(1)), as docker's CLI draws it, and plain lines without one."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from swarmpy.lab.hosts import swarmpy_executable

pytestmark = pytest.mark.fakeserver

MESSAGES = [
    {"status": "Pulling from library/busybox", "id": "latest"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "a1b2c3d4e5f6"},
    {
        "status": "Downloading",
        "progressDetail": {"current": 1_200_000, "total": 3_400_000},
        "progress": "[=>  ]  1.2MB/3.4MB",
        "id": "a1b2c3d4e5f6",
    },
    {"status": "Pull complete", "progressDetail": {}, "id": "a1b2c3d4e5f6"},
    {"status": "Status: Downloaded newer image for busybox:latest"},
]


class _Engine(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the CLI's /_ping
        self._answer(b"OK", "text/plain")

    def do_POST(self) -> None:
        assert self.path.split("?")[0].endswith("/images/create"), self.path
        self._answer("".join(json.dumps(m) + "\n" for m in MESSAGES).encode(), "application/json")

    def _answer(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("Api-Version", "1.41")
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def engine_host() -> Iterator[str]:
    with ThreadingHTTPServer(("127.0.0.1", 0), _Engine) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
        server.shutdown()


def test_pull_draws_layers_on_a_terminal_and_lines_elsewhere(engine_host: str) -> None:
    env = {**os.environ, "SWARMPY_HOST": engine_host}
    pull = f"{shlex.quote(str(swarmpy_executable()))} image pull busybox"
    on_tty = subprocess.run(
        ["script", "-qec", f"stty cols 200 rows 40; {pull}", "/dev/null"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,  # bytes: text mode would make each \r a line end
        timeout=60,
    )
    assert on_tty.returncode == 0, on_tty.stdout + on_tty.stderr
    shown = on_tty.stdout.decode().replace("\r\n", "\n")  # the pty's own line ends
    bar = "[" + "=" * 17 + ">" + " " * 33 + "]    1.2MB/3.4MB"
    assert shown == (
        "latest: Pulling from library/busybox\n"
        "\n\x1b[1A\x1b[2K\ra1b2c3d4e5f6: Pulling fs layer \r\x1b[1B"
        f"\x1b[1A\x1b[2K\ra1b2c3d4e5f6: Downloading {bar}\r\x1b[1B"
        "\x1b[1A\x1b[2K\ra1b2c3d4e5f6: Pull complete \r\x1b[1B"
        "Status: Downloaded newer image for busybox:latest\n"
        "docker.io/library/busybox:latest\n"
    )
    piped = subprocess.run(
        [str(swarmpy_executable()), "image", "pull", "busybox"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == (
        "latest: Pulling from library/busybox\n"
        "a1b2c3d4e5f6: Pulling fs layer\n"
        "a1b2c3d4e5f6: Pull complete\n"
        "Status: Downloaded newer image for busybox:latest\n"
        "docker.io/library/busybox:latest\n"
    )
