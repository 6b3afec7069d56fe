"""The CLI's entry point: Docker's exit status for usage errors, help without a subcommand,
and a start that loads only what the command needs."""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swarmpy.cli import main as cli_main

# What a listing must not load: the gRPC stack, the daemon's layers, the engine; pydantic (typer
# coerces with it unless cli.fastparams answers), rich (help only), the template evaluator (a
# --format only), the domain model and the daemon's configuration; http.client, its email
# parser and ssl (a JSON call is one exchange of cli/wire.py; they are for streams and TLS).
HEAVY = (
    "grpc",
    "swarmpy.api",
    "swarmpy.manager",
    "swarmpy.engine",
    "swarmpy.agent",
    "httpx",
    "pydantic",
    "rich",
    "swarmpy.cli.gotemplate",
    "swarmpy.model",
    "swarmpy.config",
    "swarmpy.cli.specflags",
    "swarmpy.cli.service.create",
    "http.client",
    "email",
    "ssl",
)


def run_main(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr(sys, "argv", ["swarmpy", *argv])
    try:
        cli_main.run()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


# docker 20.10's own output for the same command lines (with "docker" for "swarmpy").
DOCKER_USAGE_ERRORS: list[tuple[list[str], int, str]] = [
    (["node", "ls", "--bogus"], 125, "unknown flag: --bogus\nSee 'swarmpy node ls --help'.\n"),
    (
        ["service", "ls", "-z"],
        125,
        "unknown shorthand flag: 'z' in -z\nSee 'swarmpy service ls --help'.\n",
    ),
    (
        ["service", "ls", "--filter"],
        125,
        "flag needs an argument: --filter\nSee 'swarmpy service ls --help'.\n",
    ),
    (
        ["node", "ls", "-f"],
        125,
        "flag needs an argument: 'f' in -f\nSee 'swarmpy node ls --help'.\n",
    ),
    (
        ["service", "ls", "--quiet=x"],
        125,
        'invalid argument "x" for "-q, --quiet" flag: strconv.ParseBool: parsing "x": invalid '
        "syntax\nSee 'swarmpy service ls --help'.\n",
    ),
    (
        ["service", "create"],
        1,
        '"swarmpy service create" requires at least 1 argument.\n'
        "See 'swarmpy service create --help'.\n\n"
        "Usage:  swarmpy service create [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
        "Create a new service\n",
    ),
    (
        ["service", "ls", "extra"],
        1,
        "\"swarmpy service ls\" accepts no arguments.\nSee 'swarmpy service ls --help'.\n\n"
        "Usage:  swarmpy service ls [OPTIONS]\n\nList services\n",
    ),
    (
        ["network", "create"],
        1,
        '"swarmpy network create" requires exactly 1 argument.\n'
        "See 'swarmpy network create --help'.\n\n"
        "Usage:  swarmpy network create [OPTIONS] NETWORK\n\nCreate a network\n",
    ),
    (
        ["node", "inspect"],
        1,
        '"swarmpy node inspect" requires at least 1 argument.\n'
        "See 'swarmpy node inspect --help'.\n\n"
        "Usage:  swarmpy node inspect [OPTIONS] self|NODE [NODE...]\n\n"
        "Display detailed information on one or more nodes\n",
    ),
    (
        ["events", "--filter", "type"],
        125,
        'invalid argument "type" for "-f, --filter" flag: bad format of filter (expected '
        "name=value)\nSee 'swarmpy events --help'.\n",
    ),
    (["nosuchnoun"], 1, "swarmpy: 'nosuchnoun' is not a swarmpy command.\nSee 'swarmpy --help'\n"),
]


@pytest.mark.parametrize(("argv", "status", "stderr"), DOCKER_USAGE_ERRORS)
def test_usage_errors_are_worded_and_exit_as_dockers(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    status: int,
    stderr: str,
) -> None:
    assert run_main(monkeypatch, *argv) == status
    captured = capsys.readouterr()
    assert captured.err == stderr
    assert captured.out == ""


def test_an_unknown_command_under_a_noun_prints_the_nouns_help_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(monkeypatch, "service", "nosuch") == 1
    captured = capsys.readouterr()
    assert "Manage swarm services" in captured.err
    assert captured.out == ""


def test_version_flag_prints_one_line_without_a_daemon(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from swarmpy.model import ENGINE_VERSION

    assert cli_main.VERSION == ENGINE_VERSION
    for flag in ("--version", "-v"):
        assert run_main(monkeypatch, "-H", "unix:///nonexistent/s.sock", flag) == 0
        assert capsys.readouterr().out == f"swarmpy version {ENGINE_VERSION}\n"


def test_a_noun_alone_prints_its_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(monkeypatch, "node") == 0
    assert "Manage swarm nodes" in capsys.readouterr().out


def test_every_command_is_listed_and_loads() -> None:
    group = cli_main.LazyCommands(name="swarmpy")
    names = group.list_commands(None)
    assert set(names) == set(cli_main.NOUNS) | set(cli_main.TOP_LEVEL)
    for name in names:
        assert group.get_command(None, name) is not None, name
    assert group.get_command(None, "nope") is None


@pytest.mark.parametrize("argv", [["node", "ls"], ["service", "ls"], ["network", "ls"]])
def test_a_listing_loads_only_what_it_needs(argv: list[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['swarmpy', '-H', 'unix:///nonexistent/s.sock', *{argv!r}]\n"
        "from swarmpy.cli.main import run\n"
        "try:\n"
        "    run()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert "Cannot connect to the swarmpy daemon" in result.stderr
    assert result.stdout.strip() == "[]", result.stdout


def test_a_nouns_commands_are_listed_in_order_and_each_loads() -> None:
    service = cli_main.load("service")
    names = service.list_commands(None)
    assert names[:3] == ["create", "ls", "ps"]
    for name in names:
        assert service.get_command(None, name).name == name
    assert service.get_command(None, "nope") is None
    node = cli_main.load("node")
    assert "ls" in node.list_commands(None)
    assert node.get_command(None, "ls").name == "ls"


# docker's main prints its own errors as they are (no "Error: " of its own), except the few
# whose text starts so; docker 28's output for the same command lines, no daemon listening.
CLIENT_ERRORS: list[tuple[list[str], str]] = [
    (["ps"], "Cannot connect to the swarmpy daemon at {host}. Is the swarmpy daemon running?\n"),
    (["rename", "a", " "], "Error: Neither old nor new names may be empty\n"),
    (
        ["start", "a", "b"],
        "Cannot connect to the swarmpy daemon at {host}. Is the swarmpy daemon running?\n"
        "Cannot connect to the swarmpy daemon at {host}. Is the swarmpy daemon running?\n"
        "Error: failed to start containers: a, b\n",
    ),
    # Not the working directory ("" is "." to pathlib, no path to docker's stat).
    (["build", ""], 'unable to prepare context: path "" not found\n'),
]


@pytest.mark.parametrize(("argv", "stderr"), CLIENT_ERRORS)
def test_client_errors_are_printed_as_dockers(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: list[str],
    stderr: str,
) -> None:
    host = f"unix://{tmp_path}/none.sock"
    monkeypatch.setenv("SWARMPY_HOST", host)
    assert run_main(monkeypatch, *argv) == 1
    assert capsys.readouterr().err == stderr.format(host=host)


class _Ended(Exception):
    """os._exit, called: the test's stand-in, which returns to the test."""


def _end_with(
    monkeypatch: pytest.MonkeyPatch, status: object, callbacks: int, others: bool = False
) -> object:
    """What ``end(status)`` does with ``callbacks`` atexit functions and, with ``others``,
    other threads running: ("os._exit", code) or ("sys.exit", code). The test process's own
    threads (left by earlier tests of a whole suite) do not count."""

    def fake_exit(code: int) -> None:
        raise _Ended(code)

    monkeypatch.setattr(os, "_exit", fake_exit)
    monkeypatch.setattr(atexit, "_ncallbacks", lambda: callbacks)
    monkeypatch.setattr(cli_main, "_other_threads", lambda: others)
    try:
        cli_main.end(status)
    except _Ended as exc:
        return ("os._exit", exc.args[0])
    except SystemExit as exc:
        return ("sys.exit", exc.code)
    raise AssertionError("end() returned")


def test_the_console_script_ends_at_once_when_nothing_is_left_to_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _end_with(monkeypatch, None, 0) == ("os._exit", 0)
    assert _end_with(monkeypatch, 125, 0) == ("os._exit", 125)
    # An atexit function (logging's flush, a temporary directory's removal) must run.
    assert _end_with(monkeypatch, 1, 1) == ("sys.exit", 1)
    # A message for SystemExit is printed by the interpreter's exit, as sys.exit prints it.
    assert _end_with(monkeypatch, "boom", 0) == ("sys.exit", "boom")


def test_the_console_script_waits_for_other_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    assert _end_with(monkeypatch, 0, 0, others=True) == ("sys.exit", 0)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert cli_main._other_threads()
    finally:
        release.set()
        other.join()


def test_loading_a_command_resumes_the_collector_main_paused() -> None:
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    cli_main._paused = True
    try:
        cli_main.load.__wrapped__("node")
        assert gc.isenabled()
        assert not cli_main._paused
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        if not was_enabled:
            gc.disable()


def test_the_console_script_skips_the_teardown() -> None:
    """Nothing left to run at exit, the process ends without the interpreter's teardown, which
    would free (and so finalize) what a module holds."""
    code = (
        "import os, sys\n"
        "sys.argv = ['swarmpy', '--version']\n"
        "from swarmpy.cli import main\n"
        "class Witness:\n"
        "    def __del__(self, write=os.write):\n"
        "        write(1, b'torn down\\n')\n"
        "main.witness = Witness()\n"
        "main.main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "swarmpy version 0.1.0\n"


@pytest.mark.parametrize(
    ("top", "noun"), [("images", "ls"), ("pull", "pull"), ("rmi", "rm"), ("load", "load")]
)
def test_dockers_top_level_image_commands_are_the_image_commands(top: str, noun: str) -> None:
    command = cli_main.load(top)
    same = cli_main.load("image").commands[noun]
    assert command.name == top
    assert command.help == same.help
    assert [(p.name, p.opts) for p in command.params] == [(p.name, p.opts) for p in same.params]
