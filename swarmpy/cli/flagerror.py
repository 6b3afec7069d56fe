"""A bad flag value, reported as docker's CLI reports one (its FlagErrorFunc): the parser's
words, then "See '<command> --help'.", exit status 125.

Values such as ``-p 99999`` are checked after click parsed the command line (by the same
pure functions the spec is built with), so their errors are InvalidArgument; ``flag_errors``
turns those in docker's flag-error wording into a usage error, which the CLI's entry point
exits 125 with.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import typer
from typer._click.exceptions import UsageError

from swarmpy.errors import InvalidArgument

# pflag's words for a value it cannot take: invalid argument "<value>" for "<flag>" flag: why.
_FLAG_ERROR = re.compile(r'invalid argument ".*" for "[^"]+" flag: ', re.DOTALL)


class FlagError(UsageError):
    """A usage error shown as docker's: the message, then where the help is."""

    def show(self, file: IO[Any] | None = None) -> None:
        path = self.ctx.command_path if self.ctx is not None else "swarmpy"
        typer.echo(f"{self.message}\nSee '{path} --help'.", err=True)


@contextmanager
def flag_errors() -> Iterator[None]:
    """Within: an InvalidArgument in docker's flag-error words becomes a FlagError."""
    try:
        yield
    except InvalidArgument as exc:
        if exc.remote or not _FLAG_ERROR.match(exc.message):
            raise
        raise FlagError(exc.message) from None
