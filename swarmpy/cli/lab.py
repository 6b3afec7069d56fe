"""`swarmpy lab ...`: several hosts on this machine, each a network namespace, with a swarm
on them; ``lab demo`` walks a newcomer through the swarm journey on a fresh one."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType

import typer

from swarmpy.cli import output
from swarmpy.errors import SwarmpyError
from swarmpy.lab import DEFAULT_NAME

app = typer.Typer(no_args_is_help=True)

NAME_HELP = "Lab name (1-12 of a-z0-9); several labs can run side by side"
# `exec` hands everything after HOST to the command, options included.
POSITIONAL = {"allow_interspersed_args": False}


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    """A bug or an unexpected OS error still reaches the user as one line (main() prints
    SwarmpyError messages); by then ``up`` has already removed what it made."""
    try:
        yield
    except (SwarmpyError, typer.Exit, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        raise SwarmpyError(f"{type(exc).__name__}: {exc}") from exc


def _echo(line: str) -> None:
    typer.echo(line)


def _on_sigterm() -> None:
    """SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so a half-built lab is still removed.

    Only in this process: pyroute2 forks helpers into namespaces and stops them with SIGTERM;
    a forked copy that unwound instead would run our cleanup a second time."""
    main_pid = os.getpid()

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != main_pid:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


@app.command("up")
def up(
    hosts: int = typer.Option(3, "--hosts", help="Number of swarm hosts (node1..nodeN)"),
    managers: int = typer.Option(1, "--managers", help="How many of them are managers"),
    name: str = typer.Option(DEFAULT_NAME, "--name", help=NAME_HELP),
    mtu: int = typer.Option(
        1500, "--mtu", help="MTU of the underlay links (e.g. 9000 for jumbo frames)"
    ),
) -> None:
    """Create hosts, a registry, a daemon per host, and form a swarm.

    On a lab that exists, restart the daemons that stopped (or say it is already up).
    """
    from swarmpy.lab import manage

    _on_sigterm()
    try:
        with _one_line_errors():
            lab = manage.up(name, hosts, managers, _echo, mtu)
    except manage.AlreadyUp as exc:
        typer.echo(exc.message)
        return
    typer.echo(f"lab {lab.name} is up. Try:")
    typer.echo(f"    {_lab_cmd('exec', name)} node1 -- swarmpy node ls")
    typer.echo(f"    {_lab_cmd('status', name)}")
    typer.echo(f"    {_lab_cmd('down', name)}")


@app.command("down")
def down(name: str = typer.Option(DEFAULT_NAME, "--name", help=NAME_HELP)) -> None:
    """Remove every namespace, process, mount, cgroup and file of the lab."""
    from swarmpy.lab import manage

    with _one_line_errors():
        removed = manage.down(name)
    if removed:
        typer.echo(f"lab {name} removed")
    else:
        typer.echo(f"no lab named {name}")


@app.command("status")
def status(name: str = typer.Option(DEFAULT_NAME, "--name", help=NAME_HELP)) -> None:
    """Hosts, their addresses, daemons and swarm roles."""
    from swarmpy.lab import manage

    with _one_line_errors():
        rows = manage.status(name)
    output.print_table(
        [("HOST", "host"), ("ADDRESS", "address"), ("DAEMON", "daemon"), ("ROLE", "role")],
        [vars(row) for row in rows],
    )


@app.command("exec", context_settings=POSITIONAL)
def exec_(
    host: str = typer.Argument(..., metavar="HOST"),
    cmd: list[str] = typer.Argument(..., metavar="CMD [ARG...]"),
    name: str = typer.Option(DEFAULT_NAME, "--name", help=NAME_HELP),
) -> None:
    """Run CMD inside HOST (its network and hostname) against HOST's daemon, e.g.
    `swarmpy lab exec node2 -- swarmpy node ls`."""
    from swarmpy.lab import manage

    # Click keeps a "--" that follows HOST once it stops parsing options.
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    raise typer.Exit(manage.exec_in(name, host, cmd))


@app.command("demo")
def demo(
    keep: bool = typer.Option(False, "--keep", help="Leave the lab running afterwards"),
    name: str = typer.Option(DEFAULT_NAME, "--name", help=NAME_HELP),
) -> None:
    """On a fresh 2-host lab: init, join, overlay network, a service, DNS and VIP, failover."""
    from swarmpy.lab.demo import run_demo

    _on_sigterm()
    with _one_line_errors():
        passed = run_demo(name, keep=keep, echo=_echo)
    if not passed:
        raise typer.Exit(1)


def _lab_cmd(sub: str, name: str) -> str:
    from swarmpy.lab.hosts import swarmpy_executable

    base = f"{swarmpy_executable().name} lab {sub}"
    return base if name == DEFAULT_NAME else f"{base} --name {name}"
