"""The CLI's entry point: Docker's exit status for usage errors, help without a subcommand,
and a start that loads only what the command needs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from swarmpy.cli import main as cli_main

# What a listing must not load: the gRPC stack, the daemon's layers, the engine; pydantic (typer
# coerces with it unless cli.fastparams answers), rich (help only), the template evaluator (a
# --format only), the domain model and the daemon's configuration.
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
)


def run_main(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr(sys, "argv", ["swarmpy", *argv])
    try:
        cli_main.main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


def test_usage_errors_exit_125_as_dockers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(monkeypatch, "node", "ls", "--bogus") == cli_main.USAGE_EXIT == 125
    err = capsys.readouterr().err
    assert "No such option: --bogus" in err
    assert run_main(monkeypatch, "nosuchnoun") == 125
    assert run_main(monkeypatch, "node", "rm") == 125  # a missing argument


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
        "from swarmpy.cli.main import main\n"
        "try:\n"
        "    main()\n"
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
