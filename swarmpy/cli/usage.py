"""A command line the parser refused, reported in docker's CLI's words and exit status.

docker (cobra and pflag, wrapped by docker/cli's FlagErrorFunc and its Requires*Args checks)
prints, on stderr:

- a flag error, exit 125: ``unknown flag: --foo``, ``unknown shorthand flag: 'z' in -z``,
  ``flag needs an argument: --filter`` (``'f' in -f``), ``invalid argument "abc" for
  "--replicas" flag: why``; then ``See 'docker service ls --help'.`` (and, for a command with
  subcommands, a blank line and its usage);
- a wrong number of arguments, exit 1: ``"docker service create" requires at least 1
  argument.`` (``requires exactly``, ``accepts no arguments``, ``requires at most``), the same
  See line, a blank line, ``Usage:  docker service create [OPTIONS] IMAGE [COMMAND] [ARG...]``,
  a blank line, and the command's one-line description;
- an unknown command: ``docker: 'foo' is not a docker command.`` and ``See 'docker --help'``,
  exit 1; under a noun, the noun's help, exit 1.

``report(exc, argv)`` is that text and its exit status, for click's exceptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from typer._click.exceptions import (
    BadOptionUsage,
    BadParameter,
    MissingParameter,
    NoSuchOption,
    UsageError,
)

FLAG_EXIT = 125  # docker/cli's StatusError for a flag error
ARGS_EXIT = 1  # a Requires*Args error is a plain error


def _plural(n: int) -> str:
    return "argument" if n == 1 else "arguments"


def _arguments(command: Any) -> list[Any]:
    return [p for p in getattr(command, "params", []) if p.param_type_name == "argument"]


def use_line(ctx: Any) -> str:
    """docker's cmd.UseLine(): the command's path, [OPTIONS] when it has any, its arguments."""
    command = ctx.command
    parts = [ctx.command_path]
    options = [
        p
        for p in command.params
        if p.param_type_name == "option" and not getattr(p, "hidden", False)
    ]
    if options:
        parts.append("[OPTIONS]")
    for arg in _arguments(command):
        metavar = (arg.metavar or arg.name.upper()).strip("{}")
        if arg.nargs == -1 and "..." not in metavar:
            metavar += "..."
        if arg.required and metavar.endswith("...") and "[" not in metavar:
            # NODE... as docker writes it: NODE [NODE...] (self|NODE: self|NODE [NODE...])
            base = metavar[:-3]
            metavar = f"{base} [{base.split('|')[-1]}...]"
        if not arg.required and not metavar.startswith("["):
            metavar = f"[{metavar}]"
        parts.append(metavar)
    return " ".join(parts)


def short_help(command: Any) -> str:
    """docker's cmd.Short: the first line of the help, without its full stop."""
    text = (getattr(command, "short_help", None) or getattr(command, "help", None) or "").strip()
    return text.splitlines()[0].rstrip(".") if text else ""


def _count_error(ctx: Any, missing: bool) -> str:
    """docker's Requires*Args wording for this command's arguments."""
    args = _arguments(ctx.command)
    variadic = any(a.nargs == -1 for a in args)
    required = sum(1 for a in args if a.required)
    most = sum(max(a.nargs, 1) for a in args)
    path = ctx.command_path
    if not args:
        what = "accepts no arguments."
    elif missing and variadic:
        what = f"requires at least {required} {_plural(required)}."
    elif not variadic and required == most:
        what = f"requires exactly {required} {_plural(required)}."
    elif missing:
        what = f"requires at least {required} and at most {most} arguments."
    else:
        what = f"requires at most {most} {_plural(most)}."
    return (
        f"\"{path}\" {what}\nSee '{path} --help'.\n\n"
        f"Usage:  {use_line(ctx)}\n\n{short_help(ctx.command)}"
    )


# What Go's strconv.ParseBool reads.
GO_BOOLS = frozenset(
    {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}
)


def _option(ctx: Any, name: str) -> Any:
    for param in getattr(getattr(ctx, "command", None), "params", []):
        if name in getattr(param, "opts", ()):
            return param
    return None


def _flag_names(param: Any) -> str:
    """pflag's name of a flag in its errors: "-q, --quiet" or "--replicas"."""
    shorts = [o for o in param.opts if not o.startswith("--")]
    longs = [o for o in param.opts if o.startswith("--")]
    if shorts and longs:
        return f"{shorts[0]}, {longs[0]}"
    return str((longs or shorts or [param.name])[0])


