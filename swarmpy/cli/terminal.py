"""The client's terminal while a container's or exec's TTY is attached (`run -it`, `exec
-it`, `attach`)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from swarmpy.cli import engine
from swarmpy.errors import SwarmpyError


def check_tty(attach_stdin: bool, tty: bool) -> None:
    """docker/cli's CheckTty: stdin for a container's or exec's TTY must be a terminal too
    (piped or redirected input cannot drive it); refused as docker's, the line as it is and
    exit 1, before anything is created."""
    if tty and attach_stdin and not sys.stdin.isatty():
        import typer

        typer.echo("the input device is not a TTY", err=True)
        raise typer.Exit(1)


@contextlib.contextmanager
def raw_terminal(api: engine.EngineClient, resize_path: str, raw: bool) -> Iterator[None]:
    """With ``raw`` on a terminal: ours passes every key through and the remote TTY gets our
    size (POSTed to ``resize_path``, a container's or an exec's), as docker's CLI does;
    restored on the way out."""
    if not raw or not sys.stdin.isatty():
        yield
        return
    import shutil
    import termios
    import tty as ttymod

    size = shutil.get_terminal_size()
    with contextlib.suppress(SwarmpyError):
        api.post(resize_path, h=size.lines, w=size.columns)
    saved = termios.tcgetattr(sys.stdin.fileno())
    ttymod.setraw(sys.stdin.fileno())
    try:
        yield
    finally:
        termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
