"""`swarmpy`: the typer app. One module per noun (a package of one module per command for
`service`); every command is a client of the daemon.

A command's module is imported only when that command runs (``LazyCommands``): the CLI's
start is measured (``bench/run.py cli``), and a ``node ls`` has no use for gRPC, the engine or
the manager. Help, completion and the tests' walks over the commands load them all.

The console script (``main``) also spares a command the interpreter's bookkeeping of memory a
process of a few milliseconds returns to the system at once: the cyclic garbage collector is
paused while the command's modules load (typer's here, the command's in ``load``), which
allocate tens of thousands of objects and no garbage, and the process ends with ``os._exit``
once its output is flushed, when nothing is left to run at exit, rather than tearing every
module down (``end``). Together about a third of a bare interpreter's start off a
``swarmpy node ls`` (bench/README.md, "CLI start")."""

from __future__ import annotations

import atexit
import functools
import gc
import importlib
import os
import sys
from collections.abc import MutableMapping
from typing import Any

# Paused for typer's import only (restored at the end of this module): an importer of this
# module (the tests) keeps its collector as it was.
_COLLECTING = gc.isenabled()
gc.disable()

import typer  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from swarmpy.cli import fastparams  # noqa: E402
from swarmpy.cli.lazy import group_on_use  # noqa: E402

fastparams.install()

# Docker's CLI's exit status for a command line it cannot parse.
USAGE_EXIT = 125
# swarmpy.model.ENGINE_VERSION (equal by a unit test), spelt out: --version loads no model.
VERSION = "0.1.0"

# Noun -> (module with its ``app``, help).
NOUNS: dict[str, tuple[str, str]] = {
    "swarm": ("swarmpy.cli.swarm", "Manage swarm"),
    "node": ("swarmpy.cli.node", "Manage swarm nodes"),
    "service": ("swarmpy.cli.service", "Manage swarm services"),
    "network": ("swarmpy.cli.network", "Manage networks"),
    "secret": ("swarmpy.cli.secret", "Manage Docker secrets"),
    "config": ("swarmpy.cli.config", "Manage Docker configs"),
    "stack": ("swarmpy.cli.stack", "Manage Docker stacks"),
    "image": ("swarmpy.cli.image", "Manage images"),
    "volume": ("swarmpy.cli.volume", "Manage volumes"),
    "system": ("swarmpy.cli.system", "Manage swarmpy"),
    "container": ("swarmpy.cli.container_noun", "Manage containers"),
    "lab": ("swarmpy.cli.lab", "Several hosts on this machine, as network namespaces"),
}
# Top-level command -> module whose ``register(app)`` defines it.
TOP_LEVEL: dict[str, str] = {
    "daemon": "swarmpy.cli.daemon_cmd",
    **dict.fromkeys(
        ("ps", "exec", "logs", "inspect", "top", "stats", "stop", "kill", "rm", "pause"),
        "swarmpy.cli.container",
    ),
    "unpause": "swarmpy.cli.container",
    **dict.fromkeys(("run", "create"), "swarmpy.cli.run"),
    **dict.fromkeys(
        ("start", "restart", "attach", "wait", "cp", "port", "rename", "commit"),
        "swarmpy.cli.lifecycle",
    ),
    **dict.fromkeys(("images", "pull", "rmi", "load", "build", "tag"), "swarmpy.cli.image"),
    **dict.fromkeys(("push", "save", "history", "login", "logout"), "swarmpy.cli.image"),
    "info": "swarmpy.cli.info",
    "version": "swarmpy.cli.version",
    "events": "swarmpy.cli.events",
    "completion": "swarmpy.cli.completion",
}


@functools.cache
def _registered(module: str) -> TyperGroup:
    sub = typer.Typer()
    importlib.import_module(module).register(sub)
    return typer.main.get_group(sub)


@functools.cache
def load(name: str) -> Any:
    """The click command ``name``, its module imported now."""
    command: Any
    if name in NOUNS:
        module, help_text = NOUNS[name]
        command = group_on_use(importlib.import_module(module).app)
        command.name, command.help = name, help_text
    else:
        command = _registered(TOP_LEVEL[name]).commands[name]
    resume_collector()
    return command


# Whether ``main`` paused the garbage collector, until the command it runs is loaded.
_paused = False


def resume_collector() -> None:
    """The collector back on, as a command that runs for hours (the daemon, ``logs -f``)
    needs it, with what loading made frozen (never scanned again: modules, classes and
    functions live as long as the process)."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


class LazyCommands(TyperGroup):
    """The top-level group: commands loaded by name, on use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return ["daemon", *NOUNS, *(name for name in TOP_LEVEL if name != "daemon")]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in NOUNS and cmd_name not in TOP_LEVEL:
            return None
        return load(cmd_name)

    @property
    def commands(self) -> MutableMapping[str, Any]:
        return {name: load(name) for name in self.list_commands(None)}

    @commands.setter
    def commands(self, value: MutableMapping[str, Any]) -> None:
        """TyperGroup's own (nothing is registered on the app itself)."""