def given_value(param: Any, argv: Sequence[str]) -> str | None:
    """The last value the command line gave the option ``param``: ``--x v``, ``--x=v``,
    ``-x v``, ``-xv``."""
    found = None
    for i, word in enumerate(argv):
        for opt in param.opts:
            if word == opt and i + 1 < len(argv):
                found = argv[i + 1]
            elif opt.startswith("--") and word.startswith(opt + "="):
                found = word[len(opt) + 1 :]
            elif not opt.startswith("--") and word.startswith(opt) and len(word) > len(opt):
                found = word[len(opt) :].removeprefix("=")
    return found


def _flag_error(exc: UsageError, argv: Sequence[str]) -> str | None:
    """pflag's words for a flag the parser refused, None when ``exc`` is no flag error."""
    if isinstance(exc, NoSuchOption):
        name = exc.option_name
        if name.startswith("--"):
            return f"unknown flag: {name.split('=', 1)[0]}"
        return f"unknown shorthand flag: {name[1:2]!r} in {name}"
    if isinstance(exc, BadOptionUsage) and "requires" in exc.message:
        name = exc.option_name
        where = name if name.startswith("--") else f"{name[1:2]!r} in {name}"
        return f"flag needs an argument: {where}"
    if isinstance(exc, BadOptionUsage) and "does not take a value" in exc.message:
        param = _option(exc.ctx, exc.option_name)
        value = given_value(param, argv) if param is not None else None
        if param is not None and value is not None:
            names = _flag_names(param)
            if value not in GO_BOOLS:
                why = f'strconv.ParseBool: parsing "{value}": invalid syntax'
            else:  # docker takes --quiet=true; ours are flags without a value
                why = "swarmpy takes this flag without a value"
            return f'invalid argument "{value}" for "{names}" flag: {why}'
    if isinstance(exc, BadParameter) and not isinstance(exc, MissingParameter):
        param = exc.param
        if param is None or param.param_type_name != "option":
            return None
        if exc.message.startswith("invalid argument "):  # already in pflag's words
            return exc.message
        value = given_value(param, argv)
        shown = f'"{value}" ' if value is not None else ""
        return f'invalid argument {shown}for "{_flag_names(param)}" flag: {exc.message}'
    if isinstance(exc, BadOptionUsage):
        return exc.message
    return None


def offending_prefix(exc: UsageError, argv: Sequence[str]) -> list[str]:
    """The words of ``argv`` before the option the parser refused (an error the parser raises
    without its context): the command they name is the one the error is about."""
    name = getattr(exc, "option_name", None)
    if not name:
        return list(argv)
    for i, word in enumerate(argv):
        if (
            word == name
            or word.startswith(name + "=")
            or (not name.startswith("--") and word.startswith(name))
        ):
            return list(argv[:i])
    return list(argv)


def help_text(ctx: Any) -> str:
    """A command's help as text: typer's rich help prints itself on stdout, docker's usage
    after an error goes to stderr with the error."""
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        returned: str = ctx.get_help()
    return (printed.getvalue() + returned).rstrip("\n")


def report(exc: UsageError, argv: Sequence[str]) -> tuple[str, int]:
    """(text for stderr, exit status) for a usage error, as docker's CLI. The error's context
    is the command it is about (main.py recovers it where the parser left it out)."""
    ctx = exc.ctx
    if ctx is None:
        return f"{exc.format_message()}", FLAG_EXIT
    path = ctx.command_path
    is_group = hasattr(ctx.command, "list_commands")
    flag = _flag_error(exc, argv)
    if flag is not None:
        text = f"{flag}\nSee '{path} --help'."
        if is_group:
            text += "\n\n" + help_text(ctx)
        return text, FLAG_EXIT
    message = exc.message
    if is_group and message.startswith("No such command"):
        if ctx.parent is None:
            name = message.split("'", 2)[1] if message.count("'") >= 2 else ""
            return f"{path}: '{name}' is not a {path} command.\nSee '{path} --help'", ARGS_EXIT
        return help_text(ctx), ARGS_EXIT
    if isinstance(exc, MissingParameter) and getattr(exc.param, "param_type_name", "") == (
        "argument"
    ):
        return _count_error(ctx, missing=True), ARGS_EXIT
    if message.startswith("Got unexpected extra argument"):
        return _count_error(ctx, missing=False), ARGS_EXIT
    return f"{exc.format_message()}\nSee '{path} --help'.", FLAG_EXIT
