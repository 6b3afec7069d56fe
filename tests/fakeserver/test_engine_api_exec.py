"""docker exec through the Engine API in process, without root: a fake runc (a script that
lists one container and runs ``exec``'s command on the host) behind the real engine, so the
hijacked connection, Docker's framing, the TTY the daemon owns, the exit code and the errors
are what a client sees. The real runc and the docker CLI: tests/integration/."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import docker
import pytest

from swarmpy.ca import certificates as ca
from swarmpy.engine.containers import Containers
from swarmpy.engine.runc import Runc
from swarmpy.model import Network
from swarmpy.server.listeners import EngineApiServer
from swarmpy.server.stream import STDERR, STDOUT, unframe
from tests.support.engine_api import EngineApi, client_context, engine_api, issue
from tests.support.registry import free_port

pytestmark = pytest.mark.fakeserver

CID = "c0ffee" + "0" * 58
NAME = "web.1.x"

# runc --root ROOT [--log F --log-format json] list|exec ...: the container is "running"
# unless ROOT/status says else; exec takes runc's options, writes the pid file and runs the
# command here, or, for a command that is not there, fails as runc does (its log, stderr, 255).
FAKE_RUNC = f"""#!{sys.executable}
import json, os, shutil, sys
args = sys.argv[1:]
options = {{}}
while args[0].startswith("--"):
    flag = args.pop(0)
    options[flag] = args.pop(0)
root, command, rest = options["--root"], args[0], args[1:]
status_file = os.path.join(root, "status")
status = open(status_file).read().strip() if os.path.exists(status_file) else "running"
if command == "list":
    print(json.dumps([{{"id": "{CID}", "pid": 1, "status": status,
        "created": "2026-01-01T00:00:00Z",
        "annotations": {{"io.swarmpy.container.name": "{NAME}"}}}}]))
elif command == "exec":
    env = {{}}
    pid_file = None
    while rest[0].startswith("--"):
        flag = rest.pop(0)
        if flag == "--tty":
            continue
        value = rest.pop(0)
        if flag == "--env":
            key, _, val = value.partition("=")
            env[key] = val
        elif flag == "--cwd":
            os.chdir(value)
        elif flag == "--pid-file":
            pid_file = value
    rest.pop(0)  # the container id
    if shutil.which(rest[0]) is None:
        error = ("exec failed: unable to start container process: exec: "
            + json.dumps(rest[0]) + ": executable file not found in $PATH")
        with open(options["--log"], "a") as log:
            log.write(json.dumps({{"level": "error", "msg": error}}) + "\\n")
        print(error, file=sys.stderr)
        sys.exit(255)
    if pid_file:
        open(pid_file, "w").write(str(os.getpid()))
    os.environ.update(env)
    os.execvp(rest[0], rest)
else:
    sys.exit("fake runc: unsupported " + command)