app = typer.Typer(
    cls=LazyCommands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="swarmpy: a Docker-Swarm-style container orchestrator.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def global_options(
    host: str = typer.Option(
        "",
        "-H",
        "--host",
        help="Daemon socket to connect to: unix:///path or tcp://host:port "
        "(default: $SWARMPY_HOST, else unix:///run/swarmpy/swarmpy.sock)",
        show_default=False,
    ),
    tls: bool = typer.Option(False, "--tls", help="Use TLS; implied by --tlsverify"),
    tlsverify: bool = typer.Option(
        False, "--tlsverify", help="Use TLS and verify the remote (also $SWARMPY_TLS_VERIFY)"
    ),
    tlscacert: str = typer.Option(
        "", "--tlscacert", help="Trust certs signed only by this CA ($SWARMPY_CERT_PATH/ca.pem)"
    ),
    tlscert: str = typer.Option(
        "", "--tlscert", help="Path to TLS certificate file ($SWARMPY_CERT_PATH/cert.pem)"
    ),
    tlskey: str = typer.Option(
        "", "--tlskey", help="Path to TLS key file ($SWARMPY_CERT_PATH/key.pem)"
    ),
    version: bool = typer.Option(
        False,
        "--version",
        "-v",
        is_eager=True,
        callback=lambda value: print_version() if value else None,
        help="Print version information and quit",
    ),
) -> None:
    from swarmpy.cli import engine

    engine.OPTIONS = engine.Options(host, tls, tlsverify, tlscacert, tlscert, tlskey)


def print_version() -> None:
    """docker --version ("Docker version 20.10.24, build 297e128"): the client's version in
    one line, no daemon asked. swarmpy knows no build commit (`swarmpy version` shows none
    either), so the line ends at the version."""
    typer.echo(f"swarmpy version {VERSION}")
    raise typer.Exit()


def check_argv(argv: list[str]) -> None:
    """Every argument must be text: Linux hands over bytes that are not UTF-8 as surrogates,
    which no gRPC request (nor a terminal) can carry."""
    for arg in argv:
        try:
            arg.encode()
        except UnicodeEncodeError:
            from swarmpy.errors import InvalidArgument

            raise InvalidArgument(f"invalid argument {arg!r}: not UTF-8 text") from None


def command_context(argv: list[str]) -> Any:
    """The context of the command ``argv`` names (parsed leniently, nothing run); None when
    even that fails."""
    from typer._click.exceptions import ClickException
    from typer._click.shell_completion import _resolve_context

    try:
        return _resolve_context(typer.main.get_command(app), {}, "swarmpy", argv)
    except (ClickException, LookupError):
        return None


def main() -> None:
    """The console script: ``run`` the command line, then ``end`` the process."""
    global _paused
    _paused = gc.isenabled()
    gc.disable()
    try:
        run()
        status: Any = 0
    except SystemExit as exc:
        status = exc.code
    resume_collector()  # when no command was loaded
    end(status)


def end(status: Any) -> None:
    """Exit with ``status`` (SystemExit's code) as ``sys.exit`` would, at once when nothing
    is left to do at exit: no atexit function (logging's flush, a temporary directory's
    removal), no other thread to wait for, the output flushed. What the interpreter's
    teardown would do then is free the memory of every module, a third of a bare start."""
    plain = status is None or (isinstance(status, int) and not isinstance(status, bool))
    if not plain or atexit._ncallbacks() or _other_threads():
        sys.exit(status)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: the interpreter's exit reports it as ever
        sys.exit(status)
    os._exit(status or 0)


def _other_threads() -> bool:
    threading = sys.modules.get("threading")
    return threading is not None and threading.active_count() > 1


def run() -> None:
    """The command line in ``sys.argv``, run; SystemExit with its status (the tests call
    this in-process)."""
    # The vendored click's exceptions (typer exports only some): usage errors exit 125.
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

    from swarmpy.errors import SwarmpyError

    if "_SWARMPY_COMPLETE" in os.environ:  # a shell asking for completions (cli/completion.py)
        from typer._completion_classes import completion_init

        completion_init()
    try:
        check_argv(sys.argv[1:])
        # Not standalone: click would exit 2 on a usage error; typer.Exit comes back as its code.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except NoArgsIsHelpError as exc:  # `swarmpy node`: its help, as `docker node`
        typer.echo(exc.format_message())
    except UsageError as exc:  # in docker's words and exit status (cli/usage.py)
        from swarmpy.cli import usage

        if exc.ctx is None:  # the parser's own errors come without the command's context
            exc.ctx = command_context(usage.offending_prefix(exc, sys.argv[1:]))
        text, status = usage.report(exc, sys.argv[1:])
        typer.echo(text, err=True)
        sys.exit(status)
    except ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("Aborted!", err=True)
        sys.exit(1)
    except SwarmpyError as exc:
        from swarmpy.cli.engine import error_line

        typer.echo(error_line(exc), err=True)
        sys.exit(1)


if _COLLECTING:
    gc.enable()
