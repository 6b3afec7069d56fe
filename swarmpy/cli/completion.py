"""`swarmpy completion bash|zsh|fish`: the shell's completion script on stdout, as docker's
`completion` command prints it. Nothing is installed: ``source <(swarmpy completion bash)``
in the shell, or its output saved where the shell loads completions. The script asks
swarmpy itself for the candidates (typer's protocol, through ``_SWARMPY_COMPLETE``)."""

from __future__ import annotations

import enum

import typer

PROG_NAME = "swarmpy"
COMPLETE_VAR = "_SWARMPY_COMPLETE"


class Shell(enum.StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def script(shell: str) -> str:
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name=PROG_NAME, complete_var=COMPLETE_VAR, shell=shell)


def completion(shell: Shell = typer.Argument(..., metavar="bash|zsh|fish")) -> None:
    """Generate the autocompletion script for the specified shell."""
    typer.echo(script(shell.value))


def register(app: typer.Typer) -> None:
    app.command("completion")(completion)
