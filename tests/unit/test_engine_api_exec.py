"""exec's pure parts: Docker's ExecConfig in, runc exec's options out, the inspect shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmpy.dockerjson import detachkeys
from swarmpy.engine.execs import Exec, ExecConfig, exec_flags, start_failure
from swarmpy.errors import InvalidArgument, RuntimeFailure
from swarmpy.server.routes.execs import console_size, exec_config, exec_json


def test_docker_exec_config_becomes_runc_exec_options() -> None:
    config = exec_config(
        {
            "Cmd": ["sh", "-c", "echo $A"],
            "Env": ["A=1", "B=two words"],
            "User": "1000:1000",
            "WorkingDir": "/tmp",
            "Tty": True,
            "AttachStdin": True,
            "AttachStdout": True,
            "AttachStderr": False,
        }
    )
    assert config == ExecConfig(
        cmd=("sh", "-c", "echo $A"),
        env=("A=1", "B=two words"),
        user="1000:1000",
        workdir="/tmp",
        tty=True,
        stdin=True,
        stdout=True,
        stderr=False,
    )
    assert exec_flags(config, "1000:1000") == [
        "--tty",
        "--env", "A=1",
        "--env", "B=two words",
        "--cwd", "/tmp",
        "--user", "1000:1000",
    ]  # fmt: skip
    assert exec_flags(ExecConfig(cmd=("true",))) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Cmd": []}, "No exec command specified"),
        ({"Cmd": ["true"], "Env": ["NOEQUALS"]}, "invalid environment variable"),
        ({"Cmd": ["true"], "WorkingDir": "rel"}, "is not absolute"),
    ],
)
def test_bad_exec_configs_are_refused_by_name(body: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        exec_flags(exec_config(body))


def test_bad_bodies_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="privileged exec is not supported"):
        exec_config({"Cmd": ["true"], "Privileged": True})
    with pytest.raises(InvalidArgument, match="invalid Cmd"):
        exec_config({"Cmd": "true"})
    with pytest.raises(InvalidArgument, match="JSON object"):
        exec_config(["true"])


def test_console_size() -> None:
    assert console_size({}) is None
    assert console_size({"ConsoleSize": [24, 80]}) == (24, 80)
    assert console_size({"ConsoleSize": [0, 0]}) is None
    with pytest.raises(InvalidArgument, match="ConsoleSize"):
        console_size({"ConsoleSize": [24]})


def test_exec_inspect_shape() -> None:
    made = Exec("e1", "c1", ExecConfig(cmd=("ls", "-l"), user="5"), Path("/nonexistent"))
    made.exit_code = 2
    assert exec_json(made) == {
        "ID": "e1",
        "Running": False,
        "ExitCode": 2,
        "ProcessConfig": {
            "tty": False,
            "entrypoint": "ls",
            "arguments": ["-l"],
            "privileged": False,
            "user": "5",
        },
        "OpenStdin": False,
        "OpenStderr": True,
        "OpenStdout": True,
        "CanRemove": False,
        "ContainerID": "c1",
        "DetachKeys": "",
        "Pid": 0,
    }


def test_detach_keys_are_read_as_mobys_term_reads_them() -> None:
    assert detachkeys.parse("") == b""
    assert detachkeys.parse("ctrl-p,ctrl-q") == detachkeys.DEFAULT == b"\x10\x11"
    assert detachkeys.parse("a,ctrl-@,ctrl-_,ctrl-z") == b"a\x00\x1f\x1a"
    for bad in ("ctrl-1", "ab", "ctrl-", "é"):
        with pytest.raises(InvalidArgument, match=r"Invalid escape keys \(.*\) provided"):
            detachkeys.parse(bad)
    made = Exec("e1", "c1", exec_config({"Cmd": ["sh"], "DetachKeys": "ctrl-x"}), Path("/x"))
    assert exec_json(made)["DetachKeys"] == "GA=="  # Go's JSON of the bytes: base64


def test_the_escape_proxy_detaches_on_the_typed_sequence_only() -> None:
    proxy = detachkeys.EscapeProxy(b"\x10\x11")
    assert proxy.feed(b"ls\r") == (b"ls\r", False)
    assert proxy.feed(b"\x10") == (b"", False)  # held back: maybe the sequence
    assert proxy.feed(b"x") == (b"\x10x", False)  # it was not: both go on
    assert proxy.feed(b"\x10") == (b"", False)
    assert proxy.feed(b"\x11") == (b"", True)
    # A read of several bytes is data (a paste), as dockerd's proxy counts one-byte reads.
    assert proxy.feed(b"\x10\x11") == (b"\x10\x11", False)
    assert detachkeys.EscapeProxy(b"").feed(b"\x10") == (b"\x10", False)


def test_a_start_runc_refused_is_coded_as_dockerds() -> None:
    """setExitCodeFromError: 126 for a command that cannot be run, 127 for one that is not
    there, 128 for anything else; the words are containerd's wrapping of runc's."""
    denied = start_failure("exec failed: exec: /etc/passwd: permission denied")
    assert denied.exit_code == 126
    assert isinstance(denied.error(), InvalidArgument)  # 400, as dockerd's
    assert denied.message == (
        "OCI runtime exec failed: exec failed: exec: /etc/passwd: permission denied: unknown"
    )
    assert start_failure('exec: "/etc": is a directory').message.endswith(": permission denied")
    assert start_failure("exec: /x/y: no such file or directory").exit_code == 127
    other = start_failure("exec failed: container not running")
    assert other.exit_code == 128
    assert isinstance(other.error(), RuntimeFailure)
