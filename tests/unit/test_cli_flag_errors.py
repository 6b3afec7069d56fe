"""Bad values of `service create/update` flags as docker's CLI reports them: the parser's
words, "See '... --help'.", exit 125; --rollback with any other flag refused."""

from __future__ import annotations

import sys

import pytest

from swarmpy.cli import main as cli_main

# Nothing here may reach a daemon: the command line is refused first.
NO_DAEMON = ("-H", "unix:///nonexistent/swarmpy.sock")


def run_main(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr(sys, "argv", ["swarmpy", *NO_DAEMON, *argv])
    try:
        cli_main.run()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


def test_a_bad_publish_value_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(monkeypatch, "service", "create", "-p", "99999", "busybox") == 125
    assert capsys.readouterr().err == (
        'invalid argument "99999" for "-p, --publish" flag: Invalid containerPort: 99999\n'
        "See 'swarmpy service create --help'.\n"
    )
    assert (
        run_main(monkeypatch, "service", "update", "--publish-add", "mode=x,target=1", "s") == 125
    )
    assert capsys.readouterr().err == (
        'invalid argument "mode=x,target=1" for "--publish-add" flag: invalid publish mode '
        "value (x): must be either 'ingress' or 'host'\n"
        "See 'swarmpy service update --help'.\n"
    )


@pytest.mark.parametrize("flag", ["--no-resolve-image", "--with-registry-auth", "--env-add=A=1"])
def test_rollback_takes_no_other_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    assert run_main(monkeypatch, "service", "update", "--rollback", flag, "s") == 1
    assert "other flags may not be combined with --rollback" in capsys.readouterr().err


@pytest.mark.parametrize(("given", "proxy"), [([], True), (["--sig-proxy=false"], False)])
def test_attach_sig_proxy_takes_dockers_boolean(given: list[str], proxy: bool) -> None:
    ctx = cli_main.load("attach").make_context("attach", [*given, "c"])
    assert ctx.params["sig_proxy"] is proxy


def test_a_bad_boolean_value_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(monkeypatch, "attach", "--sig-proxy=maybe", "c") == 125
    assert capsys.readouterr().err == (
        'invalid argument "maybe" for "--sig-proxy" flag: strconv.ParseBool: parsing "maybe": '
        "invalid syntax\nSee 'swarmpy attach --help'.\n"
    )


def test_run_sig_proxy_is_read_up_to_the_image() -> None:
    argv = ["--name", "x", "--sig-proxy=false", "busybox", "echo", "--sig-proxy=nope"]
    ctx = cli_main.load("run").make_context("run", argv)
    assert ctx.params["sig_proxy"] is False
    assert ctx.params["command"] == ["echo", "--sig-proxy=nope"]
    assert cli_main.load("run").make_context("run", ["busybox"]).params["sig_proxy"] is None