"""


class NoNetworks:
    def local_networks(self) -> list[str]:
        return []

    def local_containers(self, network_id: str) -> list[dict[str, str]]:
        return []


def port_of(api: EngineApi) -> int:
    """The port the test server listens on (known once it started)."""
    port = api.client.port
    assert port is not None
    return port


@dataclass
class FakeRuntime:
    containers: Containers
    images: Any = None
    network: NoNetworks = field(default_factory=NoNetworks)
    networks: dict[str, Network] = field(default_factory=dict)
    # No user bridges on this node.
    bridges: SimpleNamespace = field(
        default_factory=lambda: SimpleNamespace(networks=list, endpoints=list)
    )


def run(scenario: Callable[[EngineApi, Path], Awaitable[None]], tmp_path: Path) -> None:
    runc_bin = tmp_path / "runc"
    runc_bin.write_text(FAKE_RUNC)
    runc_bin.chmod(0o755)
    root, container_root = tmp_path / "runc-root", tmp_path / "containers"
    root.mkdir()
    (container_root / CID).mkdir(parents=True)
    runtime = FakeRuntime(Containers(Runc(root, str(runc_bin)), container_root))

    async def main() -> None:
        async with engine_api() as api:
            api.node.require_runtime = lambda: runtime  # type: ignore[method-assign]
            await scenario(api, root)

    asyncio.run(main())


async def create(api: EngineApi, ref: str, **config: Any) -> tuple[int, Any]:
    response = await api.client.post(f"/v1.41/containers/{ref}/exec", json=config)
    return response.status, await response.json()


async def exec_json(api: EngineApi, exec_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/v1.41/exec/{exec_id}/json")
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


def hijacked_start(
    port: int,
    exec_id: str,
    stdin: bytes,
    tty: bool = False,
    tls: ssl.SSLContext | None = None,
) -> tuple[str, bytes]:
    """POST /exec/{id}/start as Docker's CLI does: ask for the upgrade, send stdin after the
    101, half-close (not over TLS, which has no half-close here), read the output to the
    end. The status line and the raw output."""
    body = json.dumps({"Detach": False, "Tty": tty}).encode()
    request = (
        f"POST /v1.41/exec/{exec_id}/start HTTP/1.1\r\nHost: api\r\n"
        "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with contextlib.ExitStack() as stack:
        sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=20))
        if tls is not None:
            sock = stack.enter_context(tls.wrap_socket(sock))
        sock.sendall(request)
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        if stdin:
            sock.sendall(stdin)
        if tls is None:
            sock.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return head.decode(), out


def test_a_hijacked_exec_takes_stdin_and_frames_stdout_and_stderr(tmp_path: Path) -> None:
    async def scenario(api: EngineApi, root: Path) -> None:
        status, made = await create(
            api,
            NAME,
            Cmd=["sh", "-c", "cat; echo err >&2; exit 3"],
            AttachStdin=True,
            AttachStdout=True,
            AttachStderr=True,
        )
        assert status == 201
        before = await exec_json(api, made["Id"])
        assert (before["Running"], before["Pid"], before["ContainerID"]) == (False, 0, CID)
        head, out = await asyncio.to_thread(hijacked_start, port_of(api), made["Id"], b"hello\n")
        assert head.startswith("HTTP/1.1 101 UPGRADED\r\n")
        assert "Content-Type: application/vnd.docker.raw-stream" in head
        frames, rest = unframe(out)
        assert rest == b""
        assert b"".join(d for s, d in frames if s == STDOUT) == b"hello\n"
        assert b"".join(d for s, d in frames if s == STDERR) == b"err\n"
        after = await exec_json(api, made["Id"])
        assert (after["Running"], after["ExitCode"]) == (False, 3)
        assert after["Pid"] > 0
        assert after["ProcessConfig"]["entrypoint"] == "sh"

        again = await api.client.post(f"/v1.41/exec/{made['Id']}/start", json={})
        assert again.status == 409

    run(scenario, tmp_path)


def test_a_tty_exec_is_raw_on_a_terminal_the_daemon_owns(tmp_path: Path) -> None:
    async def scenario(api: EngineApi, root: Path) -> None:
        status, made = await create(
            api,
            CID[:12],
            Cmd=["sh", "-c", "tty; stty size; echo $GREET"],
            Env=["GREET=yo"],
            Tty=True,
            AttachStdout=True,
            ConsoleSize=[30, 90],
        )
        assert status == 201
        _, out = await asyncio.to_thread(hijacked_start, port_of(api), made["Id"], b"", True)
        lines = out.decode().replace("\r", "").splitlines()
        assert lines[0].startswith("/dev/pts/"), out
        assert lines[1:] == ["30 90", "yo"]
        assert (await exec_json(api, made["Id"]))["ExitCode"] == 0

    run(scenario, tmp_path)


def test_the_detach_keys_end_the_stream_and_leave_the_exec_running(tmp_path: Path) -> None:
    async def scenario(api: EngineApi, root: Path) -> None:
        bad = await create(api, NAME, Cmd=["cat"], Tty=True, DetachKeys="ctrl-1")
        assert bad == (400, {"message": "Invalid escape keys (ctrl-1) provided"})
        status, made = await create(
            api,
            NAME,
            Cmd=["cat"],
            Tty=True,
            AttachStdin=True,
            AttachStdout=True,
            DetachKeys="ctrl-x",  # one key: one read, as a typed sequence arrives
        )
        assert status == 201
        # The stream ends at the key although cat reads on (its stdin is never closed).
        await asyncio.to_thread(hijacked_start, port_of(api), made["Id"], b"\x18", True)
        after = await exec_json(api, made["Id"])
        assert (after["Running"], after["DetachKeys"]) == (True, "GA==")

    run(scenario, tmp_path)


def test_without_the_upgrade_the_output_is_the_response_body(tmp_path: Path) -> None:
    async def scenario(api: EngineApi, root: Path) -> None:
        _, made = await create(api, NAME, Cmd=["echo", "plain"], AttachStdout=True)
        response = await api.client.post(f"/v1.41/exec/{made['Id']}/start", json={})
        assert response.status == 200
        frames, _ = unframe(await response.read())
        assert frames == [(STDOUT, b"plain\n")]

    run(scenario, tmp_path)


NOT_FOUND = (
    'OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": '
    "executable file not found in $PATH: unknown"
)


def test_a_command_that_is_not_there_is_told_as_dockerd_tells_it(tmp_path: Path) -> None:
    """docker exec c nope: dockerd's words on stdout, exit 127; not runc's line, exit 255."""

    async def scenario(api: EngineApi, root: Path) -> None:
        for tty in (False, True):
            _, made = await create(
                api, NAME, Cmd=["nope"], AttachStdout=True, AttachStderr=True, Tty=tty
            )
            _, out = await asyncio.to_thread(hijacked_start, port_of(api), made["Id"], b"", tty)
            said = out if tty else b"".join(d for _, d in unframe(out)[0])
            assert said == f"{NOT_FOUND}\r\n".encode()
            if not tty:
                assert {s for s, _ in unframe(out)[0]} == {STDOUT}
            assert (await exec_json(api, made["Id"]))["ExitCode"] == 127
        _, made = await create(api, NAME, Cmd=["nope"])
        detached = await api.client.post(f"/v1.41/exec/{made['Id']}/start", json={"Detach": True})
        assert (detached.status, await detached.json()) == (400, {"message": NOT_FOUND})
        assert (await exec_json(api, made["Id"]))["ExitCode"] == 127
        # A process that runs and exits 255 is not taken for runc failing.
        _, made = await create(
            api, NAME, Cmd=["sh", "-c", "echo ran >&2; exit 255"], AttachStderr=True
        )
        _, out = await asyncio.to_thread(hijacked_start, port_of(api), made["Id"], b"")
        assert unframe(out)[0] == [(STDERR, b"ran\n")]
        assert (await exec_json(api, made["Id"]))["ExitCode"] == 255

    run(scenario, tmp_path)


def test_exec_errors_have_docker_status_codes(tmp_path: Path) -> None:
    async def scenario(api: EngineApi, root: Path) -> None:
        status, body = await create(api, "nope", Cmd=["true"])
        assert (status, body) == (404, {"message": "No such container: nope"})
        status, body = await create(api, NAME, Cmd=[])
        assert (status, body) == (400, {"message": "No exec command specified"})
        status, body = await create(api, NAME, Cmd=["true"], Env=["=x"])
        assert status == 400
        status, body = await create(api, NAME, Cmd=["true"], Privileged=True)
        assert status == 400
        missing = await api.client.get("/v1.41/exec/nope/json")
        assert missing.status == 404
        assert await missing.json() == {"message": "No such exec instance: nope"}
        bad_size = await api.client.post("/v1.41/exec/nope/resize?h=x&w=1")
        assert bad_size.status == 400

        (root / "status").write_text("paused")
        status, body = await create(api, NAME, Cmd=["true"])
        assert status == 409
        assert body["message"].endswith("is paused, unpause the container before exec")
        (root / "status").write_text("stopped")
        status, body = await create(api, NAME, Cmd=["true"])
        assert (status, body) == (409, {"message": f"Container {CID} is not running"})

    run(scenario, tmp_path)


def test_docker_py_exec_run_has_the_exit_code(tmp_path: Path) -> None:
    async def scenario(api: EngineApi, root: Path) -> None:
        url = f"tcp://127.0.0.1:{api.client.port}"

        def drive() -> None:
            client = docker.APIClient(base_url=url, version="1.41")
            try:
                made = client.exec_create(NAME, ["sh", "-c", "echo py; echo oops >&2; exit 5"])
                out = client.exec_start(made["Id"], demux=True)
                assert out == (b"py\n", b"oops\n")
                assert client.exec_inspect(made["Id"])["ExitCode"] == 5
            finally:
                client.close()

        await asyncio.to_thread(drive)

    run(scenario, tmp_path)


def test_the_stream_ends_soon_after_the_exit_when_a_child_holds_it_open(tmp_path: Path) -> None:
    async def scenario(api: EngineApi, root: Path) -> None:
        # The background sleep keeps stdout open after sh exits; it prints its pid for the
        # test to end it.
        _, made = await create(api, NAME, Cmd=["sh", "-c", "sleep 30 & echo $!"], AttachStdout=True)
        loop = asyncio.get_running_loop()
        began = loop.time()
        _, out = await asyncio.to_thread(hijacked_start, port_of(api), made["Id"], b"")
        took = loop.time() - began
        frames, _ = unframe(out)
        child = int(b"".join(d for _, d in frames))
        os.kill(child, signal.SIGKILL)
        assert took < 10, took
        assert (await exec_json(api, made["Id"]))["ExitCode"] == 0

    run(scenario, tmp_path)


def test_exec_over_tls(tmp_path: Path) -> None:
    """The hijack takes a TLS transport over too (TCP with client certificates)."""
    root = ca.create_root_ca()
    root_pem = tmp_path / "ca.pem"
    root_pem.write_text(root.cert_pem)
    server, client_cert = issue(root, "server", tmp_path), issue(root, "client", tmp_path)
    port = free_port()

    async def scenario(api: EngineApi, root_dir: Path) -> None:
        config = dataclasses.replace(
            api.node.config,
            hosts=(f"tcp://127.0.0.1:{port}",),
            tls_verify=True,
            tls_ca=root_pem,
            tls_cert=server[0],
            tls_key=server[1],
        )
        listener = EngineApiServer(api.node, config)
        await listener.start()

        context = client_context(root_pem, client_cert)
        url = f"https://127.0.0.1:{port}/v1.41"
        connector = aiohttp.TCPConnector(ssl=context)
        # The listener serves an app of its own (and its own execs): everything goes to it.
        async with aiohttp.ClientSession(connector=connector) as session:
            try:
                command = {"Cmd": ["sh", "-c", "echo over-tls; exit 6"], "AttachStdout": True}
                async with session.post(f"{url}/containers/{NAME}/exec", json=command) as made:
                    exec_id = (await made.json())["Id"]
                head, out = await asyncio.to_thread(
                    hijacked_start, port, exec_id, b"", False, context
                )
                assert head.startswith("HTTP/1.1 101 UPGRADED")
                assert unframe(out)[0] == [(STDOUT, b"over-tls\n")]
                async with session.get(f"{url}/exec/{exec_id}/json") as inspected:
                    assert (await inspected.json())["ExitCode"] == 6
            finally:
                await listener.stop()

    run(scenario, tmp_path)
